// Cron schedules: the server's CRONLIST as a table (whatever fields a schedule has), with
// delete per schedule. A server without cron commands says so.

import { api } from "/ui/api.js";
import { clear, fmtTime, h, preview } from "/ui/dom.js";

const timeFields = new Set(["next_run", "next_run_at", "last_run", "last_run_at", "created_at"]);

export async function renderCron(main, _route, ctx) {
  const body = h("section", { class: "panel" });
  main.append(h("div", { class: "title" }, h("h1", {}, "Cron schedules")), body);
  async function load() {
    const r = await api("GET", "/crons");
    if (r.status === 404 && r.code === "NOT_FOUND" && !r.ok && r.error?.startsWith("No route")) {
      return clear(body, h("p", { class: "muted" }, "This server has no cron schedules (no CRON commands)."));
    }
    if (r.ok === false) return clear(body, h("p", { class: "error" }, `${r.code}: ${r.error}`));
    const list = r.crons ?? r.schedules ?? [];
    if (list.length === 0) return clear(body, h("p", { class: "muted" }, "No schedules. Add one with the CRON command (POST /crons)."));
    const cols = [...new Set(list.flatMap((c) => Object.keys(c)))];
    clear(body, h("table", { class: "grid", id: "crons" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)), h("th", {}, ""))),
      h("tbody", {}, list.map((c) => h("tr", { "data-cron": c.name },
        cols.map((k) => h("td", { class: typeof c[k] === "number" ? "num" : "" }, timeFields.has(k) && typeof c[k] === "number" ? fmtTime(c[k]) : typeof c[k] === "string" ? c[k] : preview(c[k]))),
        h("td", { class: "actions" }, h("button", {
          onclick: async () => {
            if (!confirm(`Delete the schedule ${c.name}?`)) return;
            if ((await ctx.act("DELETE", `/crons/${encodeURIComponent(c.name)}`, undefined, `Deleted ${c.name}`))?.ok) void load();
          },
        }, "Delete")))))));
  }
  await load();
}
