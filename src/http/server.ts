// The HTTP face: one Bun.serve on the server's own event loop (the io_uring loop hands the
// thread to Bun whenever Bun has work). Bun's router picks the route; every handler goes through
// wrap(): origin check, Bearer auth (all but the probes and the data-free pages), readiness,
// CORS headers, request counting, and INTERNAL for a programmer error. Routes: REST from the
// registry (routes.ts and POST /commands/<NAME>), probes, /metrics, live streams, webhooks,
// the API document and the dashboard.

import type { Server, ServerWebSocket } from "bun";
import { frameBytesMax, httpBodyBytesMax } from "../constants.ts";
import { ClientError } from "../errors.ts";
import { renderApiPage } from "./api-page.ts";
import { EventStreams, subscribeBody } from "./event-streams.ts";
import { Exposition } from "./exposition.ts";
import { Gate } from "./gate.ts";
import type { HttpHost } from "./host.ts";
import { HttpCounters, renderMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { parkedRequests } from "./request-ctx.ts";
import { commandBody, errorResponse, routeBody, runCommand, type RestRequest, type RestResponse } from "./rest.ts";
import { commandRoutes, type Method } from "./routes.ts";
import { serverFacts } from "./snapshot.ts";
import { dashboardCsp, loadDashboardAssets } from "./static-assets.ts";
import { StatsStream } from "./stats-stream.ts";
import { JobTimings } from "./timings.ts";
import { Webhooks } from "./webhooks/webhooks.ts";
import { WsSession } from "./ws-session.ts";

export interface HttpOptions {
  host: string;
  /** 0: a port the kernel picks (tests); turning HTTP off is the caller's choice. */
  port: number;
  corsOrigin: string | null;
  dashboard: boolean;
  webhookAllowPrivate: boolean;
}

interface WsData {
  subscribe: Record<string, unknown>;
  session: WsSession | null;
}

type Handler = (req: Request & { params: Record<string, string> }, server: Server<WsData>) => Response | undefined | Promise<Response | undefined>;

/** How a route is guarded: `open` needs no token (probes, data-free pages); `queryToken` also
 *  reads `?token=` (streams); `engine` answers 503 until the server is ready. */
interface Guard {
  open?: boolean;
  queryToken?: boolean;
  engine?: boolean;
}

const jsonHeaders = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

function toResponse(r: RestResponse): Response {
  return new Response(r.bytes, { status: r.status, headers: r.headers });
}

function jsonResponse(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...jsonHeaders, ...extra } });
}

export class HttpFace {
  readonly webhooks: Webhooks;
  readonly timings: JobTimings;
  readonly counters = new HttpCounters();
  private readonly streams: EventStreams;
  private readonly stats: StatsStream;
  private readonly gate: Gate;
  private server: Server<WsData> | null = null;
  private readonly patterns: { re: RegExp; methods: Set<string> }[] = [];

