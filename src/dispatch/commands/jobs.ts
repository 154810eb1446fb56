// Commands on one job by id: read it (GETJOB, GETSTATE, GETRESULT, ...), wait for it (WAITJOB),
// change it (priority, data, delay, progress, logs) or end it early (CANCEL, PROMOTE, DISCARD).
// Finished jobs are read-only.

import { Type } from "@sinclair/typebox";
import { logMessageCharsMax, logsPerJobMax, parkMsMax, waitJobTimeoutMsDefault } from "../../constants.ts";
import { isFinished, JobState, stateName, type Job } from "../../engine/model.ts";
import { ClientError, errorReply } from "../../errors.ts";
import { Raw } from "../../protocol/msgpack.ts";
import { StatedJob } from "../../protocol/writer.ts";
import { park, type Ctx, type HandlerResult } from "../context.ts";
import { Duration, Id, Ids, JobObject, JobWithState, Key, LockToken, Ok, Payload, Priority, ReplyBudget, StateName, Truncated } from "../fields.ts";
import { jobBytesBound } from "../../protocol/job-wire.ts";
import { defineCommand } from "../registry.ts";
import { token } from "./consume.ts";
import { checkDataSize, payload } from "./produce.ts";

const byId = Type.Object({ id: Id });

/** A job that has not finished; finished jobs are read-only. */
function live(ctx: Ctx, id: number): Job {
  const job = ctx.engine.mustGet(id);
  if (isFinished(job.state)) throw new ClientError("INVALID_STATE", `Job ${id} is ${stateName(job)}`);
  return job;
}

function resultOf(job: Job): Raw | null {
  const r = job.x?.result;
  return r ? new Raw(r) : null;
}

function jobFailed(job: Job): ClientError {
  return new ClientError("JOB_FAILED", `Job failed: ${job.x?.error ?? "unknown error"}`);
}

const LogLine = Type.Object({ timestamp: Type.Number(), message: Type.String(), level: Type.String() });

