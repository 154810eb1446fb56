// The Prometheus text exposition format (version 0.0.4), written by hand: a family's HELP and
// TYPE once, then its samples; label values escaped; histograms as cumulative buckets with
// +Inf, _sum and _count. Small enough that a client library would add more than it saves.

import { Histogram, timingBucketsMs } from "./timings.ts";

export type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Labels | undefined, extra?: [string, string]): string {
  const parts: string[] = [];
  if (labels !== undefined) for (const k in labels) parts.push(`${k}="${escapeLabel(labels[k]!)}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

const bucketLe = timingBucketsMs.map((ms) => String(ms / 1000));

export class Exposition {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();
  private current = "";

  /** Samples of one family must be contiguous: writing to an earlier family is a bug. */
  private family(name: string, type: "gauge" | "counter" | "histogram", help: string): void {
    if (name === this.current) return;
    if (this.declared.has(name)) throw new Error(`metric family ${name} written in two places`);
    this.declared.add(name);
    this.current = name;
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }

  gauge(name: string, help: string, value: number, labels?: Labels): void {
    this.family(name, "gauge", help);
    this.lines.push(`${name}${labelText(labels)} ${num(value)}`);
  }

  counter(name: string, help: string, value: number, labels?: Labels): void {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    this.family(name, "counter", help);
    this.lines.push(`${name}${labelText(labels)} ${num(value)}`);
  }

  /** A histogram of milliseconds, rendered in seconds. */
  histogram(name: string, help: string, h: Histogram, labels?: Labels): void {
    this.family(name, "histogram", help);
    let cumulative = 0;
    for (let i = 0; i < bucketLe.length; i++) {
      cumulative += h.counts[i]!;
      this.lines.push(`${name}_bucket${labelText(labels, ["le", bucketLe[i]!])} ${cumulative}`);
    }
    this.lines.push(`${name}_bucket${labelText(labels, ["le", "+Inf"])} ${h.count}`);
    this.lines.push(`${name}_sum${labelText(labels)} ${num(h.sumMs / 1000)}`);
    this.lines.push(`${name}_count${labelText(labels)} ${h.count}`);
  }

  /** A family with no sample yet still says what it is (so dashboards can be built early). */
  declare(name: string, type: "gauge" | "counter" | "histogram", help: string): void {
    this.family(name, type, help);
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}
