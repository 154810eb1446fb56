// Queue-wide rate limits and global concurrency in BullMQ's terms, on the server's RATELIMIT,
// RATELIMITCLEAR, SETCONCURRENCY, CLEARCONCURRENCY and LISTQUEUES. BullMQ counts `max` jobs per
// `duration` ms window; the server runs a token bucket: RATELIMIT {limit: max, per_ms: duration,
// burst: max} keeps the rate and lets `max` go at once.
// Used by Queue (the set/get/remove methods) and by the Worker's `limiter` option.

import type { Connection } from "./connection.ts";
import { listQueuesPageMax, queuesListedMax } from "./constants.ts";
import { RingqError } from "./errors.ts";

/** The server's bounds for RATELIMIT `limit`/`burst` and SETCONCURRENCY `limit` (docs/commands.md). */
const serverLimitMax = 1_000_000;
/** The server's longest duration (RATELIMIT `per_ms`), ms: about ten years. */
const durationMsMax = 10 * 365 * 24 * 60 * 60 * 1000;

/** A queue's row in LISTQUEUES (the fields used here). */
export interface QueueSettings {
  name: string;
  processing: number;
  /** Jobs a second (fractional for a window other than a second). */
  rate_limit: number | null;
  /** The bucket: `max` of the setGlobalRateLimit that set it (absent from older servers). */
  rate_limit_burst?: number | null;
  concurrency_limit: number | null;
  group_concurrency?: number;
}

/**
 * BullMQ's {max, duration} -> RATELIMIT {limit: max, per_ms: duration, burst: max}. The bucket
 * lets up to 2 x max through in a window of `duration` after a quiet spell, as BullMQ's fixed
 * windows do across a window boundary; the long-run rate is the same. Throws naming `where` when
 * a value is out of the server's bounds.
 */
export function rateLimitRequest(where: string, queue: string, max: unknown, duration: unknown): Record<string, unknown> {
  if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > serverLimitMax) {
    throw new RingqError(`${where}: max must be an integer from 1 to ${serverLimitMax} (jobs per duration)`, "INVALID", "RATELIMIT");
  }
  if (!Number.isInteger(duration) || (duration as number) < 1 || (duration as number) > durationMsMax) {
    throw new RingqError(`${where}: duration must be an integer number of ms from 1 to ${durationMsMax}`, "INVALID", "RATELIMIT");
  }
  if (((max as number) * 1000) / (duration as number) > serverLimitMax) {
    throw new RingqError(`${where}: ${max} jobs per ${duration} ms is more than ${serverLimitMax} jobs a second`, "INVALID", "RATELIMIT");
  }
  return { queue, limit: max, per_ms: duration, burst: max };
}

/** The rate limit back in BullMQ's terms: {max: the bucket, duration: the window it refills in}. */
export function rateLimitOf(row: QueueSettings): { max: number; duration: number } | null {
  if (row.rate_limit === null) return null;
  const burst = row.rate_limit_burst;
  if (typeof burst !== "number") return { max: row.rate_limit, duration: 1000 }; // an older server: jobs a second
  return { max: burst, duration: Math.round((burst * 1000) / row.rate_limit) };
}

/** The queue's row of LISTQUEUES (its `queue` filter); null if the server has no such queue. */
export async function queueSettings(conn: Connection, name: string): Promise<QueueSettings | null> {
  const first = await conn.request("LISTQUEUES", { queue: name, limit: listQueuesPageMax });
  const listed = (first.queues ?? []) as QueueSettings[];
  const found = listed.find((q) => q.name === name);
  if (found !== undefined) return found;
  if (listed.every((q) => q.name === name)) return null; // the server filtered: no such queue
  // A server that lists every queue whatever `queue` says (flashQ): page through them.
  for (let offset = 0; offset < queuesListedMax; ) {
    const reply = await conn.request("LISTQUEUES", { limit: listQueuesPageMax, offset });
    const rows = (reply.queues ?? []) as QueueSettings[];
    const row = rows.find((q) => q.name === name);
    if (row !== undefined) return row;
    if (rows.length === 0 || (reply.truncated !== true && offset + rows.length >= (reply.total ?? 0))) return null;
    offset += rows.length;
  }
  throw new RingqError(`LISTQUEUES: queue "${name}" not found in the first ${queuesListedMax} queues`, "TOO_MANY_QUEUES", "LISTQUEUES");
}

export function concurrencyRequest(where: string, queue: string, concurrency: unknown): Record<string, unknown> {
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1 || (concurrency as number) > serverLimitMax) {
    throw new RingqError(`${where}: concurrency must be an integer from 1 to ${serverLimitMax}`, "INVALID", "SETCONCURRENCY");
  }
  return { queue, limit: concurrency };
}

/**
 * CLEARCONCURRENCY also puts the per-group limit back to 1; removing the global concurrency must
 * not change the groups', so a per-group limit other than 1 is set again after the clear.
 */
export async function clearConcurrency(conn: Connection, name: string): Promise<void> {
  const before = await queueSettings(conn, name);
  await conn.request("CLEARCONCURRENCY", { queue: name });
  const groups = before?.group_concurrency ?? 1;
  if (groups !== 1) await conn.request("SETCONCURRENCY", { queue: name, group_concurrency: groups });
}
