// Auth on every route: with AUTH_TOKENS set, each route of the HTTP face (every resource route,
// every POST /commands/<NAME>, streams, metrics, webhooks) refuses a request without a token
// (401) and one with a wrong token (403), and lets the right one through; only /health, /ready
// and the data-free pages (dashboard files, API document) answer without one. Streams take the
// token as ?token= too, REST does not. Failures are throttled per address; cross-origin browser
// requests are refused unless CORS_ORIGIN allows them.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registry } from "../../src/dispatch/commands.ts";
import { otherRoutes } from "../../src/http/openapi.ts";
import { commandRoutes } from "../../src/http/routes.ts";
import { call, SseReader, startHttp, WsClient, type HttpServer } from "./helpers.ts";

const token = "t0ken-for-tests";
const bearer = { authorization: `Bearer ${token}` };

/** A concrete path for a route pattern. */
const concrete = (p: string) => p.replace(":queue", "authq").replace(":id", "1").replace(":job_id", "c1").replace(":name", "PING").replace(":key", "k");

/** Routes that answer without a token, and why. */
const open = new Set(["GET /health", "HEAD /health", "GET /ready", "HEAD /ready", "GET /openapi.json", "GET /docs", "GET /"]);

describe("with AUTH_TOKENS", () => {
  let s: HttpServer;
  beforeAll(async () => {
    s = await startHttp({ authTokens: [token, "second"] });
  });
  afterAll(async () => {
    await s.stop();
  });

  const routes = [
    ...commandRoutes.map((r) => ({ method: r.method, path: r.path })),
    ...registry.names.map((n) => ({ method: "POST", path: `/commands/${n}` })),
    ...otherRoutes.filter((r) => !r.path.startsWith("/ws")).map((r) => ({ method: r.method, path: r.path })),
  ];

  test(`every route but the open ones: 401 without a token, 403 with a wrong one (${routes.length} routes)`, async () => {
    let checked = 0;
    for (const r of routes) {
      if (open.has(`${r.method} ${r.path}`)) continue;
      const path = concrete(r.path);
      const none = await fetch(s.base + path, { method: r.method, signal: AbortSignal.timeout(5000) });
      expect({ route: `${r.method} ${r.path}`, status: none.status }).toEqual({ route: `${r.method} ${r.path}`, status: 401 });
      expect(none.headers.get("www-authenticate")).toContain("Bearer");
      expect(((await none.json()) as { code: string }).code).toBe("AUTH_REQUIRED");
      const wrong = await fetch(s.base + path, { method: r.method, headers: { authorization: "Bearer nope" }, signal: AbortSignal.timeout(5000) });
      expect({ route: `${r.method} ${r.path}`, status: wrong.status }).toEqual({ route: `${r.method} ${r.path}`, status: 403 });
      await wrong.body?.cancel();
      checked++;
      // Each wrong token counts against this address: stay under the throttle's 20.
      if (checked % 15 === 0) await resetThrottle();
    }
    expect(checked).toBeGreaterThan(80);
  });

  // The throttle counts failures per address; restarting is the simplest reset between batches.
  async function resetThrottle() {
    await s.stop();
    s = await startHttp({ authTokens: [token, "second"] });
  }

  test("the right token (either of AUTH_TOKENS) gets through", async () => {
    const a = await call(s.base, "POST", "/queues/authq/jobs", { data: 1 }, bearer);
    expect(a.status).toBe(200);
    const b = await call(s.base, "GET", "/queues/authq/counts", undefined, { authorization: "Bearer second" });
    expect(b.body.waiting).toBe(1);
    const m = await fetch(`${s.base}/metrics`, { headers: bearer });
    expect(m.status).toBe(200);
  });

  test("the probes and the data-free pages answer without a token", async () => {
    for (const p of ["/health", "/ready", "/openapi.json", "/docs", "/"]) {
      const r = await fetch(s.base + p);
      expect({ p, status: r.status }).toEqual({ p, status: 200 });
      await r.body?.cancel();
    }
  });

  test("REST does not take ?token= (tokens stay out of URLs where a header works)", async () => {
    const r = await call(s.base, "GET", `/queues/authq/counts?token=${token}`);
    expect(r.status).toBe(401);
  });

  test("SSE and WebSocket take the token as a header or as ?token=", async () => {
    const refused = await fetch(`${s.base}/events`);
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    const q = await SseReader.open(`${s.base}/events/authq?token=${token}`);
    expect(q.response.status).toBe(200);
    const h = await SseReader.open(`${s.base}/events/authq`, bearer);
    expect(h.response.status).toBe(200);
    await call(s.base, "POST", "/queues/authq/jobs", { data: 2 }, bearer);
    expect((await q.next((m) => m.event === "waiting")).queue).toBe("authq");
    expect((await h.next((m) => m.event === "waiting")).queue).toBe("authq");
    q.close();
    h.close();
    const wsBase = s.base.replace("http", "ws");
    await expect(WsClient.open(`${wsBase}/ws`)).rejects.toThrow();
    const w1 = await WsClient.open(`${wsBase}/ws?token=${token}`);
    expect((await w1.call({ cmd: "PING" })).pong).toBe(true);
    w1.close();
    const w2 = await WsClient.open(`${wsBase}/ws`, bearer);
    expect((await w2.call({ cmd: "STATS" })).ok).toBe(true);
    w2.close();
  });

  test("repeated failures from one address are throttled (429), even with the right token then", async () => {
    await resetThrottle();
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${s.base}/stats`, { headers: { authorization: `Bearer wrong${i}` } });
      expect(r.status).toBe(403);
      await r.body?.cancel();
    }
    const blocked = await call(s.base, "GET", "/stats", undefined, bearer);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toContain("failed authentications");
    // The probes are never throttled.
    expect((await fetch(`${s.base}/ready`)).status).toBe(200);
    await resetThrottle();
  });
});

describe("cross-origin requests", () => {
  let s: HttpServer;
  let cors: HttpServer;
  beforeAll(async () => {
    s = await startHttp();
    cors = await startHttp({ corsOrigin: "https://admin.example.com" });
  });
  afterAll(async () => {
    await s.stop();
    await cors.stop();
  });

  test("without CORS_ORIGIN a browser request from another origin cannot change anything", async () => {
    const r = await call(s.base, "POST", "/queues/x/jobs", { data: 1 }, { origin: "https://evil.example" });
    expect(r.status).toBe(403);
    expect(r.body.error).toContain("CORS_ORIGIN");
    expect((await call(s.base, "GET", "/queues/x/counts")).body.waiting).toBe(0);
    const same = await call(s.base, "POST", "/queues/x/jobs", { data: 1 }, { origin: s.base });
    expect(same.status).toBe(200);
    const pre = await fetch(`${s.base}/queues/x/jobs`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(405);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    // A WebSocket from another origin (cross-site WebSocket hijacking) is refused too.
    await expect(WsClient.open(`${s.base.replace("http", "ws")}/ws`, { origin: "https://evil.example" })).rejects.toThrow();
  });

  test("CORS_ORIGIN allows exactly that origin: preflight, headers, requests", async () => {
    const pre = await fetch(`${cors.base}/queues/x/jobs`, { method: "OPTIONS", headers: { origin: "https://admin.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://admin.example.com");
    expect(pre.headers.get("access-control-allow-headers")).toContain("Authorization");
    const ok = await call(cors.base, "POST", "/queues/x/jobs", { data: 1 }, { origin: "https://admin.example.com" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://admin.example.com");
    const other = await call(cors.base, "POST", "/queues/x/jobs", { data: 1 }, { origin: "https://other.example.com" });
    expect(other.status).toBe(403);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
