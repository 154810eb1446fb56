// The OpenAPI 3.1 document of the HTTP face, generated: the registry's typebox schemas are JSON
// Schema already, so each command route's parameters, body and reply come from its command, and
// POST /commands/<NAME> gets one entry per command. The routes that are not commands (probes,
// metrics, streams, webhooks, the dashboard) are declared in `otherRoutes` with their schemas.

import { Type, type TSchema } from "@sinclair/typebox";
import { registry } from "../dispatch/commands.ts";
import { errorCodes } from "../errors.ts";
import { eventNames } from "../engine/events.ts";
import { commandRoutes, type CommandRoute, type Method } from "./routes.ts";
import { statusOfCode } from "./status.ts";
import { WebhookCreate } from "./webhooks/webhooks.ts";

export interface OtherRoute {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  /** No Bearer token needed even with AUTH_TOKENS set. */
  open?: boolean;
  body?: TSchema;
  query?: Record<string, TSchema>;
  /** Response content type -> schema (JSON) or description (others). */
  response: { type: string; schema?: TSchema; description: string };
}

const json = "application/json";
const Ok = (fields: Record<string, TSchema> = {}) => Type.Object({ ok: Type.Literal(true), ...fields });
const WebhookView = Type.Object({
  id: Type.String(), url: Type.String(), queue: Type.String(), events: Type.Array(Type.String()), created_at: Type.Number(),
  circuit: Type.Union([Type.Literal("closed"), Type.Literal("open"), Type.Literal("half-open")]),
  delivered: Type.Integer(), failed: Type.Integer(), dropped: Type.Integer(),
  last_status: Type.Union([Type.Integer(), Type.Null()]), last_error: Type.Union([Type.String(), Type.Null()]),
});
const eventsQuery = { events: Type.String({ description: `comma list of events (default all): ${eventNames.join(", ")}` }), token: Type.String({ description: "the Bearer token, for clients that cannot set headers" }) };

export const otherRoutes: readonly OtherRoute[] = [
  { method: "GET", path: "/health", tag: "probes", open: true, summary: "The process is serving HTTP (200 always).", response: { type: json, schema: Type.Object({ ok: Type.Literal(true), status: Type.Literal("serving") }), description: "serving" } },
  { method: "GET", path: "/ready", tag: "probes", open: true, summary: "200 once storage is recovered and the protocol port listens; 503 before (and while stopping).", response: { type: json, schema: Type.Object({ ok: Type.Boolean(), ready: Type.Boolean() }), description: "ready or not" } },
  { method: "GET", path: "/metrics", tag: "server", summary: "Prometheus metrics (text exposition format 0.0.4); names in docs/http.md.", response: { type: "text/plain; version=0.0.4", description: "metrics" } },
  { method: "GET", path: "/server", tag: "server", summary: "Version, I/O backend, storage, durability, uptime, readiness.", response: { type: json, description: "server facts" } },
  { method: "GET", path: "/events", tag: "events", summary: "Job events of every queue as Server-Sent Events (one JSON message each, as TCP SUBSCRIBE pushes them).", query: eventsQuery, response: { type: "text/event-stream", description: "an event stream" } },
  { method: "GET", path: "/events/:queue", tag: "events", summary: "Job events of one queue as Server-Sent Events.", query: eventsQuery, response: { type: "text/event-stream", description: "an event stream" } },
  { method: "GET", path: "/ws", tag: "events", summary: "WebSocket: job events of every queue, and any command as a JSON text message (replies carry its reqId).", query: eventsQuery, response: { type: json, description: "101 Switching Protocols" } },
  { method: "GET", path: "/ws/:queue", tag: "events", summary: "WebSocket subscribed to one queue's events (and commands as on /ws).", query: eventsQuery, response: { type: json, description: "101 Switching Protocols" } },
  { method: "GET", path: "/stats/stream", tag: "events", summary: "A snapshot of every shown queue's counts and counters each second, as Server-Sent Events (the dashboard's live view).", query: { token: eventsQuery.token }, response: { type: "text/event-stream", description: "a stats stream" } },
  { method: "GET", path: "/webhooks", tag: "webhooks", summary: "The registered webhooks and their delivery figures (secrets are never shown again).", response: { type: json, schema: Ok({ webhooks: Type.Array(WebhookView) }), description: "webhooks" } },
  { method: "POST", path: "/webhooks", tag: "webhooks", summary: "Registers a webhook: a signed POST per selected event, retried with back-off; loopback and private targets refused unless WEBHOOK_ALLOW_PRIVATE=1.", body: WebhookCreate, response: { type: json, schema: Ok({ webhook: WebhookView, secret: Type.String() }), description: "the webhook and its secret" } },
  { method: "DELETE", path: "/webhooks/:id", tag: "webhooks", summary: "Deletes a webhook; its queued deliveries are dropped.", response: { type: json, schema: Ok(), description: "deleted" } },
  { method: "POST", path: "/webhooks/:id/ping", tag: "webhooks", summary: "Sends one `ping` delivery to the webhook (to check a receiver).", response: { type: json, schema: Ok(), description: "queued" } },
  { method: "GET", path: "/openapi.json", tag: "docs", summary: "This document.", response: { type: json, description: "OpenAPI 3.1" } },
  { method: "GET", path: "/docs", tag: "docs", summary: "This API as a readable page.", response: { type: "text/html", description: "HTML" } },
  { method: "GET", path: "/", tag: "docs", summary: "The dashboard (off with NO_DASHBOARD=1).", response: { type: "text/html", description: "HTML" } },
];

const toOpenApiPath = (p: string): string => p.replace(/:([A-Za-z_]+)/g, "{$1}");
const pathParams = (p: string): string[] => [...p.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!);

