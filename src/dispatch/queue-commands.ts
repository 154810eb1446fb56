// Handlers of queue-level and session commands: DLQ, pause, drain, counts, stats, auth, hello.
// Read-only commands never create a queue; an unknown queue reads as empty.

import { listLimitMax } from "../constants.ts";
import { ClientError } from "../engine/errors.ts";
import { stateName } from "../engine/job.ts";
import { jobToPlain } from "../protocol/job-wire.ts";
import * as queries from "../engine/queries.ts";
import type { QueueState } from "../engine/queue.ts";
import type { RequestOf } from "../protocol/schemas.ts";
import type { Ctx, HandlerResult } from "./context.ts";

export const PROTOCOL_VERSION = 1;

function existing(ctx: Ctx, name: string): QueueState | undefined {
  return ctx.engine.queues.get(name);
}

const emptyCounts = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };

export const queueCommands = {
  DLQ(ctx: Ctx, r: RequestOf<"DLQ">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, jobs: q ? queries.dlqJobs(q, r.count ?? 100) : [] };
  },

  RETRYDLQ(ctx: Ctx, r: RequestOf<"RETRYDLQ">): HandlerResult {
    const q = existing(ctx, r.queue);
    if (r.id !== undefined) {
      const job = ctx.engine.mustGet(r.id);
      if (job.queue.name !== r.queue) throw new ClientError("NOT_FOUND", `Job ${r.id} is not in queue '${r.queue}'`);
    }
    const n = q ? queries.retryDlq(ctx.engine, q, r.id) : 0;
    return { ok: true, ids: [n], count: n };
  },

  PURGEDLQ(ctx: Ctx, r: RequestOf<"PURGEDLQ">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, count: q ? queries.purgeDlq(ctx.engine, q) : 0 };
  },

  PAUSE(ctx: Ctx, r: RequestOf<"PAUSE">): HandlerResult {
    ctx.engine.setPaused(ctx.engine.queue(r.queue), true);
    return { ok: true };
  },

  RESUME(ctx: Ctx, r: RequestOf<"RESUME">): HandlerResult {
    ctx.engine.setPaused(ctx.engine.queue(r.queue), false);
    return { ok: true };
  },

  ISPAUSED(ctx: Ctx, r: RequestOf<"ISPAUSED">): HandlerResult {
    return { ok: true, paused: existing(ctx, r.queue)?.paused ?? false };
  },

  DRAIN(ctx: Ctx, r: RequestOf<"DRAIN">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, count: q ? queries.drain(ctx.engine, q) : 0 };
  },

  OBLITERATE(ctx: Ctx, r: RequestOf<"OBLITERATE">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, count: q ? queries.obliterate(ctx.engine, q) : 0 };
  },

  COUNT(ctx: Ctx, r: RequestOf<"COUNT">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, count: q ? q.waitingCount + q.delayedCount : 0 };
  },

  GETJOBCOUNTS(ctx: Ctx, r: RequestOf<"GETJOBCOUNTS">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, ...(q ? queries.jobCounts(q) : emptyCounts) };
  },

  GETJOBS(ctx: Ctx, r: RequestOf<"GETJOBS">): HandlerResult {
    const q = r.queue === undefined ? undefined : existing(ctx, r.queue);
    if (r.queue !== undefined && q === undefined) return { ok: true, jobs: [], total: 0 };
    const offset = r.offset ?? 0;
    const limit = r.limit ?? 100;
    const jobs = [];
    let total = 0;
    for (const job of queries.jobsInState(ctx.engine, q, r.state)) {
      if (total >= offset && jobs.length < limit) jobs.push({ ...jobToPlain(job), state: stateName(job) });
      total++;
    }
    return { ok: true, jobs, total };
  },

  CLEAN(ctx: Ctx, r: RequestOf<"CLEAN">): HandlerResult {
    const q = existing(ctx, r.queue);
    return { ok: true, count: q ? queries.clean(ctx.engine, q, r.grace, r.state, r.limit ?? listLimitMax) : 0 };
  },

  LISTQUEUES(ctx: Ctx): HandlerResult {
    return { ok: true, queues: queries.listQueues(ctx.engine) };
  },

  STATS(ctx: Ctx): HandlerResult {
    return { ok: true, ...queries.stats(ctx.engine), io_backend: ctx.server.ioBackend };
  },

  AUTH(ctx: Ctx, r: RequestOf<"AUTH">): HandlerResult {
    const tokens = ctx.server.authTokens;
    if (tokens !== null && !tokens.has(r.token)) {
      ctx.session.authed = false;
      throw new ClientError("AUTH_FAILED", "Invalid token");
    }
    ctx.session.authed = true;
    return { ok: true };
  },

  PING(): HandlerResult {
    return { ok: true, pong: true };
  },

  SUBSCRIBE(ctx: Ctx, r: RequestOf<"SUBSCRIBE">): HandlerResult {
    ctx.subscribe(r.queue, r.events ?? null);
    return { ok: true };
  },

  UNSUBSCRIBE(ctx: Ctx, r: RequestOf<"UNSUBSCRIBE">): HandlerResult {
    return { ok: true, count: ctx.unsubscribe(r.queue ?? null) };
  },

  HELLO(ctx: Ctx): HandlerResult {
    return {
      ok: true,
      server: "ringq",
      version: ctx.server.version,
      protocol_version: PROTOCOL_VERSION,
      capabilities: ["pipelining", "out_of_order_replies", "lock_tokens", "msgpack", "json", "events"],
      io_backend: ctx.server.ioBackend,
    };
  },
};
