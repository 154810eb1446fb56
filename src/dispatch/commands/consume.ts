// What workers send: PULL/PULLB (answered at once or parked until a job is ready), ACK/ACKB,
// FAIL and HEARTBEAT. Each is one engine operation; the lock token, when a worker sends it,
// is checked by the engine (a stale one is STALE_LOCK).

import { Type } from "@sinclair/typebox";
import { errorCharsMax, parkMsMax, pullBatchJobsMax, pullTimeoutMsDefault, replyItemsBytesMax, resultBytesMax } from "../../constants.ts";
import type { Engine } from "../../engine/engine.ts";
import type { DeliveryLimit, Job } from "../../engine/model.ts";
import { ClientError, errorReply } from "../../errors.ts";
import { jobBytesBound, SparseJobs } from "../../protocol/job-wire.ts";
import { Raw } from "../../protocol/msgpack.ts";
import { park, type Answer, type Ctx, type HandlerResult, type Reply } from "../context.ts";
import { Id, Ids, JobObject, LockToken, Ok, Payload, Queue, SparseJobObject } from "../fields.ts";
import { defineCommand } from "../registry.ts";

/** lock_token arrives as a string (flashQ) or a number; undefined means "not checked". */
export function token(t: string | number | undefined): number | undefined {
  if (t === undefined) return undefined;
  const n = typeof t === "number" ? t : Number(t);
  if (!Number.isSafeInteger(n)) throw new ClientError("INVALID", `Invalid field 'lock_token': not a token this server issued`);
  return n;
}

/** A PULLB batch is cut where its jobs would no longer fit one reply frame. */
const oneFrame: DeliveryLimit = { costMax: replyItemsBytesMax, cost: jobBytesBound };

/**
 * Hands pulled jobs to the worker. A reply that cannot be written puts its jobs back (waiting,
 * no attempt counted): one too large for a frame (a JSON reply can outgrow its estimate) is
 * retried with the first half, down to one job and then an error; a gone connection gets none.
 */
function deliver(engine: Engine, answer: Answer, jobs: Job[], reply: (jobs: Job[]) => Reply): void {
  if (answer(reply(jobs))) return;
  if (jobs.length > 1) {
    const half = Math.ceil(jobs.length / 2);
    engine.release(jobs.slice(half));
    return deliver(engine, answer, jobs.slice(0, half), reply);
  }
  engine.release(jobs);
  answer(errorReply("TOO_LARGE", "The job's reply would exceed the frame limit in this framing; it stays waiting (pull it over binary MessagePack)"));
}

const PullTimeout = Type.Optional(Type.Integer({ minimum: 0, maximum: parkMsMax, description: `ms to wait for a job (default ${pullTimeoutMsDefault}; 0: do not wait)` }));

export const consumeCommands = [
  defineCommand({
    name: "PULL",
    summary: "Takes the next ready job (-> active), waiting up to `timeout` ms for one; job is null on timeout.",
    schema: Type.Object({ queue: Queue, timeout: PullTimeout }),
    reply: Ok({ job: Type.Union([JobObject, Type.Null()]) }),
    handler(ctx: Ctx, r): HandlerResult {
      return park(ctx, (answer) => {
        const one = (jobs: Job[]): Reply => ({ ok: true, job: jobs[0] ?? null });
        const w = ctx.engine.pullOrPark(r.queue, 1, r.timeout ?? pullTimeoutMsDefault,
          (jobs) => deliver(ctx.engine, answer, jobs, one), { blocked: ctx.deliveryBlocked });
        return w === null ? null : () => ctx.engine.cancelPull(w);
      });
    },
  }),

  defineCommand({
    name: "PULLB",
    summary: "Takes up to `count` ready jobs, waiting up to `timeout` ms for the first; [] on timeout. Fewer when their bytes would pass one reply frame (the rest stay waiting).",
    schema: Type.Object({
      queue: Queue,
      count: Type.Integer({ minimum: 1, maximum: pullBatchJobsMax }),
      timeout: PullTimeout,
      sparse: Type.Optional(Type.Boolean({ description: "EXT: leave out job fields that are null or false" })),
    }),
    reply: Ok({ jobs: Type.Union([Type.Array(JobObject), Type.Array(SparseJobObject)]) }),
    handler(ctx: Ctx, r): HandlerResult {
      return park(ctx, (answer) => {
        const sparse = r.sparse === true;
        const batch = (jobs: Job[]): Reply => ({ ok: true, jobs: sparse ? new SparseJobs(jobs) : jobs });
        const w = ctx.engine.pullOrPark(r.queue, r.count, r.timeout ?? pullTimeoutMsDefault,
          (jobs) => deliver(ctx.engine, answer, jobs, batch), { blocked: ctx.deliveryBlocked, limit: oneFrame });
        return w === null ? null : () => ctx.engine.cancelPull(w);
      });
    },
  }),

  defineCommand({
    name: "ACK",
    summary: "Completes an active job, with an optional result.",
    schema: Type.Object({ id: Id, result: Type.Optional(Payload), lock_token: LockToken }),
    raw: { result: true },
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const result = r.result instanceof Raw ? r.result.bytes : null;
      if (result !== null && result.length > resultBytesMax) {
        throw new ClientError("LIMIT", `Result too large: ${result.length} bytes (limit ${resultBytesMax})`);
      }
      ctx.engine.complete(r.id, token(r.lock_token), result);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "ACKB",
    summary: "Completes many active jobs; `failed` lists those that could not be (not active, unknown).",
    schema: Type.Object({ ids: Ids }),
    reply: Ok({
      ids: Type.Array(Type.Integer(), { description: "flashQ's shape: [count]" }),
      count: Type.Integer(),
      failed: Type.Optional(Type.Array(Type.Object({ id: Id, error: Type.String(), code: Type.String() }))),
    }),
    handler(ctx: Ctx, r): HandlerResult {
      let count = 0;
      const failed: { id: number; error: string; code: string }[] = [];
      for (const id of r.ids) {
        try {
          ctx.engine.complete(id, undefined, null);
          count++;
        } catch (e) {
          if (!(e instanceof ClientError)) throw e;
          failed.push({ id, error: e.message, code: e.code });
        }
      }
      return failed.length === 0 ? { ok: true, ids: [count], count } : { ok: true, ids: [count], count, failed };
    },
  }),

  defineCommand({
    name: "FAIL",
    summary: "Fails an attempt of an active job: retried with backoff, or moved to the DLQ when attempts are used up (at once with EXT `unrecoverable`).",
    schema: Type.Object({
      id: Id,
      error: Type.Optional(Type.String({ description: `the failure's message (failed_reason), kept up to ${errorCharsMax} characters` })),
      stack: Type.Optional(Type.String({ description: `EXT: the error's stack trace, kept in the job's stacktrace (up to ${errorCharsMax} characters)` })),
      unrecoverable: Type.Optional(Type.Boolean({ description: "EXT: no retry: the job goes to the DLQ now (BullMQ UnrecoverableError)" })),
      lock_token: LockToken,
    }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      // A long message is cut, not refused: a refused FAIL would leave the job active until its lease ends.
      const error = (r.error ?? "Job failed").slice(0, errorCharsMax);
      ctx.engine.failAttempt(r.id, token(r.lock_token), error, r.stack?.slice(0, errorCharsMax) ?? null, r.unrecoverable ?? false);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "HEARTBEAT",
    summary: "Extends the lease of an active job.",
    schema: Type.Object({ id: Id, lock_token: LockToken }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.heartbeat(r.id, token(r.lock_token));
      return { ok: true };
    },
  }),
];