  /** Creates the parts that must exist before recovery (webhooks are a record owner). */
  constructor(
    private readonly host: HttpHost,
    private readonly opts: HttpOptions,
  ) {
    this.gate = new Gate({ tokens: host.info.authTokens, corsOrigin: opts.corsOrigin });
    this.streams = new EventStreams(host);
    this.stats = new StatsStream(host);
    this.timings = new JobTimings(host.engine);
    this.webhooks = new Webhooks(host.engine, host.events, opts.webhookAllowPrivate, `ringq/${host.info.version}`);
    host.engine.records.add(this.webhooks);
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Starts listening; throws an error naming HTTP_PORT when the port cannot be had. */
  start(): void {
    this.timings.start();
    const routes: Record<string, Partial<Record<string, Handler>>> = {};
    const add = (method: Method | "HEAD", path: string, guard: Guard, h: Handler) => {
      (routes[path] ??= {})[method] = this.wrap(method, path, guard, h);
    };
    this.addRoutes(add);
    for (const path of Object.keys(routes)) {
      const re = new RegExp(`^${path.replace(/:[A-Za-z_]+/g, "[^/]+").replace(/\*$/, ".*")}$`);
      this.patterns.push({ re, methods: new Set(Object.keys(routes[path]!)) });
    }
    try {
      this.server = Bun.serve<WsData, never>({
        hostname: this.opts.host,
        port: this.opts.port,
        maxRequestBodySize: httpBodyBytesMax,
        routes: routes as never,
        fetch: (req) => this.fallback(req),
        error: (e) => {
          this.host.internalError("an HTTP request", e);
          return jsonResponse(500, { ok: false, error: "Internal error while handling the request; it was logged", code: "INTERNAL" });
        },
        websocket: {
          maxPayloadLength: frameBytesMax,
          open: (ws) => this.wsOpen(ws),
          message: (ws, m) => {
            if (typeof m !== "string") ws.send(JSON.stringify({ ok: false, error: "Send JSON text messages (binary messages are not read)", code: "BAD_FRAME" }));
            else ws.data.session?.onMessage(m);
          },
          close: (ws) => ws.data.session?.onClose(),
        },
      });
    } catch (e) {
      throw new Error(`HTTP_PORT ${this.opts.port} on ${this.opts.host}: ${(e as Error).message} (another process holds the port: set HTTP_PORT, or HTTP_PORT=0 to turn HTTP off)`);
    }
  }

  /** Recovery is over: webhooks start listening for events. */
  recovered(): void {
    this.webhooks.recovered();
  }

  async stop(): Promise<void> {
    this.timings.stop();
    this.webhooks.stop();
    this.streams.closeAll();
    this.stats.closeAll();
    await this.server?.stop(true);
    this.server = null;
  }

  // ---- the routes ----

  private addRoutes(add: (method: Method | "HEAD", path: string, guard: Guard, h: Handler) => void): void {
    const host = this.host;
    const health: Handler = () => jsonResponse(200, { ok: true, status: "serving" });
    const ready: Handler = () => host.ready
      ? jsonResponse(200, { ok: true, ready: true })
      : jsonResponse(503, { ok: false, ready: false, error: "Not ready: storage recovery or start-up in progress, or the server is stopping" });
    for (const m of ["GET", "HEAD"] as const) {
      add(m, "/health", { open: true }, health);
      add(m, "/ready", { open: true }, ready);
    }

    for (const route of commandRoutes) {
      add(route.method, route.path, { engine: true }, async (req, server) => {
        const r = await this.restOf(req);
        return toResponse(await runCommand(host, () => routeBody(route, r, host.engine), r, () => server.timeout(req, 0), route.notFound));
      });
    }
    add("POST", "/commands/:name", { engine: true }, async (req, server) => {
      const r = await this.restOf(req);
      return toResponse(await runCommand(host, () => commandBody(req.params.name!, r), r, () => server.timeout(req, 0)));
    });

    add("GET", "/metrics", {}, () => new Response(renderMetrics({
      host, timings: this.timings, http: this.counters,
      streams: () => ({ ...this.streams.open, stats: this.stats.listeners, sent: this.streams.counters.eventsSent, dropped: this.streams.counters.eventsDropped + this.stats.dropped }),
      parked: parkedRequests,
      webhooks: (out) => this.webhookMetrics(out),
    }), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" } }));
    add("GET", "/server", {}, () => jsonResponse(200, {
      ok: true, ...serverFacts(host),
      http: { port: this.port, dashboard: this.opts.dashboard, cors_origin: this.opts.corsOrigin, webhooks: this.webhooks.size },
    }));

    const events: Handler = (req, server) => {
      if (this.streams.full) return errorJson("LIMIT", "Too many event streams open; close one first");
      const body = subscribeBody(req.params.queue, new URL(req.url).searchParams);
      server.timeout(req, 0);
      return this.streams.openSse(body, this.gate.corsHeaders(req));
    };
    add("GET", "/events", { queryToken: true, engine: true }, events);
    add("GET", "/events/:queue", { queryToken: true, engine: true }, events);
    const ws: Handler = (req, server) => {
      if (this.streams.full) return errorJson("LIMIT", "Too many event streams open; close one first");
      const subscribe = subscribeBody(req.params.queue, new URL(req.url).searchParams);
      if (server.upgrade(req, { data: { subscribe, session: null } })) return undefined;
      return errorJson("INVALID", "Expected a WebSocket upgrade request (Connection: Upgrade, Upgrade: websocket)");
    };
    add("GET", "/ws", { queryToken: true, engine: true }, ws);
    add("GET", "/ws/:queue", { queryToken: true, engine: true }, ws);
    add("GET", "/stats/stream", { queryToken: true, engine: true }, (req, server) => {
      server.timeout(req, 0);
      return this.stats.open(this.gate.corsHeaders(req));
    });

    add("GET", "/webhooks", { engine: true }, () => jsonResponse(200, { ok: true, webhooks: this.webhooks.list() }));
    add("POST", "/webhooks", { engine: true }, async (req) => {
      const body = JSON.parse((await req.text()) || "{}");
      const made = await this.webhooks.add(body);
      await this.committed();
      return jsonResponse(200, { ok: true, ...made });
    });
    add("DELETE", "/webhooks/:id", { engine: true }, async (req) => {
      this.webhooks.remove(req.params.id!);
      await this.committed();
      return jsonResponse(200, { ok: true });
    });
    add("POST", "/webhooks/:id/ping", { engine: true }, (req) => {
      this.webhooks.ping(req.params.id!);
      return jsonResponse(200, { ok: true });
    });

    const doc = openApiDocument(host.info.version);
    const docJson = JSON.stringify(doc);
    const page = renderApiPage(doc);
    add("GET", "/openapi.json", { open: true }, () => new Response(docJson, { headers: { "content-type": "application/json; charset=utf-8" } }));
    add("GET", "/docs", { open: true }, () => new Response(page, { headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" } }));

    if (this.opts.dashboard) {
      for (const [path, asset] of loadDashboardAssets()) {
        add("GET", path, { open: true }, () => new Response(asset.body, {
          headers: { "content-type": asset.type, "content-security-policy": dashboardCsp, "x-content-type-options": "nosniff", "cache-control": "no-cache", "referrer-policy": "no-referrer" },
        }));
      }
    }
  }

  private async committed(): Promise<void> {
    this.host.wake();
    await this.host.committed();
  }

  private webhookMetrics(out: Exposition): void {
    const d = this.webhooks.deliveries;
    out.gauge("ringq_webhooks", "Registered webhooks.", this.webhooks.size);
    out.gauge("ringq_webhook_deliveries_queued", "Webhook deliveries waiting (retries included).", d.queued);
    out.gauge("ringq_webhook_deliveries_in_flight", "Webhook deliveries being sent.", d.active);
    out.declare("ringq_webhook_deliveries_total", "counter", "Webhook deliveries by outcome: delivered, failed_attempt (retried or not), abandoned (attempts used up), dropped (queue full, circuit open).");
    for (const [outcome, n] of [["delivered", d.counters.delivered], ["failed_attempt", d.counters.failedAttempts], ["abandoned", d.counters.abandoned], ["dropped", d.counters.dropped]] as const) {
      out.counter("ringq_webhook_deliveries_total", "", n, { outcome });
    }
    let open = 0;
    const now = Date.now();
    for (const b of d.breakers.values()) if (b.state(now) !== "closed") open++;
    out.gauge("ringq_webhook_circuits_open", "Webhook URLs whose circuit is open or half-open.", open);
  }

  // ---- the guard around every handler ----

  private wrap(method: string, path: string, guard: Guard, h: Handler): Handler {
    return async (req, server) => {
      const t0 = performance.now();
      let res: Response | undefined;
      try {
        res = await this.guarded(req, server, guard, h);
      } catch (e) {
        if (e instanceof ClientError) res = errorJson(e.code, e.message);
        else if (e instanceof SyntaxError) res = errorJson("BAD_FRAME", "Malformed JSON body: could not parse it");
        else {
          this.host.internalError(`HTTP ${method} ${path}`, e);
          res = errorJson("INTERNAL", "Internal error while handling the request; it was logged");
        }
      }
      this.counters.count(path, method, res === undefined ? 101 : res.status, performance.now() - t0);
      if (res === undefined) return undefined;
      if (this.gate.corsOn) for (const [k, v] of Object.entries(this.gate.corsHeaders(req))) res.headers.set(k, v);
      return res;
    };
  }

  /** Not async itself: the handler's own promise is passed through (one await less a request). */
  private guarded(req: Request & { params: Record<string, string> }, server: Server<WsData>, guard: Guard, h: Handler): Response | undefined | Promise<Response | undefined> {
    if (!guard.open) {
      // GETs change nothing and a browser cannot read another origin's answer: only writes and
      // streams (a WebSocket is not subject to CORS) are checked.
      if (req.method !== "GET" || guard.queryToken) {
        const origin = this.gate.checkOrigin(req);
        if (!origin.ok) return errorJson(origin.code, origin.message, origin.status);
      }
      if (this.gate.authRequired) {
        const auth = this.gate.authenticate(req, () => server.requestIP(req)?.address ?? "unknown", guard.queryToken === true);
        if (!auth.ok) return errorJson(auth.code, auth.message, auth.status, auth.status === 401 ? { "www-authenticate": 'Bearer realm="ringq"' } : {});
      }
    }
    if (guard.engine && !this.host.ready) return errorJson("BUSY", "Not ready: storage recovery or start-up in progress, or the server is stopping", 503);
    return h(req, server);
  }

  private async restOf(req: Request & { params: Record<string, string> }): Promise<RestRequest> {
    const q = req.url.indexOf("?");
    return {
      method: req.method,
      params: req.params,
      query: new URLSearchParams(q < 0 ? "" : req.url.slice(q + 1)),
      body: req.method === "GET" || req.method === "HEAD" ? "" : await req.text(),
      // Read only when a request parks: Bun builds the signal on first access.
      signal: () => req.signal,
    };
  }

  /** Requests no route took: CORS preflight, a known path with another method (405), or 404. */
  private fallback(req: Request): Response {
    if (req.method === "OPTIONS") {
      return this.gate.preflight(req) ?? jsonResponse(405, { ok: false, error: "OPTIONS: CORS is off (set CORS_ORIGIN to allow a browser origin)", code: "INVALID" });
    }
    const path = new URL(req.url).pathname;
    const allowed = this.patterns.find((p) => p.re.test(path));
    this.counters.count("(unmatched)", req.method, allowed ? 405 : 404, 0);
    if (allowed !== undefined) {
      return jsonResponse(405, { ok: false, error: `${req.method} is not allowed on ${path.slice(0, 200)}; allowed: ${[...allowed.methods].join(", ")}`, code: "INVALID" }, { allow: [...allowed.methods].join(", ") });
    }
    return jsonResponse(404, { ok: false, error: `No route ${req.method} ${path.slice(0, 200)}; the routes are listed at /docs`, code: "NOT_FOUND" });
  }

  private wsOpen(ws: ServerWebSocket<WsData>): void {
    const s = new WsSession(this.streams, ws);
    ws.data.session = s;
    this.streams.addWs(s);
    try {
      this.streams.dispatch(s, ws.data.subscribe);
    } catch (e) {
      ws.send(JSON.stringify({ ok: false, error: (e as Error).message, code: e instanceof ClientError ? e.code : "INTERNAL" }));
      ws.close(1008, "subscription refused");
    }
  }
}

function errorJson(code: string, message: string, status?: number, extra: Record<string, string> = {}): Response {
  const r = errorResponse(code, message);
  return new Response(r.bytes, { status: status ?? r.status, headers: { ...r.headers, ...extra } });
}
