// REST over the command registry: a request (path parameters, query string, JSON body) becomes
// one command body, dispatched exactly as a TCP text-mode line is (rawifyJsonRequest keeps
// payloads as MessagePack), and its reply goes back as JSON with the HTTP status of its error
// code. Strings from the path and the query are converted by the command's own schema; a query
// parameter the command does not have, or a field given twice, is an error naming it.

import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { registry } from "../dispatch/commands.ts";
import type { Command } from "../dispatch/registry.ts";
import type { Reply } from "../dispatch/context.ts";
import { rawifyJsonRequest } from "../protocol/decode.ts";
import type { Engine } from "../engine/engine.ts";
import { ClientError } from "../errors.ts";
import type { HttpHost } from "./host.ts";
import { errorEncoded, execute, type EncodedReply } from "./request-ctx.ts";
import type { CommandRoute } from "./routes.ts";
import { statusOf } from "./status.ts";

/** Query parameters every route takes besides its fields: the SSE/WS `token` is not one of them
 *  (REST takes the token in the Authorization header only). */
export interface RestRequest {
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The body as text ("" when none). */
  body: string;
  /** Aborts when the client goes away (read only for a request that parks). */
  signal: () => AbortSignal | null;
}

export interface RestResponse {
  status: number;
  bytes: Uint8Array;
  headers: Record<string, string>;
}

const jsonHeaders = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function respond(reply: EncodedReply, extra: Record<string, string> | null = null): RestResponse {
  return { status: reply.code === null ? 200 : statusOf(reply.code), bytes: reply.bytes, headers: extra === null ? jsonHeaders : { ...jsonHeaders, ...extra } };
}

export function errorResponse(code: string, message: string): RestResponse {
  return respond(errorEncoded(code, message));
}

function commandOf(name: string): Command {
  const c = registry.get(name);
  if (c === undefined) throw new Error(`http route names unknown command ${name}`);
  return c;
}

function propsOf(schema: TSchema): Record<string, TSchema> {
  return ((schema as { properties?: Record<string, TSchema> }).properties ?? {}) as Record<string, TSchema>;
}

/** A string from the path or the query, as the field's schema wants it (arrays: comma lists). */
function convert(schema: TSchema | undefined, value: string): unknown {
  if (schema === undefined) return value;
  const isArray = (schema as { type?: string }).type === "array";
  return Value.Convert(schema, isArray ? (value === "" ? [] : value.split(",")) : value);
}

/** The JSON body as an object; "" is an empty one. */
function parseBody(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ClientError("BAD_FRAME", "Malformed JSON body: could not parse it");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ClientError("INVALID", "The JSON body must be an object of request fields");
  return v as Record<string, unknown>;
}

/** The command body of a request to a resource route. Throws ClientError naming what is wrong. */
export function routeBody(route: CommandRoute, req: RestRequest, engine: Engine): Record<string, unknown> {
  const c = commandOf(route.cmd);
  const props = propsOf(c.schema);
  const fields: Record<string, unknown> = {};
  const given = new Map<string, string>();
  for (const [p, v] of Object.entries(req.params)) {
    const k = route.params?.[p] ?? p;
    fields[k] = convert(props[k], v);
    given.set(k, "the path");
  }
  for (const [k, v] of Object.entries(route.fixed ?? {})) {
    fields[k] = v;
    given.set(k, "the route");
  }
  for (const k of route.derived ?? []) given.set(k, "the route");
  const fromQuery = new Set((route.method === "GET" || route.method === "DELETE" ? Object.keys(props) : (route.query ?? [])).filter((k) => !given.has(k)));
  for (const [k, v] of req.query) {
    if (k === "token") continue;
    if (!fromQuery.has(k) || given.has(k)) {
      throw new ClientError("INVALID", given.has(k)
        ? `Query parameter '${k}' is given by ${given.get(k)} already`
        : `Unknown query parameter '${k}' for ${route.method} ${route.path}${fromQuery.size > 0 ? ` (it takes ${[...fromQuery].join(", ")})` : ""}`);
    }
    fields[k] = convert(props[k], v);
    given.set(k, "the query string");
  }
  if (req.body.trim() !== "" && (route.method === "GET" || route.method === "DELETE")) {
    throw new ClientError("INVALID", `${route.method} ${route.path} takes no body: give its fields as query parameters`);
  }
  for (const [k, v] of Object.entries(parseBody(req.body))) {
    if (given.has(k)) throw new ClientError("INVALID", `Field '${k}' is given by ${given.get(k)} already; leave it out of the body`);
    fields[k] = v;
  }
  route.derive?.(engine, fields);
  fields.cmd = route.cmd;
  return fields;
}

/** The command body of POST /commands/<NAME>: the JSON body, `cmd` from the path. */
export function commandBody(name: string, req: RestRequest): Record<string, unknown> {
  if (req.query.size > 0 && !(req.query.size === 1 && req.query.has("token"))) {
    throw new ClientError("INVALID", "POST /commands/<NAME> takes its fields in the JSON body, not the query string");
  }
  const body = parseBody(req.body);
  if (body.cmd !== undefined && body.cmd !== name) throw new ClientError("INVALID", `Field 'cmd' (${String(body.cmd)}) disagrees with the path (${name})`);
  if (registry.get(name) === undefined) throw new ClientError("UNKNOWN_COMMAND", `Unknown command: ${name.slice(0, 64)}`);
  body.cmd = name;
  return body;
}

/**
 * Runs a command body and shapes the HTTP answer. `shape` turns a reply into another (404 for a
 * missing resource); `onDeferred` runs when the command parks (the caller lifts the idle timeout).
 */
export async function runCommand(
  host: HttpHost,
  build: () => Record<string, unknown>,
  req: RestRequest,
  onDeferred: () => void,
  shape?: (reply: Reply, request: Record<string, unknown>) => Reply,
): Promise<RestResponse> {
  let body: Record<string, unknown>;
  try {
    body = build();
  } catch (e) {
    if (e instanceof ClientError) return errorResponse(e.code, e.message);
    throw e;
  }
  // Field values for shape(), before raw payloads replace the JSON ones.
  const plain = shape === undefined ? body : { ...body };
  rawifyJsonRequest(body, registry.rawSpecOf);
  const ex = await execute(host, body, req.signal, onDeferred, shape === undefined ? undefined : (r) => shape(r, plain));
  return respond(ex.reply, ex.closeConnection ? { connection: "close" } : null);
}
