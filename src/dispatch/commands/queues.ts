// Queue-level commands: the DLQ, pause/resume, drain/obliterate/clean, counts and listings.
// Read-only commands never create a queue; an unknown queue reads as empty.

import { Type } from "@sinclair/typebox";
import { listLimitMax, listWalkMax } from "../../constants.ts";
import { jobBytesBound } from "../../protocol/job-wire.ts";
import { stateName, stateNames, type QueueState } from "../../engine/model.ts";
import * as queries from "../../engine/queries.ts";
import { ClientError } from "../../errors.ts";
import { StatedJob } from "../../protocol/writer.ts";
import type { BulkTask } from "../../engine/bulk.ts";
import { park, type Ctx, type HandlerResult } from "../context.ts";
import { Duration, Id, JobObject, JobWithState, Ok, Queue, ReplyBudget, Truncated } from "../fields.ts";
import { defineCommand } from "../registry.ts";

const byQueue = Type.Object({ queue: Queue });
const Count = Type.Integer({ minimum: 0 });
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: listLimitMax }));
const Offset = Type.Optional(Type.Integer({ minimum: 0 }));

function existing(ctx: Ctx, name: string): QueueState | undefined {
  return ctx.engine.queues.get(name);
}

/** Answers `{count}` when a bulk task ends: now if it was small, after its last step if not. */
function bulkReply(ctx: Ctx, task: BulkTask | null, reply = (n: number) => ({ ok: true, count: n })): HandlerResult {
  if (task === null) return reply(0);
  return park(ctx, (answer) => {
    ctx.engine.bulk(task, (n) => void answer(reply(n)));
    return null;
  });
}

const emptyCounts = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };

