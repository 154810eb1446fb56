// The dashboard: a hash router over five views (queues overview, one queue's jobs, one job,
// cron schedules, the server), one stats stream (GET /stats/stream, Server-Sent Events) that
// feeds every view's live counts and charts, and the login form when the server wants a token.
// No build step: the browser loads these modules as they are.

import { api, auth, AuthNeeded, stream } from "/ui/api.js";
import { Rates } from "/ui/charts.js";
import { clear, h } from "/ui/dom.js";
import { renderCron } from "/ui/view-cron.js";
import { renderJob } from "/ui/view-job.js";
import { renderOverview } from "/ui/view-overview.js";
import { renderQueue } from "/ui/view-queue.js";
import { renderServer } from "/ui/view-server.js";

const main = document.getElementById("main");
const liveBadge = document.getElementById("live");
const toasts = h("div", { class: "toasts", "aria-live": "polite" });
document.body.append(toasts);

const live = {
  snapshot: null,
  rates: new Rates(),
  listeners: new Set(),
  source: null,
};

function setLive(state) {
  liveBadge.textContent = state;
  liveBadge.className = `live ${state === "live" ? "on" : "off"}`;
}

function startStats() {
  live.source?.close();
  live.source = stream("/stats/stream", (snap) => {
    if (snap.type !== "stats") return;
    live.snapshot = snap;
    live.rates.add(snap);
    for (const f of live.listeners) f(snap);
  }, setLive);
}

/** What a view gets: live snapshots, navigation, messages, and a guarded API call. */
const ctx = {
  onSnapshot(f) {
    live.listeners.add(f);
    if (live.snapshot !== null) f(live.snapshot);
    return () => live.listeners.delete(f);
  },
  get rates() {
    return live.rates;
  },
  navigate(hash) {
    location.hash = hash;
  },
  notify(text, kind = "ok") {
    const el = h("div", { class: `toast ${kind}`, role: "status" }, text);
    toasts.append(el);
    setTimeout(() => el.remove(), 4000);
  },
  /** An API call for a button: failures become a message, success an optional one. */
  async act(method, path, body, done) {
    try {
      const r = await api(method, path, body);
      if (r.ok === false) ctx.notify(`${r.code}: ${r.error}`, "error");
      else if (done) ctx.notify(typeof done === "function" ? done(r) : done);
      return r;
    } catch (e) {
      if (e instanceof AuthNeeded) askToken(e.message);
      else ctx.notify(String(e.message ?? e), "error");
      return null;
    }
  },
};

const routes = [
  [/^#?\/?$/, () => renderOverview],
  [/^#\/queue\/([^/?]+)/, () => renderQueue],
  [/^#\/job\/(\d+)/, () => renderJob],
  [/^#\/cron/, () => renderCron],
  [/^#\/server/, () => renderServer],
];

let cleanup = null;

async function route() {
  cleanup?.();
  cleanup = null;
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    const nav = a.dataset.nav;
    a.classList.toggle("active", (nav === "overview" && (hash === "#/" || hash.startsWith("#/queue") || hash.startsWith("#/job"))) || hash.startsWith(`#/${nav}`));
  }
  for (const [re, view] of routes) {
    const m = re.exec(hash);
    if (m === null) continue;
    const params = new URLSearchParams(hash.split("?")[1] ?? "");
    clear(main);
    try {
      cleanup = (await view()(main, { match: m.slice(1).map(decodeURIComponent), params }, ctx)) ?? null;
    } catch (e) {
      if (e instanceof AuthNeeded) return askToken(e.message);
      clear(main, h("p", { class: "error" }, `Could not show this page: ${e.message ?? e}`));
    }
    return;
  }
  clear(main, h("p", {}, "No such page. ", h("a", { href: "#/" }, "Back to the queues")));
}

// ---- the token, asked for once ----

const login = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const loginToken = document.getElementById("login-token");
const loginError = document.getElementById("login-error");

function askToken(why) {
  live.source?.close();
  live.source = null;
  setLive("signed out");
  loginError.textContent = auth.token ? `The token was refused: ${why}` : "";
  auth.token = null;
  login.hidden = false;
  loginToken.focus();
}

loginForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  auth.token = loginToken.value.trim();
  try {
    await api("GET", "/server");
  } catch (err) {
    loginError.textContent = `The token was refused: ${err.message}`;
    auth.token = null;
    return;
  }
  login.hidden = true;
  loginToken.value = "";
  startStats();
  await route();
});

async function boot() {
  try {
    await api("GET", "/server");
  } catch (e) {
    if (e instanceof AuthNeeded) return askToken(e.message);
    clear(main, h("p", { class: "error" }, `The server does not answer: ${e.message ?? e}`));
    return;
  }
  startStats();
  await route();
}

window.addEventListener("hashchange", () => {
  if (login.hidden) void route();
});
boot();
