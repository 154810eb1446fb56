// One queue: live counts and throughput (stats stream), its jobs per state in pages of 50 with
// per-job actions, queue actions (pause/resume, drain, retry or purge the DLQ, clean completed),
// and a refresh of the page on the queue's own job events (SSE /events/<queue>), not polling.

import { api, stream } from "/ui/api.js";
import { Rates, ThroughputChart } from "/ui/charts.js";
import { clear, fmtNumber, fmtTime, h, preview } from "/ui/dom.js";
import { findJob } from "/ui/view-overview.js";
import { jobActions } from "/ui/view-job.js";

const tabs = ["waiting", "active", "delayed", "failed", "completed", "waitingchildren", "waitingparent"];
const pageSize = 50;

export async function renderQueue(main, route, ctx) {
  const name = route.match[0];
  const state = tabs.includes(route.params.get("state")) ? route.params.get("state") : "waiting";
  const page = Math.max(0, Number(route.params.get("page") ?? 0) | 0);
  const q = encodeURIComponent(name);
  const here = (s, p = 0) => `#/queue/${q}?state=${s}${p > 0 ? `&page=${p}` : ""}`;

  const counts = h("div", { class: "cards small" });
  const pauseButton = h("button", { id: "queue-pause" }, "Pause");
  let paused = false;
  pauseButton.addEventListener("click", () => ctx.act("POST", `/queues/${q}/${paused ? "resume" : "pause"}`, undefined, paused ? `Resumed ${name}` : `Paused ${name}`));
  const confirmThen = (question, f) => () => {
    if (confirm(question)) f();
  };
  const actions = h("div", { class: "toolbar" },
    pauseButton,
    h("button", { id: "queue-drain", onclick: confirmThen(`Remove every waiting and delayed job of ${name}?`, () => ctx.act("POST", `/queues/${q}/drain`, undefined, (r) => `Drained ${r.count} jobs`)) }, "Drain"),
    h("button", { id: "queue-retry-dlq", onclick: () => ctx.act("POST", `/queues/${q}/dlq/retry`, {}, (r) => `${r.count} failed jobs back to waiting`) }, "Retry all failed"),
    h("button", { id: "queue-purge-dlq", onclick: confirmThen(`Delete every failed job of ${name}?`, () => ctx.act("DELETE", `/queues/${q}/dlq`, undefined, (r) => `Purged ${r.count} failed jobs`)) }, "Purge failed"),
    h("button", { id: "queue-clean", onclick: () => ctx.act("POST", `/queues/${q}/clean`, { grace: 0, state: "completed" }, (r) => `Cleaned ${r.count} completed jobs`) }, "Clean completed"),
  );
  const search = h("input", { type: "search", placeholder: "job id or custom id", "aria-label": "find a job" });
  const tabBar = h("div", { class: "tabs" }, tabs.map((t) => h("a", { href: here(t), class: t === state ? "active" : "", "data-tab": t }, t, " ", h("span", { class: "count", "data-tab-count": t }))));
  const rows = h("tbody", { id: "job-rows" });
  const pager = h("div", { class: "pager" });
  const chartEl = h("div", { class: "chart" });
  main.append(
    h("div", { class: "title" }, h("h1", {}, h("a", { href: "#/" }, "Queues"), " / ", name, " ", h("span", { class: "badge paused", id: "queue-paused", hidden: true }, "paused")),
      h("form", { class: "find", onsubmit: (e) => (e.preventDefault(), findJob(search.value.trim(), ctx)) }, search, h("button", { type: "submit" }, "Find job"))),
    counts,
    actions,
    h("section", { class: "panel" }, h("h2", {}, "Throughput"), chartEl),
    h("section", { class: "panel" }, tabBar,
      h("table", { class: "grid", id: "jobs" }, h("thead", {}, h("tr", {}, ["Id", "Name", "Data", "Attempts", "Progress", state === "failed" ? "Failure" : "Created", ""].map((t) => h("th", {}, t)))), rows),
      pager),
  );

  const rates = new Rates(name);
  const chart = new ThroughputChart(chartEl, rates);
  /** Counts and the paused flag, from a snapshot row or from GET counts + paused. */
  function showCounts(c, isPaused) {
    paused = isPaused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    main.querySelector("#queue-paused").hidden = !paused;
    clear(counts, ["waiting", "active", "delayed", "failed", "completed"].map((k) => h("div", { class: `card ${k}`, "data-queue-count": k }, h("div", { class: "n" }, fmtNumber(c[k])), h("div", { class: "label" }, k))));
    for (const k of ["waiting", "active", "delayed", "failed", "completed"]) {
      const el = main.querySelector(`[data-tab-count="${k}"]`);
      if (el) el.textContent = fmtNumber(c[k]);
    }
  }
  const off = ctx.onSnapshot((snap) => {
    rates.add(snap);
    chart.update();
    const row = snap.queues.find((x) => x.name === name);
    // A queue missing from a cut snapshot (not among the busiest) keeps what it showed.
    if (row !== undefined) showCounts(row, row.paused);
    else if (!snap.truncated) showCounts({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 }, false);
  });

  let loading = false;
  let again = false;
  async function load() {
    if (loading) return void (again = true);
    loading = true;
    try {
      const [r, c, p] = await Promise.all([
        api("GET", `/queues/${q}/jobs?state=${state}&limit=${pageSize}&offset=${page * pageSize}`),
        api("GET", `/queues/${q}/counts`),
        api("GET", `/queues/${q}/paused`),
      ]);
      if (c.ok && p.ok) showCounts(c, p.paused);
      if (r.ok === false) return clear(rows, h("tr", {}, h("td", { colspan: 7, class: "error" }, `${r.code}: ${r.error}`)));
      clear(rows, r.jobs.length === 0 ? h("tr", {}, h("td", { colspan: 7, class: "muted" }, `No ${state} jobs.`)) : r.jobs.map((j) => jobRow(j, ctx, load)));
      const pages = Math.max(1, Math.ceil(r.total / pageSize));
      clear(pager,
        page > 0 ? h("a", { href: here(state, page - 1) }, "‹ newer") : null,
        h("span", {}, ` page ${page + 1} of ${pages} (${fmtNumber(r.total)} jobs) `),
        page + 1 < pages ? h("a", { href: here(state, page + 1) }, "older ›") : null);
    } finally {
      loading = false;
      if (again) {
        again = false;
        void load();
      }
    }
  }
  await load();
  // Live: the queue's job events trigger a reload of the page shown (at most one in flight).
  let timer = null;
  const events = stream(`/events/${q}`, () => {
    timer ??= setTimeout(() => {
      timer = null;
      void load();
    }, 250);
  });
  return () => {
    off();
    chart.destroy();
    events.close();
    if (timer !== null) clearTimeout(timer);
  };
}

function jobRow(j, ctx, reload) {
  const detail = j.state === "failed" ? (j.failed_reason ?? "") : fmtTime(j.created_at);
  return h("tr", { "data-job": j.id },
    h("td", {}, h("a", { href: `#/job/${j.id}` }, String(j.id)), j.custom_id ? h("div", { class: "muted small" }, j.custom_id) : null),
    h("td", {}, j.name ?? ""),
    h("td", { class: "mono" }, preview(j.data)),
    h("td", { class: "num" }, `${j.attempts}/${j.max_attempts}`),
    h("td", { class: "num" }, `${j.progress ?? 0}%`),
    h("td", { class: j.state === "failed" ? "error small" : "small" }, detail),
    h("td", { class: "actions" }, jobActions(j, ctx, reload)),
  );
}
