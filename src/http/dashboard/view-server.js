// The server: version, I/O backend, storage and durability, uptime, connections and traffic,
// HTTP settings and webhooks, from GET /server and GET /webhooks; uptime and counts refresh with
// each stats snapshot.

import { api } from "/ui/api.js";
import { clear, fmtDuration, fmtNumber, fmtTime, h } from "/ui/dom.js";

const row = (k, v) => h("tr", {}, h("th", {}, k), h("td", { "data-fact": k }, v ?? "-"));

export async function renderServer(main, _route, ctx) {
  const facts = h("table", { class: "facts", id: "server-facts" });
  const hooks = h("section", { class: "panel" });
  main.append(h("div", { class: "title" }, h("h1", {}, "Server")), h("section", { class: "panel" }, facts), hooks);
  async function load() {
    const s = await api("GET", "/server");
    clear(facts,
      row("version", `ringq ${s.version}`),
      row("I/O backend", s.io_backend),
      row("storage", s.storage),
      row("durability", s.durability ?? "none (memory only)"),
      row("started", fmtTime(s.started_at)),
      row("uptime", fmtDuration(s.uptime_ms)),
      row("ready", s.ready ? "yes" : "no"),
      row("auth", s.auth ? "tokens required" : "open (no AUTH_TOKENS)"),
      row("protocol connections", s.io ? `${fmtNumber(s.io.connections_open)} open, ${fmtNumber(s.io.connections_accepted)} accepted` : "-"),
      row("traffic", s.io ? `${fmtNumber(s.io.bytes_in)} bytes in, ${fmtNumber(s.io.bytes_out)} out, ${fmtNumber(s.io.turns)} loop turns` : "-"),
      row("HTTP", `port ${s.http.port}, CORS ${s.http.cors_origin ?? "off"}, ${s.http.webhooks} webhooks`),
      row("metrics", "GET /metrics (Prometheus text; with AUTH_TOKENS, scrape with a Bearer token)"));
    const w = await api("GET", "/webhooks");
    clear(hooks, h("h2", {}, "Webhooks"), (w.webhooks ?? []).length === 0
      ? h("p", { class: "muted" }, "None registered (POST /webhooks).")
      : h("table", { class: "grid" }, h("thead", {}, h("tr", {}, ["url", "queue", "events", "circuit", "delivered", "failed", "dropped", "last error"].map((t) => h("th", {}, t)))),
        h("tbody", {}, w.webhooks.map((x) => h("tr", {}, h("td", {}, x.url), h("td", {}, x.queue), h("td", {}, x.events.join(", ")), h("td", {}, x.circuit),
          h("td", { class: "num" }, fmtNumber(x.delivered)), h("td", { class: "num" }, fmtNumber(x.failed)), h("td", { class: "num" }, fmtNumber(x.dropped)), h("td", { class: "small" }, x.last_error ?? ""))))));
  }
  await load();
  let last = 0;
  return ctx.onSnapshot(() => {
    if (Date.now() - last < 5000) return;
    last = Date.now();
    void load();
  });
}
