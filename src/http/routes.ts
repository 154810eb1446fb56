// The resource-style REST routes: each is a thin mapping onto ONE registry command (path
// parameters and query parameters become request fields, the JSON body gives the rest), so
// validation, limits and replies are the command's own. Every command is also reachable as
// POST /commands/<NAME>. The OpenAPI document and docs/http.md are generated from this table.

import type { Reply } from "../dispatch/context.ts";
import type { Engine } from "../engine/engine.ts";
import { ClientError, errorReply } from "../errors.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface CommandRoute {
  readonly method: Method;
  /** A Bun route pattern; `:name` parameters are request fields of the same name. */
  readonly path: string;
  readonly cmd: string;
  /** Overrides the command's summary in the API document. */
  readonly summary?: string;
  /** Request fields read from the query string (GET and DELETE read every field from it). */
  readonly query?: readonly string[];
  /** Fields set by the route itself (not the client). */
  readonly fixed?: Readonly<Record<string, unknown>>;
  /** A path parameter that names a field of another name (`:id` -> parent_id). */
  readonly params?: Readonly<Record<string, string>>;
  /** Fills fields the route derives from the engine (the queue of a job named by id). */
  readonly derive?: (engine: Engine, fields: Record<string, unknown>) => void;
  /** The fields `derive` sets (they are not the client's to give). */
  readonly derived?: readonly string[];
  /** Turns a success reply that found nothing into 404 (GET of one resource). */
  readonly notFound?: (reply: Reply, request: Record<string, unknown>) => Reply;
}

const jobMissing = (reply: Reply, r: Record<string, unknown>): Reply =>
  reply.ok === true && reply.job === null ? errorReply("NOT_FOUND", `Job not found: ${String(r.id ?? r.job_id)}`) : reply;

/** RETRYDLQ of one job needs its queue: the job's own. */
function queueOfJob(engine: Engine, fields: Record<string, unknown>): void {
  const job = typeof fields.id === "number" ? engine.getJob(fields.id) : undefined;
  if (job === undefined) throw new ClientError("NOT_FOUND", `Job not found: ${String(fields.id)}`);
  fields.queue = job.queue.name;
}

