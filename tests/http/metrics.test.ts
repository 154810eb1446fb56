// GET /metrics: the text exposition format, read by a real parser (the Prometheus Python
// client's, from Debian's python3-prometheus-client: parse-metrics.py) and checked line by line
// against the format's rules
// (names, labels, escaping, one HELP/TYPE per family before its samples, families contiguous,
// cumulative histogram buckets ending in +Inf = _count); and the figures say what happened:
// pushes, completions, failures, wait and processing histograms, HTTP request counts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { metricsQueuesMax } from "../../src/constants.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { call, SseReader, startHttp, type HttpServer } from "./helpers.ts";

interface Family {
  name: string;
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number | string }[];
}

/** The Prometheus client's parser over the text (Debian's python3, where the module lives). */
async function parsePrometheus(text: string): Promise<Family[]> {
  const p = Bun.spawn(["/usr/bin/python3", join(import.meta.dir, "parse-metrics.py")], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`the Prometheus parser refused the metrics: ${err}`);
  return JSON.parse(out);
}

let s: HttpServer;
beforeAll(async () => {
  s = await startHttp();
});
afterAll(async () => {
  await s.stop();
});

const nameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const valueRe = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$/;

/** The format's rules, line by line; returns the problems found. */
function lint(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const finished = new Set<string>();
  let current = "";
  const familyOf = (sample: string): string => {
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      const base = sample.slice(0, -suffix.length);
      if (sample.endsWith(suffix) && types.get(base) === "histogram") return base;
    }
    return sample;
  };
  const buckets = new Map<string, { le: number; v: number }[]>();
  const counts = new Map<string, number>();
  if (!text.endsWith("\n")) problems.push("does not end with a newline");
  for (const [i, line] of text.split("\n").entries()) {
    if (line === "") continue;
    const at = `line ${i + 1}: ${line.slice(0, 120)}`;
    let m;
    if ((m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line))) {
      const [, kind, name, rest] = m;
      if (!nameRe.test(name!)) problems.push(`${at}: bad metric name`);
      if (kind === "TYPE") {
        if (types.has(name!)) problems.push(`${at}: second TYPE`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest!)) problems.push(`${at}: bad type`);
        types.set(name!, rest!);
      } else {
        if (helped.has(name!)) problems.push(`${at}: second HELP`);
        helped.add(name!);
      }
      if (current !== name) {
        if (current !== "") finished.add(current);
        current = name!;
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) {
      problems.push(`${at}: not a sample line`);
      continue;
    }
    const [, sample, , labelText, value] = m;
    const family = familyOf(sample!);
    if (!types.has(family)) problems.push(`${at}: sample before its TYPE`);
    if (family !== current) {
      if (finished.has(family)) problems.push(`${at}: family ${family} is not contiguous`);
      finished.add(current);
      current = family;
    }
    if (!valueRe.test(value!)) problems.push(`${at}: bad value`);
    const labels: Record<string, string> = {};
    if (labelText !== undefined) {
      const lre = /([^=,]+)="((?:[^"\\]|\\[\\"n])*)"(,|$)/g;
      let consumed = 0;
      let lm;
      while ((lm = lre.exec(labelText)) !== null) {
        if (!labelRe.test(lm[1]!)) problems.push(`${at}: bad label name ${lm[1]}`);
        if (lm[1]! in labels) problems.push(`${at}: label ${lm[1]} twice`);
        labels[lm[1]!] = lm[2]!;
        consumed = lre.lastIndex;
      }
      if (consumed !== labelText.length) problems.push(`${at}: bad label set`);
    }
    if (types.get(family) === "counter" && !sample!.endsWith("_total")) problems.push(`${at}: counter without _total`);
    if (types.get(family) === "histogram") {
      const { le, ...rest } = labels;
      const key = `${family}${JSON.stringify(rest)}`;
      if (sample!.endsWith("_bucket")) {
        if (le === undefined) problems.push(`${at}: bucket without le`);
        const list = buckets.get(key) ?? [];
        list.push({ le: le === "+Inf" ? Infinity : Number(le), v: Number(value) });
        buckets.set(key, list);
      } else if (sample!.endsWith("_count")) counts.set(key, Number(value));
    }
  }
  for (const [key, list] of buckets) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i]!.le > list[i - 1]!.le)) problems.push(`${key}: le not increasing`);
      if (list[i]!.v < list[i - 1]!.v) problems.push(`${key}: buckets not cumulative`);
    }
    const last = list[list.length - 1]!;
    if (last.le !== Infinity) problems.push(`${key}: no +Inf bucket`);
    if (counts.get(key) !== last.v) problems.push(`${key}: +Inf bucket ${last.v} != _count ${counts.get(key)}`);
  }
  return problems;
}

