// Throughput from the stats stream: each snapshot carries every shown queue's counters (pushed,
// completed, failed); the rate is the growth between two snapshots over the time between them,
// per queue (a queue that appears or vanishes adds nothing). A uPlot line chart of the last five
// minutes, for all queues or one.

import uPlot from "/ui/vendor/uPlot.esm.js";

const keep = 300; // points: five minutes at one snapshot a second

export class Rates {
  constructor(queue = null) {
    this.queue = queue;
    this.last = null;
    this.t = [];
    this.pushed = [];
    this.completed = [];
    this.failed = [];
    this.now = { pushed: 0, completed: 0, failed: 0 };
  }

  /** Takes a snapshot; returns the rates per second since the previous one (or null). */
  add(snapshot) {
    const rows = new Map(snapshot.queues.filter((q) => this.queue === null || q.name === this.queue).map((q) => [q.name, q.totals]));
    const prev = this.last;
    this.last = { ts: snapshot.ts, rows };
    if (prev === null) return null;
    const dt = (snapshot.ts - prev.ts) / 1000;
    if (!(dt > 0)) return null;
    const rate = { pushed: 0, completed: 0, failed: 0 };
    for (const [name, t] of rows) {
      const p = prev.rows.get(name);
      if (p === undefined) continue;
      for (const k of Object.keys(rate)) rate[k] += Math.max(0, t[k] - p[k]) / dt;
    }
    this.now = rate;
    this.t.push(snapshot.ts / 1000);
    this.pushed.push(rate.pushed);
    this.completed.push(rate.completed);
    this.failed.push(rate.failed);
    if (this.t.length > keep) for (const a of [this.t, this.pushed, this.completed, this.failed]) a.shift();
    return rate;
  }

  get data() {
    return [this.t, this.pushed, this.completed, this.failed];
  }
}

/** A throughput chart in `el`, redrawn from `rates` by update(). */
export class ThroughputChart {
  constructor(el, rates) {
    this.rates = rates;
    const width = Math.max(320, el.clientWidth || 800);
    this.plot = new uPlot(
      {
        width,
        height: 200,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{ stroke: "#8b93a7", grid: { stroke: "#eef0f4" } }, { stroke: "#8b93a7", grid: { stroke: "#eef0f4" }, label: "jobs/s", size: 60 }],
        series: [
          {},
          { label: "pushed/s", stroke: "#2b5fb4", width: 2, points: { show: false }, value: (_u, v) => (v == null ? "-" : v.toFixed(1)) },
          { label: "completed/s", stroke: "#2d7d46", width: 2, points: { show: false }, value: (_u, v) => (v == null ? "-" : v.toFixed(1)) },
          { label: "failed/s", stroke: "#b3261e", width: 2, points: { show: false }, value: (_u, v) => (v == null ? "-" : v.toFixed(1)) },
        ],
      },
      rates.data,
      el,
    );
    this.resize = () => this.plot.setSize({ width: Math.max(320, el.clientWidth), height: 200 });
    window.addEventListener("resize", this.resize);
  }

  update() {
    this.plot.setData(this.rates.data);
  }

  destroy() {
    window.removeEventListener("resize", this.resize);
    this.plot.destroy();
  }
}
