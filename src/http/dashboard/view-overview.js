// The queues overview: totals, the throughput chart and one row per queue, all updated by the
// stats stream (counts as they are, rates from the counters), with pause/resume per queue.

import { ThroughputChart, Rates } from "/ui/charts.js";
import { clear, fmtNumber, fmtRate, h } from "/ui/dom.js";

const cards = [
  ["queued", "Waiting"],
  ["processing", "Active"],
  ["delayed", "Delayed"],
  ["dlq", "Failed (DLQ)"],
  ["completed", "Completed"],
];

export function renderOverview(main, _route, ctx) {
  const totals = h("div", { class: "cards" });
  const chartEl = h("div", { class: "chart", id: "throughput" });
  const rows = h("tbody", { id: "queue-rows" });
  const note = h("p", { class: "muted" });
  const search = h("input", { type: "search", placeholder: "job id or custom id", id: "job-search", "aria-label": "find a job" });
  const find = h("form", { class: "find", onsubmit: (e) => (e.preventDefault(), findJob(search.value.trim(), ctx)) }, search, h("button", { type: "submit" }, "Find job"));
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Queues"), find),
    totals,
    h("section", { class: "panel" }, h("h2", {}, "Throughput, all queues"), chartEl),
    h("section", { class: "panel" },
      h("table", { class: "grid", id: "queues" },
        h("thead", {}, h("tr", {}, ["Queue", "Waiting", "Active", "Delayed", "Failed", "Completed", "In/s", "Done/s", ""].map((t) => h("th", {}, t)))),
        rows),
      note),
  );
  const chart = new ThroughputChart(chartEl, ctx.rates);
  /** Per-queue rates and table rows, kept across snapshots. */
  const perQueue = new Map();
  const rowsByName = new Map();
  const off = ctx.onSnapshot((snap) => {
    clear(totals, cards.map(([k, label]) => h("div", { class: `card ${k}`, "data-total": k }, h("div", { class: "n" }, fmtNumber(snap.totals[k])), h("div", { class: "label" }, label))));
    for (const q of snap.queues) {
      let r = perQueue.get(q.name);
      if (r === undefined) perQueue.set(q.name, (r = new Rates(q.name)));
      r.add(snap);
    }
    // Rows are kept and updated in place (a click must not land on a row being replaced).
    const seen = new Set();
    for (const q of snap.queues) {
      seen.add(q.name);
      let row = rowsByName.get(q.name);
      if (row === undefined) rowsByName.set(q.name, (row = new QueueRow(q.name, ctx)));
      row.update(q, perQueue.get(q.name).now);
    }
    for (const [name, row] of rowsByName) if (!seen.has(name)) (row.tr.remove(), rowsByName.delete(name));
    const order = snap.queues.map((q) => rowsByName.get(q.name).tr);
    if (order.some((tr, i) => rows.children[i] !== tr) || rows.children.length !== order.length) clear(rows, order);
    if (snap.queues.length === 0) rows.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No queues yet: push a job and it appears here.")));
    note.textContent = snap.truncated ? `Showing the ${snap.queues.length} busiest of ${fmtNumber(snap.queues_total)} queues.` : "";
    chart.update();
  });
  return () => {
    off();
    chart.destroy();
  };
}

const states = ["waiting", "active", "delayed", "failed", "completed"];

/** One queue's row, built once and updated from each snapshot. */
class QueueRow {
  constructor(name, ctx) {
    const link = `#/queue/${encodeURIComponent(name)}`;
    this.paused = false;
    this.badge = h("span", { class: "badge paused", hidden: true }, "paused");
    this.counts = Object.fromEntries(states.map((s) => [s, h("a", { href: `${link}?state=${s}` }, "-")]));
    this.inRate = h("td", { class: "num" });
    this.doneRate = h("td", { class: "num" });
    this.toggle = h("button", {
      class: "pause-toggle",
      onclick: () => {
        const verb = this.paused ? "resume" : "pause";
        ctx.act("POST", `/queues/${encodeURIComponent(name)}/${verb}`, undefined, `${verb === "pause" ? "Paused" : "Resumed"} ${name}`);
      },
    }, "Pause");
    this.tr = h("tr", { "data-queue": name },
      h("td", {}, h("a", { href: link, class: "qname" }, name), " ", this.badge),
      states.map((s) => h("td", { class: "num", "data-count": s }, this.counts[s])),
      this.inRate, this.doneRate, h("td", { class: "actions" }, this.toggle));
  }

  update(q, rate) {
    for (const s of states) this.counts[s].textContent = fmtNumber(q[s]);
    this.inRate.textContent = fmtRate(rate.pushed);
    this.doneRate.textContent = fmtRate(rate.completed);
    this.paused = q.paused;
    this.badge.hidden = !q.paused;
    this.toggle.textContent = q.paused ? "Resume" : "Pause";
  }
}

/** A number is a job id, anything else a custom id (job_id). */
export async function findJob(text, ctx) {
  if (text === "") return;
  if (/^\d+$/.test(text)) return ctx.navigate(`#/job/${text}`);
  const r = await ctx.act("GET", `/jobs/custom/${encodeURIComponent(text)}`);
  if (r?.ok) ctx.navigate(`#/job/${r.job.id}`);
}
