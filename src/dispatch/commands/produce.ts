// PUSH and PUSHB: a validated request becomes one engine push per job. PUSHB answers per item:
// `ids` in input order with null where an entry was refused, and `errors` naming each refusal.

import { Type } from "@sinclair/typebox";
import { debounceTtlMsDefault, jobDataBytesMax, pushBatchJobsMax } from "../../constants.ts";
import type { PushInput } from "../../engine/engine.ts";
import { ClientError } from "../../errors.ts";
import { BorrowedRaw, Raw } from "../../protocol/msgpack.ts";
import type { Ctx, HandlerResult } from "../context.ts";
import { Id, JobSpec, Ok, Payload, pushOptions, Queue } from "../fields.ts";
import { defineCommand } from "../registry.ts";

const NIL = new Uint8Array([0xc0]);

/** Payload bytes of a field the decoder kept raw (absent: MessagePack nil). */
export function payload(v: unknown): Uint8Array {
  return v instanceof Raw ? v.bytes : NIL;
}

export function checkDataSize(bytes: Uint8Array | number): void {
  const n = typeof bytes === "number" ? bytes : bytes.length;
  if (n > jobDataBytesMax) {
    throw new ClientError("LIMIT", `Job data too large: ${n} bytes (limit ${jobDataBytesMax})`);
  }
}

/**
 * One PushInput reused for every push: engine.push copies what it keeps and never holds the
 * object, and a push never starts another push, so this allocates nothing per job. (A profile
 * put ~15% of PUSHB's samples on the object literal; removing it did not move CPU time
 * measurably on the busy test machine: it is one allocation fewer, not a proven speed-up.)
 */
const scratch: PushInput = {
  queue: "", data: NIL, dataStart: undefined, dataEnd: undefined, priority: undefined, delay: undefined, ttl: undefined, timeout: undefined,
  maxAttempts: undefined, backoff: undefined, backoffFixed: undefined, backoffJitter: undefined, keepLogs: undefined, uniqueKey: undefined,
  customId: undefined, tags: undefined, lifo: undefined, removeOnComplete: undefined,
  removeOnFail: undefined, stallTimeout: undefined, groupId: undefined, name: undefined,
  keepCompletedAge: undefined, keepCompletedCount: undefined, keepFailedAge: undefined, keepFailedCount: undefined,
  dedupKey: undefined, dedupTtl: undefined, dependsOn: undefined, onFailure: undefined,
};

type Keep = boolean | number | { age?: number; count?: number } | undefined;

/** remove_on_complete / remove_on_fail: true or 0 drop the record; n keeps the last n; {age, count}. */
function removeFlag(v: Keep): boolean | undefined {
  return v === undefined ? undefined : v === true || v === 0 || (typeof v === "object" && v.count === 0);
}
function keepCount(v: Keep): number | undefined {
  if (typeof v === "number") return v > 0 ? v : undefined;
  return typeof v === "object" && v.count !== undefined && v.count > 0 ? v.count : undefined;
}
const keepAge = (v: Keep): number | undefined => (typeof v === "object" ? v.age : undefined);

/** debounce_id/debounce_ttl (flashQ) or deduplication {id, ttl} (BullMQ), one or the other. */
function dedupOf(spec: JobSpec, p: PushInput): void {
  if (spec.deduplication !== undefined) {
    if (spec.debounce_id !== undefined || spec.debounce_ttl !== undefined) {
      throw new ClientError("INVALID", "Invalid push: give deduplication or debounce_id/debounce_ttl, not both");
    }
    p.dedupKey = spec.deduplication.id;
    p.dedupTtl = spec.deduplication.ttl;
    return;
  }
  if (spec.debounce_id === undefined) throw new ClientError("INVALID", "Invalid push: debounce_ttl needs debounce_id");
  p.dedupKey = spec.debounce_id;
  p.dedupTtl = spec.debounce_ttl ?? debounceTtlMsDefault;
}

/** The PushInput of one job (a fresh object: a flow keeps one per node). */
export function pushInputOf(queue: string, spec: JobSpec): PushInput {
  const p = { ...toPushInput(queue, spec) };
  // Kept past the request: never a borrowed range of its frame.
  if (p.dataStart !== undefined) p.data = p.data.slice(p.dataStart, p.dataEnd);
  p.dataStart = p.dataEnd = undefined;
  return p;
}

