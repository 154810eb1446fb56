// One job: its state, options and timings, data, result, failure reason and stack, progress,
// logs and children, with the actions its state allows (retry a failed job, promote a delayed
// one, cancel, discard to the DLQ); refreshed when an event of this job arrives (SSE).

import { api, stream } from "/ui/api.js";
import { clear, fmtTime, h, pretty } from "/ui/dom.js";

/** The buttons a job's state allows; `after` runs when one succeeded. */
export function jobActions(j, ctx, after) {
  const id = j.id;
  const b = (label, cls, method, path, body, done) =>
    h("button", { class: cls, "data-action": cls, onclick: async () => { if ((await ctx.act(method, path, body, done))?.ok) after?.(); } }, label);
  const out = [];
  if (j.state === "failed") out.push(b("Retry", "retry", "POST", `/jobs/${id}/retry`, undefined, `Job ${id} back to waiting`));
  if (j.state === "delayed") out.push(b("Promote", "promote", "POST", `/jobs/${id}/promote`, undefined, `Job ${id} promoted`));
  if (j.state !== "completed" && j.state !== "failed") {
    out.push(b("Cancel", "cancel", "POST", `/jobs/${id}/cancel`, undefined, `Job ${id} cancelled`));
    out.push(b("Fail", "discard", "POST", `/jobs/${id}/discard`, undefined, `Job ${id} moved to the DLQ`));
  }
  return out;
}

const field = (label, value) => [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? "-" : value)];

export async function renderJob(main, route, ctx) {
  const id = Number(route.match[0]);
  const box = h("div", {});
  main.append(box);
  let queueEvents = null;

  async function load() {
    const r = await api("GET", `/jobs/${id}`);
    if (r.status === 404) return clear(box, h("h1", {}, `Job ${id}`), h("p", { class: "muted" }, "No such job (never pushed, or its record was removed by retention)."));
    if (r.ok === false) return clear(box, h("p", { class: "error" }, `${r.code}: ${r.error}`));
    const j = { ...r.job, state: r.state };
    const [logs, result, children] = await Promise.all([
      api("GET", `/jobs/${id}/logs`),
      j.state === "completed" ? api("GET", `/jobs/${id}/result`) : null,
      j.children_ids?.length ? api("GET", `/jobs/${id}/children`) : null,
    ]);
    const qlink = `#/queue/${encodeURIComponent(j.queue)}`;
    clear(box,
      h("div", { class: "title" }, h("h1", {}, h("a", { href: "#/" }, "Queues"), " / ", h("a", { href: qlink }, j.queue), " / job ", String(id), " ", h("span", { class: `badge state-${j.state}`, id: "job-state" }, j.state)),
        h("div", { class: "toolbar" }, jobActions(j, ctx, load))),
      h("section", { class: "panel two" },
        h("dl", {},
          field("name", j.name), field("custom id", j.custom_id), field("priority", String(j.priority)),
          field("attempts", `${j.attempts} of ${j.max_attempts}`), field("stalls", String(j.stall_count)),
          field("group", j.group_id), field("unique key", j.unique_key), field("tags", j.tags?.join(", ")),
          field("parent", j.parent_id ? h("a", { href: `#/job/${j.parent_id}` }, String(j.parent_id)) : null),
          field("depends on", j.depends_on?.length ? j.depends_on.map((d) => h("a", { href: `#/job/${d}` }, `${d} `)) : null)),
        h("dl", {},
          field("created", fmtTime(j.created_at)), field("runs at", fmtTime(j.run_at)), field("started", fmtTime(j.started_at)),
          field("finished", fmtTime(j.completed_at)), field("last heartbeat", fmtTime(j.last_heartbeat)),
          field("progress", h("span", {}, h("progress", { max: 100, value: j.progress ?? 0 }), ` ${j.progress ?? 0}%${j.progress_msg ? ` ${j.progress_msg}` : ""}`)))),
      j.failed_reason ? h("section", { class: "panel" }, h("h2", {}, "Failure"), h("p", { class: "error", id: "job-failure" }, j.failed_reason),
        j.stacktrace?.length ? h("pre", { class: "mono" }, j.stacktrace.join("\n\n")) : null) : null,
      h("section", { class: "panel" }, h("h2", {}, "Data"), h("pre", { class: "mono", id: "job-data" }, pretty(j.data))),
      result ? h("section", { class: "panel" }, h("h2", {}, "Result"), h("pre", { class: "mono", id: "job-result" }, pretty(result.result))) : null,
      children?.ok ? h("section", { class: "panel" }, h("h2", {}, `Children (${children.total})`),
        h("ul", {}, (children.children ?? []).map((c) => h("li", {}, h("a", { href: `#/job/${c.id}` }, `job ${c.id}`), ` ${c.state ?? ""}`)))) : null,
      h("section", { class: "panel" }, h("h2", {}, `Logs (${logs.logs?.length ?? 0})`),
        logs.logs?.length
          ? h("table", { class: "grid", id: "job-logs" }, h("tbody", {}, logs.logs.map((l) => h("tr", {}, h("td", { class: "small" }, fmtTime(l.timestamp)), h("td", { class: `level ${l.level}` }, l.level), h("td", {}, l.message)))))
          : h("p", { class: "muted" }, "No log lines.")),
    );
    if (queueEvents === null) {
      queueEvents = stream(`/events/${encodeURIComponent(j.queue)}`, (m) => {
        if (m.id === id) void load();
      });
    }
  }
  await load();
  return () => queueEvents?.close();
}
