// Queue limits: RATELIMIT (a token bucket: `limit` jobs a second, EXT `burst` at once) and
// SETCONCURRENCY (a queue's active jobs across all workers; EXT `group_concurrency`, active jobs
// per group_id), applied by the engine's delivery to PULL and PULLB alike, stored with the queue.
// A queue with a limit is kept when empty, so the limit outlives a quiet moment.

import { Type } from "@sinclair/typebox";
import { concurrencyLimitMax, durationMsMax, rateBurstMax, rateLimitPerSecondMax } from "../../constants.ts";
import { ClientError } from "../../errors.ts";
import type { Ctx, HandlerResult } from "../context.ts";
import { Ok, Queue } from "../fields.ts";
import { defineCommand } from "../registry.ts";

const byQueue = Type.Object({ queue: Queue });

export const limitCommands = [
  defineCommand({
    name: "RATELIMIT",
    summary: "Limits the queue's deliveries to `limit` jobs a second, or (EXT) `limit` jobs per `per_ms` ms (a token bucket of EXT `burst` jobs: default limit/10 (at least 1) a second, or `limit` with per_ms); PULLB gets at most the tokens there are, parked pulls are served as tokens come.",
    schema: Type.Object({
      queue: Queue,
      limit: Type.Integer({ minimum: 1, maximum: rateLimitPerSecondMax, description: "jobs per second (per `per_ms` when given)" }),
      per_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "EXT (BullMQ's duration): the window `limit` is counted over, ms (default 1000)" })),
      burst: Type.Optional(Type.Integer({ minimum: 1, maximum: rateBurstMax, description: "EXT: jobs that may go at once after a quiet spell (default limit/10, at least 1; `limit` with per_ms)" })),
    }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const perSecond = r.per_ms === undefined ? r.limit : (r.limit * 1000) / r.per_ms;
      if (perSecond > rateLimitPerSecondMax) {
        throw new ClientError("INVALID", `Invalid RATELIMIT request: ${r.limit} jobs per ${r.per_ms} ms is more than ${rateLimitPerSecondMax} jobs a second`);
      }
      const burst = r.burst ?? (r.per_ms === undefined ? Math.max(1, Math.ceil(r.limit / 10)) : r.limit);
      ctx.engine.setRateLimit(ctx.engine.queue(r.queue), perSecond, burst);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "RATELIMITCLEAR",
    summary: "Removes the queue's rate limit.",
    schema: byQueue,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const q = ctx.engine.queues.get(r.queue);
      if (q !== undefined) ctx.engine.setRateLimit(q, null, 0);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "SETCONCURRENCY",
    summary: "Caps the queue's active jobs across all workers at `limit`, and (EXT `group_concurrency`) the active jobs of each group_id (default 1); either may be given alone.",
    schema: Type.Object({
      queue: Queue,
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: concurrencyLimitMax, description: "active jobs of the queue" })),
      group_concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: concurrencyLimitMax, description: "EXT: active jobs per group_id (default 1: FIFO per group)" })),
    }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      if (r.limit === undefined && r.group_concurrency === undefined) {
        throw new ClientError("INVALID", "Invalid SETCONCURRENCY request: give 'limit', 'group_concurrency' or both");
      }
      const q = ctx.engine.queue(r.queue);
      ctx.engine.setConcurrency(q, r.limit ?? q.concurrencyLimit, r.group_concurrency ?? q.groupConcurrency);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "CLEARCONCURRENCY",
    summary: "Removes the queue's concurrency limit and puts the per-group limit back to 1.",
    schema: byQueue,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const q = ctx.engine.queues.get(r.queue);
      if (q !== undefined) ctx.engine.setConcurrency(q, 0, 1);
      return { ok: true };
    },
  }),
];