export const jobCommands = [
  defineCommand({
    name: "PROGRESS",
    summary: "Reports the progress (0-100) of an active job, with an optional message; emits a progress event.",
    schema: Type.Object({
      id: Id,
      progress: Type.Number({ minimum: 0, maximum: 100 }),
      message: Type.Optional(Type.String({ maxLength: logMessageCharsMax })),
    }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.setProgress(ctx.engine.mustGet(r.id), r.progress, r.message ?? null);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "GETPROGRESS",
    summary: "The progress of a job.",
    schema: byId,
    reply: Ok({ progress: Type.Object({ id: Id, progress: Type.Number(), message: Type.Union([Type.String(), Type.Null()]) }) }),
    handler(ctx: Ctx, r): HandlerResult {
      const x = ctx.engine.mustGet(r.id).x;
      return { ok: true, progress: { id: r.id, progress: x?.progress ?? 0, message: x?.progressMsg ?? null } };
    },
  }),

  defineCommand({
    name: "GETJOB",
    summary: "A job and its state (job null, state unknown when there is none).",
    schema: byId,
    reply: Ok({ job: Type.Union([JobObject, Type.Null()]), state: StateName }),
    handler(ctx: Ctx, r): HandlerResult {
      const job = ctx.engine.getJob(r.id);
      return { ok: true, job: job ?? null, state: stateName(job) };
    },
  }),

  defineCommand({
    name: "GETSTATE",
    summary: "The state of a job.",
    schema: byId,
    reply: Ok({ id: Id, state: StateName }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, id: r.id, state: stateName(ctx.engine.getJob(r.id)) };
    },
  }),

  defineCommand({
    name: "GETRESULT",
    summary: "The result a completed job was acknowledged with (null when none).",
    schema: byId,
    reply: Ok({ id: Id, result: Type.Unknown() }),
    handler(ctx: Ctx, r): HandlerResult {
      const job = ctx.engine.getJob(r.id);
      return { ok: true, id: r.id, result: job === undefined ? null : resultOf(job) };
    },
  }),

  defineCommand({
    name: "GETJOBBYCUSTOMID",
    summary: "The job pushed with this job_id, and its state.",
    schema: Type.Object({ job_id: Key }),
    reply: Ok({ job: Type.Union([JobObject, Type.Null()]), state: StateName }),
    handler(ctx: Ctx, r): HandlerResult {
      const id = ctx.engine.customIds.get(r.job_id);
      const job = id === undefined ? undefined : ctx.engine.getJob(id);
      return { ok: true, job: job ?? null, state: stateName(job) };
    },
  }),

  defineCommand({
    name: "GETJOBSBATCH",
    summary: "The jobs of these ids that exist, each with its state; cut (truncated) where one reply frame is full.",
    schema: Type.Object({ ids: Ids }),
    reply: Ok({ jobs: Type.Array(JobWithState), truncated: Truncated }),
    handler(ctx: Ctx, r): HandlerResult {
      const jobs: StatedJob[] = [];
      const budget = new ReplyBudget();
      for (const id of r.ids) {
        const job = ctx.engine.getJob(id);
        if (job === undefined) continue;
        if (!budget.take(jobBytesBound(job))) break;
        jobs.push(new StatedJob(job, stateName(job)));
      }
      return budget.truncated ? { ok: true, jobs, truncated: true } : { ok: true, jobs };
    },
  }),

  defineCommand({
    name: "WAITJOB",
    summary: "Waits until a job finishes: its result, or an error when it failed, was removed or the wait timed out.",
    schema: Type.Object({ id: Id, timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: parkMsMax })) }),
    reply: Ok({ result: Type.Unknown() }),
    handler(ctx: Ctx, r): HandlerResult {
      const job = ctx.engine.getJob(r.id);
      if (job === undefined) throw new ClientError("NOT_FOUND", `Job not found: ${r.id}`);
      if (job.state === JobState.Completed) return { ok: true, result: resultOf(job) };
      if (job.state === JobState.Failed) throw jobFailed(job);
      return park(ctx, (answer) =>
        ctx.engine.waitFinish(r.id, r.timeout ?? waitJobTimeoutMsDefault, (f) => {
          switch (f.kind) {
            case "completed":
              return answer({ ok: true, result: resultOf(f.job) });
            case "failed":
              return answer(errorReply("JOB_FAILED", jobFailed(f.job).message));
            case "removed":
              return answer(errorReply("NOT_FOUND", `Job not found: ${f.id} was removed`));
            case "timeout":
              return answer(errorReply("TIMEOUT", `Timeout waiting for job ${f.id}`));
          }
        }),
      );
    },
  }),

  defineCommand({
    name: "CANCEL",
    summary: "Removes a job in any state. The worker of an active one gets JOB_CANCELLED on its next HEARTBEAT, ACK or FAIL (and a `removed` event if it subscribes).",
    schema: byId,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.cancel(r.id);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "CHANGEPRIORITY",
    summary: "Changes the priority of an unfinished job.",
    schema: Type.Object({ id: Id, priority: Priority }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.changePriority(live(ctx, r.id), r.priority);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "MOVETODELAYED",
    summary: "Delays a waiting, delayed or active job by `delay` ms (an active one gives up its lease).",
    schema: Type.Object({ id: Id, delay: Duration, lock_token: LockToken }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.moveToDelayed(ctx.engine.mustGet(r.id), r.delay, token(r.lock_token));
      return { ok: true };
    },
  }),

  defineCommand({
    name: "PROMOTE",
    summary: "Makes a delayed job waiting now.",
    schema: byId,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.promote(ctx.engine.mustGet(r.id));
      return { ok: true };
    },
  }),

  defineCommand({
    name: "UPDATEJOB",
    summary: "Replaces the data of an unfinished job.",
    schema: Type.Object({ id: Id, data: Payload }),
    raw: { data: true },
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const data = payload(r.data);
      checkDataSize(data);
      ctx.engine.updateData(live(ctx, r.id), data);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "PARTIAL",
    summary: "Streams a partial result of an active job to subscribers as a `partial` event (data, index); not stored.",
    schema: Type.Object({
      id: Id,
      data: Payload,
      index: Type.Optional(Type.Integer({ minimum: 0, description: "the part's number, passed on in the event" })),
      lock_token: LockToken,
    }),
    raw: { data: true },
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const bytes = payload(r.data);
      checkDataSize(bytes);
      ctx.engine.partial(r.id, token(r.lock_token), bytes, r.index ?? null);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "LOG",
    summary: "Appends a log line to a job.",
    schema: Type.Object({
      id: Id,
      message: Type.String({ maxLength: logMessageCharsMax }),
      level: Type.Optional(Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")])),
    }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.addLog(ctx.engine.mustGet(r.id), r.message, r.level ?? "info");
      return { ok: true };
    },
  }),

  defineCommand({
    name: "GETLOGS",
    summary: "The log lines of a job, oldest first.",
    schema: byId,
    reply: Ok({ logs: Type.Array(LogLine) }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, logs: ctx.engine.mustGet(r.id).x?.logs ?? [] };
    },
  }),

  defineCommand({
    name: "CLEARLOGS",
    summary: "EXT (BullMQ job.clearLogs): drops a job's log lines but the last `keep` (default 0: all); returns how many went.",
    schema: Type.Object({
      id: Id,
      keep: Type.Optional(Type.Integer({ minimum: 0, maximum: logsPerJobMax, description: "the newest lines kept" })),
    }),
    reply: Ok({ removed: Type.Integer({ minimum: 0 }) }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, removed: ctx.engine.clearLogs(ctx.engine.mustGet(r.id), r.keep ?? 0) };
    },
  }),

  defineCommand({
    name: "DISCARD",
    summary: "Moves an unfinished job to the DLQ at once.",
    schema: byId,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.fail(ctx.engine.mustGet(r.id), "Discarded");
      return { ok: true };
    },
  }),
];