async function scrape(): Promise<{ text: string; families: Map<string, Family> }> {
  const r = await fetch(`${s.base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  const text = await r.text();
  expect(lint(text)).toEqual([]);
  const families = new Map((await parsePrometheus(text)).map((f) => [f.name, f]));
  return { text, families };
}

/** A sample's value; `name` is the family, `sample` the sample's own name when it differs
 *  (the parser drops a counter's _total from the family name, and histograms have suffixes). */
function value(f: Map<string, Family>, name: string, labels: Record<string, string> = {}, sample = name): number {
  const fam = f.get(name.replace(/_total$/, ""));
  if (fam === undefined) throw new Error(`no family ${name}`);
  const m = fam.samples.find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (m === undefined) throw new Error(`no ${sample}${JSON.stringify(labels)}`);
  return Number(m.value);
}

describe("/metrics", () => {
  test("parses, passes the format's rules, and counts what happened", async () => {
    const c = await RawClient.connect(s.tcpPort);
    const q = "metrics-q";
    const ids = (await c.call({ cmd: "PUSHB", queue: q, jobs: [{ data: 1 }, { data: 2 }, { data: 3, max_attempts: 1 }, { data: 4, delay: 60_000 }] })).ids;
    await Bun.sleep(30);
    const got = (await c.call({ cmd: "PULLB", queue: q, count: 3, timeout: 0 })).jobs;
    expect(got).toHaveLength(3);
    await Bun.sleep(20);
    await c.call({ cmd: "ACK", id: ids[0] });
    await c.call({ cmd: "ACK", id: ids[1] });
    await c.call({ cmd: "FAIL", id: ids[2], error: "x" });
    await c.call({ cmd: "PAUSE", queue: q });
    await call(s.base, "GET", "/queues");
    await call(s.base, "GET", "/jobs/999999");

    const { families: f } = await scrape();
    expect(value(f, "ringq_jobs_pushed_total", { queue: q })).toBe(4);
    expect(value(f, "ringq_jobs_completed_total", { queue: q })).toBe(2);
    expect(value(f, "ringq_jobs_failed_total", { queue: q })).toBe(1);
    expect(value(f, "ringq_queue_jobs", { queue: q, state: "delayed" })).toBe(1);
    expect(value(f, "ringq_queue_jobs", { queue: q, state: "completed" })).toBe(2);
    expect(value(f, "ringq_queue_jobs", { queue: q, state: "failed" })).toBe(1);
    expect(value(f, "ringq_queue_paused", { queue: q })).toBe(1);
    expect(f.get("ringq_queue_jobs")!.type).toBe("gauge");
    expect(f.get("ringq_jobs_pushed")!.type).toBe("counter");

    const wait = "ringq_job_wait_seconds";
    expect(f.get(wait)!.type).toBe("histogram");
    expect(value(f, wait, { queue: q }, `${wait}_count`)).toBe(3);
    // Each waited at least the 30 ms slept before the PULLB: none in the 1, 5 or 10 ms buckets.
    expect(value(f, wait, { queue: q, le: "0.01" }, `${wait}_bucket`)).toBe(0);
    expect(value(f, wait, { queue: q, le: "+Inf" }, `${wait}_bucket`)).toBe(3);
    expect(value(f, wait, { queue: q }, `${wait}_sum`)).toBeGreaterThanOrEqual(0.09);
    const proc = "ringq_job_processing_seconds";
    expect(value(f, proc, { queue: q }, `${proc}_count`)).toBe(2);
    expect(value(f, proc, { queue: q }, `${proc}_sum`)).toBeGreaterThanOrEqual(0.04);

    expect(value(f, "ringq_http_requests_total", { method: "GET", route: "/queues", status: "200" })).toBe(1);
    expect(value(f, "ringq_http_requests_total", { method: "GET", route: "/jobs/:id", status: "404" })).toBe(1);
    expect(value(f, "ringq_io_connections")).toBeGreaterThanOrEqual(1);
    expect(value(f, "ringq_io_loop_turns_total")).toBeGreaterThan(0);
    expect(value(f, "process_resident_memory_bytes")).toBeGreaterThan(1e6);
    expect(value(f, "process_open_fds")).toBeGreaterThan(3);
    expect(f.get("ringq_info")!.samples[0]!.labels).toMatchObject({ io_backend: "bun", storage: "memory" });
    c.close();
  });

  test("the payload gauges follow the jobs' data: pushed bytes in, removed ones out", async () => {
    const c = await RawClient.connect(s.tcpPort);
    const q = "metrics-payloads";
    const before = value((await scrape()).families, "ringq_payload_bytes");
    // 300 "x"s are 303 MessagePack bytes (str16: 0xda, two length bytes, the 300).
    const data = "x".repeat(300);
    const { ids } = await c.call({ cmd: "PUSHB", queue: q, jobs: Array.from({ length: 100 }, () => ({ data, remove_on_complete: true })) });
    const { families: f } = await scrape();
    expect(value(f, "ringq_payload_bytes") - before).toBe(100 * (8 + 303));
    expect(value(f, "ringq_payload_slab_bytes")).toBeGreaterThanOrEqual(value(f, "ringq_payload_bytes"));
    expect(Number.isInteger(value(f, "ringq_payload_compactions_total"))).toBe(true); // exposed
    await c.call({ cmd: "PULLB", queue: q, count: 100, timeout: 0 });
    await c.call({ cmd: "ACKB", ids });
    expect(value((await scrape()).families, "ringq_payload_bytes")).toBe(before);
    c.close();
  });

  test("event streams and their drops are counted", async () => {
    const r = await SseReader.open(`${s.base}/events/metrics-sse`);
    await call(s.base, "POST", "/queues/metrics-sse/jobs", { data: 1 });
    await r.next();
    const { families: f } = await scrape();
    expect(value(f, "ringq_http_event_streams", { kind: "sse" })).toBe(1);
    expect(value(f, "ringq_http_events_sent_total")).toBeGreaterThanOrEqual(1);
    r.close();
  });

  test(`queues past the ${metricsQueuesMax} busiest are summed under queue="_other", so a scrape stays bounded`, async () => {
    const c = await RawClient.connect(s.tcpPort);
    const n = metricsQueuesMax + 20;
    for (let i = 0; i < n; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => c.call({ cmd: "PUSH", queue: `many-${i + k}`, data: 1 })));
    }
    const { families: f } = await scrape();
    const queues = new Set(f.get("ringq_queue_paused")!.samples.map((m) => m.labels.queue));
    expect(queues.size).toBe(metricsQueuesMax + 1);
    expect(queues.has("_other")).toBe(true);
    const summed = value(f, "ringq_metrics_queues_summed");
    expect(summed).toBeGreaterThanOrEqual(20);
    expect(value(f, "ringq_queue_jobs", { queue: "_other", state: "waiting" })).toBeGreaterThanOrEqual(summed - 5);
    c.close();
  });
});

describe("the checks themselves", () => {
  test("the line checker finds what breaks the format, and the parser refuses a malformed line", async () => {
    const bad = [
      "# TYPE a gauge", "a 1", "# TYPE b counter", "b 2", "a 3",
      "# TYPE h histogram", 'h_bucket{le="1"} 5', 'h_bucket{le="2"} 4', "h_count 4",
      'c{x="1",x="2"} 1', "d{1x=\"y\"} nope",
    ].join("\n") + "\n";
    const problems = lint(bad).join("\n");
    for (const p of ["not contiguous", "counter without _total", "not cumulative", "no +Inf bucket", "label x twice", "bad value", "sample before its TYPE"]) {
      expect(problems).toContain(p);
    }
    await expect(parsePrometheus('m{a="b" 1\n')).rejects.toThrow("refused");
  });
});
