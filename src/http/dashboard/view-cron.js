// Cron schedules (CRONLIST through GET /crons): pattern or interval, time zone, next run, runs
// made and the last error, with delete per schedule; refreshed with the stats stream, since a
// schedule's next run moves as it fires.

import { api } from "/ui/api.js";
import { clear, fmtDuration, fmtNumber, fmtTime, h, preview } from "/ui/dom.js";

export async function renderCron(main, _route, ctx) {
  const body = h("section", { class: "panel" });
  main.append(h("div", { class: "title" }, h("h1", {}, "Cron schedules")), body);
  async function load() {
    const r = await api("GET", "/crons");
    if (r.ok === false) return clear(body, h("p", { class: "error" }, `${r.code}: ${r.error}`));
    if (r.crons.length === 0) return clear(body, h("p", { class: "muted" }, "No schedules. Add one with the CRON command (POST /crons)."));
    clear(body, h("table", { class: "grid", id: "crons" },
      h("thead", {}, h("tr", {}, ["Name", "Queue", "Schedule", "Time zone", "Next run", "Runs", "Limit", "Data", "Last error", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, r.crons.map((c) => h("tr", { "data-cron": c.name },
        h("td", {}, c.name),
        h("td", {}, h("a", { href: `#/queue/${encodeURIComponent(c.queue)}` }, c.queue)),
        h("td", { class: "mono" }, c.schedule ?? `every ${fmtDuration(c.repeat_every)}`),
        h("td", {}, c.tz),
        h("td", { class: "small" }, fmtTime(c.next_run)),
        h("td", { class: "num" }, fmtNumber(c.executions)),
        h("td", { class: "num" }, c.limit === null ? "-" : fmtNumber(c.limit)),
        h("td", { class: "mono small" }, preview(c.data, 40)),
        h("td", { class: "error small" }, c.last_error ?? ""),
        h("td", { class: "actions" }, h("button", {
          class: "cancel",
          onclick: async () => {
            if (!confirm(`Delete the schedule ${c.name}?`)) return;
            if ((await ctx.act("DELETE", `/crons/${encodeURIComponent(c.name)}`, undefined, `Deleted ${c.name}`))?.ok) void load();
          },
        }, "Delete")))))));
  }
  await load();
  let last = Date.now();
  return ctx.onSnapshot(() => {
    if (Date.now() - last < 2000) return;
    last = Date.now();
    void load();
  });
}
