// What workers send: PULL/PULLB (answered at once or parked until a job is ready), ACK/ACKB,
// FAIL and HEARTBEAT. Each is one engine operation; the lock token, when a worker sends it,
// is checked by the engine (a stale one is STALE_LOCK).

import { Type } from "@sinclair/typebox";
import { errorCharsMax, parkMsMax, pullBatchJobsMax, pullTimeoutMsDefault } from "../../constants.ts";
import { ClientError } from "../../errors.ts";
import { SparseJobs } from "../../protocol/job-wire.ts";
import { Raw } from "../../protocol/msgpack.ts";
import { park, type Ctx, type HandlerResult } from "../context.ts";
import { Id, Ids, JobObject, LockToken, Ok, Payload, Queue, SparseJobObject } from "../fields.ts";
import { defineCommand } from "../registry.ts";

/** lock_token arrives as a string (flashQ) or a number; undefined means "not checked". */
export function token(t: string | number | undefined): number | undefined {
  if (t === undefined) return undefined;
  const n = typeof t === "number" ? t : Number(t);
  if (!Number.isSafeInteger(n)) throw new ClientError("INVALID", `Invalid field 'lock_token': not a token this server issued`);
  return n;
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
        const w = ctx.engine.pullOrPark(r.queue, 1, r.timeout ?? pullTimeoutMsDefault, (jobs) =>
          answer({ ok: true, job: jobs[0] ?? null }),
        );
        return w === null ? null : () => ctx.engine.cancelPull(w);
      });
    },
  }),

  defineCommand({
    name: "PULLB",
    summary: "Takes up to `count` ready jobs, waiting up to `timeout` ms for the first; [] on timeout.",
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
        const w = ctx.engine.pullOrPark(r.queue, r.count, r.timeout ?? pullTimeoutMsDefault, (jobs) =>
          answer({ ok: true, jobs: sparse ? new SparseJobs(jobs) : jobs }),
        );
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
      ctx.engine.complete(r.id, token(r.lock_token), r.result instanceof Raw ? r.result.bytes : null);
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
    summary: "Fails an attempt of an active job: retried with backoff, or moved to the DLQ when attempts are used up.",
    schema: Type.Object({ id: Id, error: Type.Optional(Type.String()), lock_token: LockToken }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const error = (r.error ?? "Job failed").slice(0, errorCharsMax);
      ctx.engine.failAttempt(r.id, token(r.lock_token), error);
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