type Obj = Record<string, unknown>;
const propsOf = (s: TSchema): Record<string, TSchema> => ((s as Obj).properties ?? {}) as Record<string, TSchema>;
const requiredOf = (s: TSchema): string[] => ((s as Obj).required ?? []) as string[];

/** A JSON copy: typebox's symbol keys dropped. */
const plain = (s: TSchema): Obj => JSON.parse(JSON.stringify(s));

const errorResponses = (): Obj => {
  const byStatus = new Map<number, string[]>();
  for (const [code, status] of Object.entries(statusOfCode)) byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  const out: Obj = {};
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = { description: `code: ${codes.join(", ")}`, content: { [json]: { schema: { $ref: "#/components/schemas/Error" } } } };
  }
  return out;
};

function commandOperation(route: CommandRoute | null, name: string, path: string, method: Method): Obj {
  const c = registry.get(name)!;
  const props = propsOf(c.schema);
  const required = new Set(requiredOf(c.schema));
  const inPath = pathParams(path);
  const fieldOf = (p: string) => route?.params?.[p] ?? p;
  const taken = new Set([...inPath.map(fieldOf), ...Object.keys(route?.fixed ?? {}), ...(route?.derived ?? [])]);
  const queryNames = route === null ? [] : method === "GET" || method === "DELETE" ? Object.keys(props).filter((k) => !taken.has(k)) : (route.query ?? []);
  for (const q of queryNames) taken.add(q);
  const parameters = [
    ...inPath.map((p) => ({ name: p, in: "path", required: true, schema: plain(props[fieldOf(p)]!) })),
    ...queryNames.map((q) => ({ name: q, in: "query", required: required.has(q), schema: plain(props[q]!) })),
  ];
  const bodyProps = Object.entries(props).filter(([k]) => !taken.has(k));
  const op: Obj = {
    operationId: route === null ? `command${name}` : `${method.toLowerCase()}${path.replace(/[:/](\w)/g, (_, ch: string) => ch.toUpperCase()).replace(/[^A-Za-z0-9]/g, "")}`,
    summary: route?.summary ?? c.summary,
    description: route === null ? `The ${name} command of the protocol (docs/commands.md), with a JSON body.` : `Runs ${name} (POST /commands/${name} takes the same fields).`,
    tags: [route === null ? "commands" : path.startsWith("/queues") ? "queues" : path.startsWith("/jobs") || path.startsWith("/flows") ? "jobs" : path.startsWith("/kv") ? "kv" : path.startsWith("/crons") ? "cron" : "server"],
    parameters,
    responses: { "200": { description: "success", content: { [json]: { schema: plain(c.reply) } } }, ...errorResponses() },
  };
  if (method !== "GET" && method !== "DELETE" && bodyProps.length > 0) {
    const req = bodyProps.map(([k]) => k).filter((k) => required.has(k));
    op.requestBody = {
      required: req.length > 0,
      content: { [json]: { schema: { type: "object", properties: Object.fromEntries(bodyProps.map(([k, v]) => [k, plain(v)])), ...(req.length > 0 ? { required: req } : {}) } } },
    };
  }
  return op;
}

function otherOperation(r: OtherRoute): Obj {
  const op: Obj = {
    operationId: `${r.method.toLowerCase()}${r.path.replace(/[:/](\w)/g, (_, ch: string) => ch.toUpperCase()).replace(/[^A-Za-z0-9]/g, "") || "Dashboard"}`,
    summary: r.summary,
    tags: [r.tag],
    parameters: [
      ...pathParams(r.path).map((p) => ({ name: p, in: "path", required: true, schema: { type: "string" } })),
      ...Object.entries(r.query ?? {}).map(([name, s]) => ({ name, in: "query", required: false, schema: plain(s) })),
    ],
    responses: {
      "200": { description: r.response.description, content: { [r.response.type]: r.response.schema ? { schema: plain(r.response.schema) } : {} } },
      ...(r.open ? { "503": { description: "not ready" } } : errorResponses()),
    },
  };
  if (r.open) op.security = [];
  if (r.body !== undefined) op.requestBody = { required: true, content: { [json]: { schema: plain(r.body) } } };
  return op;
}

export function openApiDocument(version: string): Obj {
  const paths: Record<string, Obj> = {};
  const add = (path: string, method: Method, op: Obj) => {
    const p = (paths[toOpenApiPath(path)] ??= {});
    p[method.toLowerCase()] = op;
  };
  for (const r of commandRoutes) add(r.path, r.method, commandOperation(r, r.cmd, r.path, r.method));
  for (const name of registry.names) add(`/commands/${name}`, "POST", commandOperation(null, name, `/commands/${name}`, "POST"));
  for (const r of otherRoutes) add(r.path, r.method, otherOperation(r));
  return {
    openapi: "3.1.0",
    info: {
      title: "ringq HTTP API",
      version,
      description: "REST over ringq's command registry (every command, plus resource routes), live events (SSE, WebSocket), webhooks, Prometheus metrics and probes. Errors are {ok:false, error, code} with the TCP protocol's stable codes. With AUTH_TOKENS set, every route but /health and /ready needs `Authorization: Bearer <token>`.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: ["queues", "jobs", "cron", "kv", "server", "events", "webhooks", "probes", "docs", "commands"].map((name) => ({ name })),
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "one of AUTH_TOKENS (only when it is set)" } },
      schemas: {
        Error: {
          type: "object",
          required: ["ok", "error", "code"],
          properties: { ok: { const: false }, error: { type: "string" }, code: { enum: [...errorCodes] } },
        },
      },
    },
    paths,
  };
}