function toPushInput(queue: string, spec: JobSpec): PushInput {
  const b = spec.backoff;
  const p = scratch;
  const d = spec.data;
  if (d instanceof BorrowedRaw) {
    // PUSH and PUSHB: the frame's bytes, copied into the engine's payload arena by the push.
    checkDataSize(d.end - d.start);
    p.data = d.src;
    p.dataStart = d.start;
    p.dataEnd = d.end;
  } else {
    const bytes = payload(d);
    checkDataSize(bytes);
    p.data = bytes;
    p.dataStart = undefined;
    p.dataEnd = undefined;
  }
  p.queue = queue;
  p.priority = spec.priority;
  p.delay = spec.delay;
  p.ttl = spec.ttl;
  p.timeout = spec.timeout;
  p.maxAttempts = spec.max_attempts;
  p.backoff = typeof b === "number" ? b : b?.delay;
  p.backoffFixed = typeof b === "object" && b.type === "fixed";
  p.backoffJitter = typeof b === "object" && b.jitter !== undefined && b.jitter > 0 ? b.jitter : undefined;
  p.keepLogs = spec.keep_logs;
  p.uniqueKey = spec.unique_key;
  p.customId = spec.job_id;
  p.tags = spec.tags;
  p.lifo = spec.lifo;
  const rc = spec.remove_on_complete;
  const rf = spec.remove_on_fail;
  p.removeOnComplete = removeFlag(rc);
  p.removeOnFail = removeFlag(rf);
  if (spec.keep_completed_count !== undefined && keepCount(rc) !== undefined) {
    throw new ClientError("INVALID", "Invalid push: give the completed records to keep once (keep_completed_count or remove_on_complete)");
  }
  if (spec.keep_completed_age !== undefined && keepAge(rc) !== undefined) {
    throw new ClientError("INVALID", "Invalid push: give the completed records' age once (keep_completed_age or remove_on_complete.age)");
  }
  if (p.removeOnComplete === true && (spec.keep_completed_count !== undefined || spec.keep_completed_age !== undefined)) {
    throw new ClientError("INVALID", "Invalid push: remove_on_complete drops the record, so keep_completed_count/keep_completed_age would have no effect");
  }
  p.keepCompletedCount = spec.keep_completed_count ?? keepCount(rc);
  p.keepCompletedAge = spec.keep_completed_age ?? keepAge(rc);
  p.keepFailedCount = keepCount(rf);
  p.keepFailedAge = keepAge(rf);
  p.dedupKey = undefined;
  p.dedupTtl = undefined;
  p.dependsOn = spec.depends_on;
  p.onFailure = undefined;
  if (spec.debounce_id !== undefined || spec.debounce_ttl !== undefined || spec.deduplication !== undefined) dedupOf(spec, p);
  p.stallTimeout = spec.stall_timeout;
  p.groupId = spec.group_id;
  p.name = spec.name;
  return p;
}

const ItemError = Type.Object({ index: Type.Integer(), error: Type.String(), code: Type.String() });

export const produceCommands = [
  defineCommand({
    name: "PUSH",
    summary: "Adds a job; returns its id (or the existing job's id for a live job_id).",
    schema: Type.Object({ queue: Queue, data: Payload, ...pushOptions }),
    // The engine copies the bytes into its payload arena before the handler returns.
    raw: { data: "borrowed" },
    reply: Ok({ id: Id, deduplicated: Type.Optional(Type.Literal(true, { description: "EXT: a deduplication window stood for the push: `id` is the job that opened it" })) }),
    handler(ctx: Ctx, r): HandlerResult {
      const id = ctx.engine.push(toPushInput(r.queue, r));
      return ctx.engine.lastPushDeduplicated ? { ok: true, id, deduplicated: true } : { ok: true, id };
    },
  }),

  defineCommand({
    name: "PUSHB",
    summary: `Adds up to ${pushBatchJobsMax} jobs; ids in input order, null and an entry in errors for each refused one.`,
    schema: Type.Object({ queue: Queue, jobs: Type.Array(JobSpec, { maxItems: pushBatchJobsMax, description: "each: data and the push options of PUSH" }) }),
    raw: { jobs: [{ data: "borrowed" }] },
    reply: Ok({
      ids: Type.Array(Type.Union([Id, Type.Null()])),
      errors: Type.Optional(Type.Array(ItemError)),
      deduplicated: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { description: "EXT: indexes whose push a deduplication window stood for (their id is the standing job's)" })),
    }),
    handler(ctx: Ctx, r): HandlerResult {
      const ids: (number | null)[] = [];
      const errors: { index: number; error: string; code: string }[] = [];
      let deduplicated: number[] | null = null;
      r.jobs.forEach((spec, i) => {
        try {
          ids.push(ctx.engine.push(toPushInput(r.queue, spec)));
          if (ctx.engine.lastPushDeduplicated) (deduplicated ??= []).push(i);
        } catch (e) {
          if (!(e instanceof ClientError)) throw e;
          ids.push(null);
          errors.push({ index: i, error: e.message, code: e.code });
        }
      });
      const reply: Record<string, unknown> = { ok: true, ids };
      if (errors.length > 0) reply.errors = errors;
      if (deduplicated !== null) reply.deduplicated = deduplicated;
      return reply;
    },
  }),
];