export const commandRoutes: readonly CommandRoute[] = [
  // ---- queues ----
  { method: "GET", path: "/queues", cmd: "LISTQUEUES" },
  { method: "GET", path: "/queues/:queue/counts", cmd: "GETJOBCOUNTS" },
  { method: "GET", path: "/queues/:queue/paused", cmd: "ISPAUSED" },
  { method: "POST", path: "/queues/:queue/pause", cmd: "PAUSE" },
  { method: "POST", path: "/queues/:queue/resume", cmd: "RESUME" },
  { method: "POST", path: "/queues/:queue/drain", cmd: "DRAIN" },
  { method: "POST", path: "/queues/:queue/clean", cmd: "CLEAN" },
  { method: "DELETE", path: "/queues/:queue", cmd: "OBLITERATE" },
  { method: "GET", path: "/queues/:queue/jobs", cmd: "GETJOBS", summary: "A page of the queue's jobs, optionally of one state (`state`, `limit`, `offset`)." },
  { method: "POST", path: "/queues/:queue/jobs", cmd: "PUSH" },
  { method: "POST", path: "/queues/:queue/jobs/bulk", cmd: "PUSHB" },
  { method: "POST", path: "/queues/:queue/pull", cmd: "PULL", query: ["timeout"] },
  { method: "POST", path: "/queues/:queue/pull/batch", cmd: "PULLB", query: ["count", "timeout"] },
  { method: "GET", path: "/queues/:queue/dlq", cmd: "DLQ" },
  { method: "POST", path: "/queues/:queue/dlq/retry", cmd: "RETRYDLQ" },
  { method: "DELETE", path: "/queues/:queue/dlq", cmd: "PURGEDLQ" },
  { method: "POST", path: "/queues/:queue/rate-limit", cmd: "RATELIMIT" },
  { method: "DELETE", path: "/queues/:queue/rate-limit", cmd: "RATELIMITCLEAR" },
  { method: "POST", path: "/queues/:queue/concurrency", cmd: "SETCONCURRENCY" },
  { method: "DELETE", path: "/queues/:queue/concurrency", cmd: "CLEARCONCURRENCY" },
  { method: "POST", path: "/flows", cmd: "FLOW" },
  // ---- jobs ----
  { method: "GET", path: "/jobs/:id", cmd: "GETJOB", summary: "A job and its state; 404 when there is none.", notFound: jobMissing },
  { method: "GET", path: "/jobs/custom/:job_id", cmd: "GETJOBBYCUSTOMID", summary: "The job pushed with this custom id (job_id); 404 when there is none.", notFound: jobMissing },
  { method: "GET", path: "/jobs/:id/state", cmd: "GETSTATE" },
  { method: "GET", path: "/jobs/:id/result", cmd: "GETRESULT" },
  { method: "GET", path: "/jobs/:id/progress", cmd: "GETPROGRESS" },
  { method: "GET", path: "/jobs/:id/logs", cmd: "GETLOGS" },
  { method: "GET", path: "/jobs/:id/wait", cmd: "WAITJOB" },
  { method: "POST", path: "/jobs/:id/ack", cmd: "ACK" },
  { method: "POST", path: "/jobs/:id/fail", cmd: "FAIL" },
  { method: "POST", path: "/jobs/:id/heartbeat", cmd: "HEARTBEAT" },
  { method: "POST", path: "/jobs/:id/progress", cmd: "PROGRESS" },
  { method: "POST", path: "/jobs/:id/logs", cmd: "LOG" },
  { method: "POST", path: "/jobs/:id/promote", cmd: "PROMOTE" },
  { method: "POST", path: "/jobs/:id/discard", cmd: "DISCARD" },
  { method: "POST", path: "/jobs/:id/cancel", cmd: "CANCEL" },
  { method: "POST", path: "/jobs/:id/priority", cmd: "CHANGEPRIORITY" },
  { method: "POST", path: "/jobs/:id/delay", cmd: "MOVETODELAYED" },
  { method: "PUT", path: "/jobs/:id/data", cmd: "UPDATEJOB" },
  { method: "POST", path: "/jobs/:id/partial", cmd: "PARTIAL" },
  { method: "POST", path: "/jobs/:id/retry", cmd: "RETRYDLQ", summary: "Moves a failed job (in its queue's DLQ) back to waiting.", derive: queueOfJob, derived: ["queue"] },
  { method: "GET", path: "/jobs/:id/children", cmd: "GETCHILDREN", params: { id: "parent_id" } },
  { method: "POST", path: "/jobs/ack", cmd: "ACKB", summary: "Completes many active jobs (`ids`)." },
  { method: "POST", path: "/jobs/batch", cmd: "GETJOBSBATCH", summary: "The jobs of these `ids` that exist, each with its state." },
  // ---- cron ----
  { method: "GET", path: "/crons", cmd: "CRONLIST" },
  { method: "POST", path: "/crons", cmd: "CRON" },
  { method: "DELETE", path: "/crons/:name", cmd: "CRONDELETE" },
  // ---- KV (keys with a `/` go through POST /commands/KV...) ----
  { method: "GET", path: "/kv", cmd: "KVKEYS" },
  { method: "POST", path: "/kv", cmd: "KVMSET", summary: "Sets many keys at once (`entries`), all or none." },
  { method: "POST", path: "/kv/get", cmd: "KVMGET", summary: "The values of many keys (`keys`), null where missing." },
  { method: "GET", path: "/kv/:key", cmd: "KVGET" },
  { method: "PUT", path: "/kv/:key", cmd: "KVSET" },
  { method: "DELETE", path: "/kv/:key", cmd: "KVDEL" },
  { method: "GET", path: "/kv/:key/exists", cmd: "KVEXISTS" },
  { method: "GET", path: "/kv/:key/ttl", cmd: "KVTTL" },
  { method: "POST", path: "/kv/:key/expire", cmd: "KVEXPIRE" },
  { method: "POST", path: "/kv/:key/incr", cmd: "KVINCR" },
  // ---- server ----
  { method: "GET", path: "/stats", cmd: "STATS" },
];