export const queueCommands = [
  defineCommand({
    name: "DLQ",
    summary: "The oldest `count` jobs of the queue's dead-letter queue (fewer, truncated, where one reply frame is full).",
    schema: Type.Object({ queue: Queue, count: Limit }),
    reply: Ok({ jobs: Type.Array(JobObject), truncated: Truncated }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      const budget = new ReplyBudget();
      const jobs = q ? queries.dlqJobs(q, r.count ?? 100).filter((j) => budget.take(jobBytesBound(j))) : [];
      return budget.truncated ? { ok: true, jobs, truncated: true } : { ok: true, jobs };
    },
  }),

  defineCommand({
    name: "RETRYDLQ",
    summary: "Moves one job (id) or every job of the queue's DLQ back to waiting. Big ones run in steps (bulkJobsPerTurn jobs a loop turn) and answer when done.",
    schema: Type.Object({ queue: Queue, id: Type.Optional(Id) }),
    reply: Ok({ ids: Type.Array(Count, { description: "flashQ's shape: [count]" }), count: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      if (r.id !== undefined) {
        const job = ctx.engine.mustGet(r.id);
        if (job.queue.name !== r.queue) throw new ClientError("NOT_FOUND", `Job ${r.id} is not in queue '${r.queue}'`);
      }
      const reply = (n: number) => ({ ok: true, ids: [n], count: n });
      if (r.id !== undefined) {
        ctx.engine.retryFailed(ctx.engine.mustGet(r.id));
        return reply(1);
      }
      return bulkReply(ctx, q ? queries.retryDlq(ctx.engine, q) : null, reply);
    },
  }),

  defineCommand({
    name: "PURGEDLQ",
    summary: "Removes every job of the queue's DLQ. Big ones run in steps (bulkJobsPerTurn jobs a loop turn) and answer when done.",
    schema: byQueue,
    reply: Ok({ count: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      return bulkReply(ctx, q ? queries.purgeDlq(ctx.engine, q) : null);
    },
  }),

  defineCommand({
    name: "PAUSE",
    summary: "Stops delivering the queue's jobs (pushes are still taken).",
    schema: byQueue,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.setPaused(ctx.engine.queue(r.queue), true);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "RESUME",
    summary: "Delivers the queue's jobs again.",
    schema: byQueue,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.setPaused(ctx.engine.queue(r.queue), false);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "ISPAUSED",
    summary: "Whether the queue is paused.",
    schema: byQueue,
    reply: Ok({ paused: Type.Boolean() }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, paused: existing(ctx, r.queue)?.paused ?? false };
    },
  }),

  defineCommand({
    name: "DRAIN",
    summary: "Removes every waiting and delayed job of the queue. Big ones run in steps (bulkJobsPerTurn jobs a loop turn) and answer when done.",
    schema: byQueue,
    reply: Ok({ count: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      return bulkReply(ctx, q ? queries.drain(ctx.engine, q) : null);
    },
  }),

  defineCommand({
    name: "OBLITERATE",
    summary: "Removes the queue and everything of it: every job (active ones included), its limits, and the cron schedules pushing to it. Big ones run in steps (bulkJobsPerTurn jobs a loop turn) and answer when done.",
    schema: byQueue,
    reply: Ok({ count: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      return bulkReply(ctx, q ? queries.obliterate(ctx.engine, q) : null);
    },
  }),

  defineCommand({
    name: "COUNT",
    summary: "Waiting plus delayed jobs of the queue.",
    schema: byQueue,
    reply: Ok({ count: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      return { ok: true, count: q ? q.waitingCount + q.delayedCount : 0 };
    },
  }),

  defineCommand({
    name: "GETJOBCOUNTS",
    summary: "The queue's jobs per state.",
    schema: byQueue,
    reply: Ok({ waiting: Count, active: Count, delayed: Count, completed: Count, failed: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      return { ok: true, ...(q ? queries.jobCounts(q) : emptyCounts) };
    },
  }),

  defineCommand({
    name: "GETJOBS",
    summary: "A page of jobs, optionally of one queue and one state, each with its state; `total` counts them all. Cut (truncated) where one reply frame is full.",
    schema: Type.Object({
      queue: Type.Optional(Queue),
      state: Type.Optional(Type.Union(stateNames.map((n) => Type.Literal(n)))),
      limit: Limit,
      offset: Offset,
      desc: Type.Optional(Type.Boolean({ description: "EXT: newest first (completed and failed, which are kept in the order they finished)" })),
    }),
    reply: Ok({ jobs: Type.Array(JobWithState), total: Count, truncated: Truncated }),
    handler(ctx: Ctx, r): HandlerResult {
      if (r.desc === true && r.state !== "completed" && r.state !== "failed") {
        throw new ClientError("INVALID", "Invalid GETJOBS request: field 'desc' applies to state completed or failed");
      }
      const queues = r.queue === undefined ? [...ctx.engine.queues.values()] : [existing(ctx, r.queue)].filter((q) => q !== undefined);
      const limit = r.limit ?? 100;
      const jobs: StatedJob[] = [];
      const budget = new ReplyBudget();
      let total = 0;
      let skip = r.offset ?? 0;
      // Whole queues are skipped by their counts; inside one, the offset is walked job by job.
      let walk = 0;
      for (const q of queues) {
        const n = queries.countInState(q, r.state);
        total += n;
        if (jobs.length >= limit || budget.truncated) continue;
        if (skip >= n) {
          skip -= n;
          continue;
        }
        if (skip > listWalkMax) {
          throw new ClientError("LIMIT", `GETJOBS offset reaches ${skip} jobs into queue '${q.name}': at most ${listWalkMax} are walked per request; filter by state, or use CLEAN/DRAIN for bulk work`);
        }
        for (const job of queries.jobsInState(q, r.state, r.desc === true)) {
          if (skip > 0) {
            skip--;
            continue;
          }
          if (jobs.length >= limit || ++walk > listWalkMax) break;
          if (!budget.take(jobBytesBound(job))) break;
          jobs.push(new StatedJob(job, stateName(job)));
        }
      }
      return budget.truncated ? { ok: true, jobs, total, truncated: true } : { ok: true, jobs, total };
    },
  }),

  defineCommand({
    name: "CLEAN",
    summary: "Removes up to `limit` jobs of one state older than `grace` ms. Big ones run in steps (bulkJobsPerTurn jobs a loop turn) and answer when done.",
    schema: Type.Object({
      queue: Queue,
      grace: Duration,
      state: Type.Union([Type.Literal("completed"), Type.Literal("failed"), Type.Literal("waiting"), Type.Literal("delayed")]),
      limit: Limit,
    }),
    reply: Ok({ count: Count }),
    handler(ctx: Ctx, r): HandlerResult {
      const q = existing(ctx, r.queue);
      return bulkReply(ctx, q ? queries.clean(ctx.engine, q, r.grace, r.state, r.limit ?? listLimitMax) : null);
    },
  }),

  defineCommand({
    name: "LISTQUEUES",
    summary: "The queues with their counts and settings, in pages (EXT limit/offset; `total` counts them all, `truncated` when more follow); EXT `queue`: that queue's row alone.",
    schema: Type.Object({ limit: Limit, offset: Offset, queue: Type.Optional(Queue) }),
    reply: Ok({
      queues: Type.Array(Type.Object({
        name: Type.String(), pending: Count, processing: Count, completed: Count, delayed: Count, dlq: Count,
        paused: Type.Boolean(), rate_limit: Type.Union([Type.Number(), Type.Null()], { description: "jobs a second (fractional for a per_ms window)" }),
        rate_limit_burst: Type.Union([Type.Integer(), Type.Null()], { description: "EXT: the rate limit's bucket (jobs at once)" }),
        concurrency_limit: Type.Union([Type.Number(), Type.Null()]),
        group_concurrency: Type.Integer({ minimum: 1, description: "EXT: active jobs allowed per group_id" }),
      })),
      total: Count,
      truncated: Truncated,
    }),
    handler(ctx: Ctx, r): HandlerResult {
      const page = queries.listQueues(ctx.engine, r.offset ?? 0, r.limit ?? listLimitMax, r.queue ?? null);
      return page.truncated ? { ok: true, queues: page.queues, total: page.total, truncated: true } : { ok: true, queues: page.queues, total: page.total };
    },
  }),

  defineCommand({
    name: "METRICS",
    summary: "Totals since start (pushed, completed, failed), completions a second and their mean processing time over the last 10 s, and a page of queues (EXT limit/offset).",
    schema: Type.Object({ limit: Limit, offset: Offset }),
    reply: Ok({
      metrics: Type.Object({
        total_pushed: Count, total_completed: Count, total_failed: Count,
        jobs_per_second: Type.Number({ description: "completions a second over the last 10 full seconds" }),
        avg_latency_ms: Type.Number({ description: "mean processing time (active to completed) of those completions" }),
        avg_wait_ms: Type.Number({ description: "EXT: mean time from ready to delivered of those completions" }),
        queues: Type.Array(Type.Object({ name: Type.String(), pending: Count, processing: Count, dlq: Count, rate_limit: Type.Union([Type.Number(), Type.Null()]) })),
        queues_total: Type.Integer({ minimum: 0, description: "EXT: every queue; `queues` is one page of them" }),
      }),
    }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, metrics: queries.metrics(ctx.engine, r.offset ?? 0, r.limit ?? listLimitMax) };
    },
  }),

  defineCommand({
    name: "STATS",
    summary: "Jobs per state across all queues, the I/O backend, and requests that hit an internal error.",
    schema: Type.Object({}),
    reply: Ok({
      queued: Count, processing: Count, delayed: Count, dlq: Count, completed: Count, io_backend: Type.String(),
      internal_errors: Type.Integer({ minimum: 0, description: "EXT: requests answered INTERNAL since start (each logged with its stack)" }),
      clients: Type.Record(Type.String(), Type.Integer({ minimum: 1 }), { description: "EXT: open connections by the client name given in HELLO" }),
    }),
    handler(ctx: Ctx): HandlerResult {
      return { ok: true, ...queries.stats(ctx.engine), io_backend: ctx.server.ioBackend, internal_errors: ctx.server.stats.internalErrors, clients: ctx.server.clients() };
    },
  }),
];
