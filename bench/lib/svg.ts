// Writes the bench chart as a standalone SVG: one row per scenario metric, one bar per I/O
// backend side by side, each row scaled to its own maximum (the units differ between rows), with
// the target drawn as a dashed mark. A missing figure is written as "n/a (reason)".
// No dependency and no layout engine: fixed geometry, text measured by character count.

export interface ChartBar {
  /** Series name, e.g. "bun" or "io_uring". */
  series: string;
  /** null: not measured (the reason is shown instead). */
  value: number | null;
  /** Text printed at the end of the bar, e.g. "312k jobs/s". */
  label: string;
  reason?: string;
}

export interface ChartRow {
  title: string;
  /** "higher" (throughput) or "lower" (latency, memory, CPU) is better. */
  better: "higher" | "lower";
  target?: { value: number; label: string };
  bars: ChartBar[];
}

export interface Chart {
  title: string;
  subtitle: string;
  rows: ChartRow[];
}

const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
/** Legend entries per line (the legend wraps below the title). */
const legendPerLine = 4;
const legendEntryWidth = 150;
const width = 960;
const labelWidth = 340;
const barAreaWidth = 440;
const barHeight = 16;
const barGap = 4;
const rowGap = 14;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function renderChart(chart: Chart): string {
  const series = [...new Set(chart.rows.flatMap((r) => r.bars.map((b) => b.series)))];
  const color = (s: string) => palette[series.indexOf(s) % palette.length]!;
  const out: string[] = [];
  const legendLines = Math.max(1, Math.ceil(series.length / legendPerLine));
  let y = 70 + (legendLines - 1) * 18;
  const body: string[] = [];
  for (const row of chart.rows) {
    const values = row.bars.map((b) => b.value ?? 0);
    const max = Math.max(...values, row.target?.value ?? 0, 1e-12);
    const scale = barAreaWidth / max;
    const rowHeight = row.bars.length * (barHeight + barGap) - barGap;
    body.push(
      `<text x="${labelWidth - 10}" y="${y + rowHeight / 2 - 2}" text-anchor="end" class="t">${esc(row.title)}</text>`,
      `<text x="${labelWidth - 10}" y="${y + rowHeight / 2 + 11}" text-anchor="end" class="s">${row.better} is better</text>`,
    );
    row.bars.forEach((b, i) => {
      const by = y + i * (barHeight + barGap);
      if (b.value === null) {
        body.push(`<text x="${labelWidth + 4}" y="${by + barHeight - 4}" class="na">${esc(b.series)}: n/a${b.reason ? ` (${esc(b.reason.slice(0, 70))})` : ""}</text>`);
        return;
      }
      const w = Math.max(1, b.value * scale);
      body.push(
        `<rect x="${labelWidth}" y="${by}" width="${w.toFixed(1)}" height="${barHeight}" fill="${color(b.series)}"><title>${esc(b.series)}: ${esc(b.label)}</title></rect>`,
        `<text x="${labelWidth + w + 5}" y="${by + barHeight - 4}" class="v">${esc(b.label)}</text>`,
      );
    });
    if (row.target !== undefined) {
      const tx = labelWidth + row.target.value * scale;
      body.push(
        `<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${y - 3}" y2="${y + rowHeight + 3}" stroke="#333" stroke-dasharray="3,2"/>`,
        `<text x="${(tx + 3).toFixed(1)}" y="${y - 4}" class="s">target ${esc(row.target.label)}</text>`,
      );
    }
    y += rowHeight + rowGap + 10;
  }
  const height = y + 30;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<style>.t{font-size:12px;fill:#222}.s{font-size:10px;fill:#666}.v{font-size:11px;fill:#222}.na{font-size:11px;fill:#a00}.h{font-size:16px;font-weight:bold}</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="24" class="h">${esc(chart.title)}</text>`,
    `<text x="12" y="42" class="s">${esc(chart.subtitle)}</text>`,
  );
  series.forEach((s, i) => {
    const lx = labelWidth + (i % legendPerLine) * legendEntryWidth;
    const ly = 50 + Math.floor(i / legendPerLine) * 18;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color(s)}"/>`, `<text x="${lx + 16}" y="${ly + 10}" class="t">${esc(s)}</text>`);
  });
  out.push(...body, `<text x="12" y="${height - 10}" class="s">Each row is scaled to its own maximum; dashed line = target from the issue.</text>`, `</svg>`);
  return out.join("\n") + "\n";
}
