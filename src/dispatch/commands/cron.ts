// CRON / CRONDELETE / CRONLIST: schedules that push jobs on a cron pattern (5 fields, 6 with
// seconds first, flashQ's bare `*/N` for every N seconds) in an IANA time zone (EXT `tz`,
// default UTC), or every `repeat_every` ms. The jobs get the schedule's data, priority and (EXT)
// any push option but job_id (each run's custom id names its slot), depends_on and name (the
// jobs are named after the schedule).

import { Type } from "@sinclair/typebox";
import { durationMsMax, scheduleEveryMsMin, scheduleNameCharsMax, schedulesMax } from "../../constants.ts";
import type { Schedule } from "../../engine/scheduler.ts";
import { ClientError } from "../../errors.ts";
import { Raw } from "../../protocol/msgpack.ts";
import type { Ctx, HandlerResult } from "../context.ts";
import { Ok, Payload, Priority, pushOptions, Queue } from "../fields.ts";
import { defineCommand } from "../registry.ts";
import { pushInputOf } from "./produce.ts";

const Name = Type.String({ minLength: 1, maxLength: scheduleNameCharsMax, description: "the schedule's name (same name: replaced)" });
// `name` is the schedule's (its jobs carry it as their name, as BullMQ's job schedulers do);
// job_id and depends_on stay in the schema so that they are refused by name, not ignored.
const { priority: _priority, name: _name, ...cronPushOptions } = pushOptions;

const CronEntry = Type.Object({
  name: Type.String(),
  queue: Type.String(),
  data: Type.Unknown(),
  schedule: Type.Union([Type.String(), Type.Null()]),
  repeat_every: Type.Union([Type.Integer(), Type.Null()]),
  priority: Type.Integer(),
  next_run: Type.Integer({ description: "ms epoch of the next run" }),
  executions: Type.Integer({ minimum: 0, description: "runs made so far" }),
  limit: Type.Union([Type.Integer(), Type.Null()]),
  tz: Type.String({ description: "EXT: the time zone the pattern is read in" }),
  last_error: Type.Union([Type.String(), Type.Null()], { description: "EXT: why the last run made no job (its push was refused), or null" }),
});

function entryOf(s: Schedule): Record<string, unknown> {
  const spec = s.spec;
  return {
    name: spec.name, queue: spec.push.queue, data: new Raw(spec.push.data), schedule: spec.pattern,
    repeat_every: spec.pattern === null ? spec.everyMs : null, priority: spec.push.priority ?? 0,
    next_run: s.deadline, executions: s.runs, limit: spec.limit === 0 ? null : spec.limit, tz: spec.tz, last_error: s.lastError,
  };
}

export const cronCommands = [
  defineCommand({
    name: "CRON",
    summary: `Creates or replaces a schedule pushing a job to \`queue\` on \`schedule\` (5 or 6 cron fields, or */N seconds) or every \`repeat_every\` ms, \`limit\` times at most (at most ${schedulesMax} schedules).`,
    schema: Type.Object({
      name: Name,
      queue: Queue,
      data: Payload,
      schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "cron pattern: 5 fields, 6 with seconds first, or */N (every N seconds)" })),
      repeat_every: Type.Optional(Type.Integer({ minimum: scheduleEveryMsMin, maximum: durationMsMax, description: "ms between runs, from the schedule's creation" })),
      priority: Type.Optional(Priority),
      limit: Type.Optional(Type.Integer({ minimum: 1, description: "runs before the schedule is deleted" })),
      tz: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "EXT: IANA time zone of the pattern (default UTC)" })),
      ...cronPushOptions,
    }),
    raw: { data: true },
    reply: Ok({ next_run: Type.Integer({ description: "EXT: ms epoch of the first run" }) }),
    handler(ctx: Ctx, r): HandlerResult {
      if ((r.schedule === undefined) === (r.repeat_every === undefined)) {
        throw new ClientError("INVALID", "Invalid CRON request: give 'schedule' or 'repeat_every' (one of them)");
      }
      if (r.tz !== undefined && r.schedule === undefined) throw new ClientError("INVALID", "Invalid CRON request: field 'tz' applies to 'schedule' only");
      if (r.job_id !== undefined) throw new ClientError("INVALID", "Invalid CRON request: field 'job_id': each run's custom id is cron:<name>:<slot>");
      if (r.depends_on !== undefined) throw new ClientError("INVALID", "Invalid CRON request: field 'depends_on': a schedule's jobs cannot wait on fixed ids");
      const push = pushInputOf(r.queue, r);
      const s = ctx.engine.scheduler.upsert({
        name: r.name, pattern: r.schedule ?? null, everyMs: r.repeat_every ?? 0, tz: r.tz ?? "UTC", limit: r.limit ?? 0,
        push: { ...push, priority: r.priority, name: r.name },
      });
      return { ok: true, next_run: s.deadline };
    },
  }),

  defineCommand({
    name: "CRONDELETE",
    summary: "Deletes a schedule (the jobs it made stay).",
    schema: Type.Object({ name: Name }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      if (!ctx.engine.scheduler.delete(r.name)) throw new ClientError("NOT_FOUND", `No cron schedule named '${r.name.slice(0, 64)}'`);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "CRONLIST",
    summary: "Every schedule: name, queue, data, pattern or interval, priority, next run, runs made, limit.",
    schema: Type.Object({}),
    reply: Ok({ crons: Type.Array(CronEntry) }),
    handler(ctx: Ctx): HandlerResult {
      return { ok: true, crons: ctx.engine.scheduler.list().map(entryOf) };
    },
  }),
];
