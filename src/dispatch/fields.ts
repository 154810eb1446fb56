// The building blocks of command schemas (typebox, so they are JSON Schema as well): ids, queue
// names, durations, push options, and the reply shapes (the job object among them, derived from
// the wire field list). Limits come from constants.ts; a field's schema is its validation, its
// documentation and (later) its OpenAPI entry.

import { Type, type Static, type TSchema } from "@sinclair/typebox";
import {
  durationMsMax,
  debounceTtlMsDefault,
  dependsOnMax,
  finishedKeptMax,
  idsBatchMax,
  keyCharsMax,
  logsPerJobMax,
  maxAttemptsMax,
  queueNameCharsMax,
  replyItemsBytesMax,
  tagCharsMax,
  tagsMax,
} from "../constants.ts";
import { jobWireFields } from "../protocol/job-wire.ts";

export const Opt = Type.Optional;

export const Id = Type.Integer({ minimum: 0, description: "job id" });
export const Queue = Type.String({
  minLength: 1, maxLength: queueNameCharsMax, pattern: "^[A-Za-z0-9_.:\\-]+$",
  description: "queue name: 1-256 letters, digits, `_-.:`",
});
export const Duration = Type.Integer({ minimum: 0, maximum: durationMsMax, description: "milliseconds" });
export const Key = Type.String({ minLength: 1, maxLength: keyCharsMax });
export const LockToken = Opt(Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 0 })], {
  description: "the lock_token of the delivery; when given, a stale one is refused (STALE_LOCK)",
}));
export const Ids = Type.Array(Id, { maxItems: idsBatchMax });
export const Priority = Type.Integer({ minimum: -(2 ** 31), maximum: 2 ** 31 - 1, description: "higher runs first" });
/** A payload: any JSON/MessagePack value, kept as the bytes it arrived in. */
export const Payload = Type.Unknown({ description: "any value; stored and returned as sent" });

/** How many finished records a job may ask to keep (the server's own bound applies too). */
const KeepCount = Type.Integer({ minimum: 0, maximum: finishedKeptMax, description: "records kept (0: none)" });
const KeepSpec = Type.Object({
  age: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "ms after finishing" })),
  count: Opt(Type.Integer({ minimum: 0, maximum: finishedKeptMax })),
});

export const pushOptions = {
  /** EXT: the producer's name for the job (BullMQ job.name), returned in the job object. */
  name: Opt(Type.String({ maxLength: keyCharsMax, description: "EXT: the producer's name for the job" })),
  priority: Opt(Priority),
  delay: Opt(Type.Integer({ minimum: 0, maximum: durationMsMax, description: "ms before the job may run" })),
  ttl: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "ms from creation after which an undelivered job fails" })),
  timeout: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "ms of processing; past it the attempt fails" })),
  max_attempts: Opt(Type.Integer({ minimum: 1, maximum: maxAttemptsMax, description: "attempts before the DLQ (default 3)" })),
  backoff: Opt(
    Type.Union([
      Duration,
      Type.Object({
        type: Type.Union([Type.Literal("fixed"), Type.Literal("exponential")]),
        delay: Duration,
        jitter: Opt(Type.Number({ minimum: 0, maximum: 1, description: "EXT (BullMQ): each retry's delay is drawn from [delay x (1 - jitter), delay]" })),
      }),
    ], { description: "retry delay: base ms (exponential), or {type, delay, jitter?}" }),
  ),
  unique_key: Opt(Type.String({ minLength: 1, maxLength: keyCharsMax, description: "refuses a duplicate while the holder is unfinished" })),
  job_id: Opt(Type.String({ minLength: 1, maxLength: keyCharsMax, description: "custom id: a push with a live one returns that job's id" })),
  tags: Opt(Type.Array(Type.String({ maxLength: tagCharsMax }), { maxItems: tagsMax })),
  lifo: Opt(Type.Boolean({ description: "last in, first out within its priority" })),
  remove_on_complete: Opt(Type.Union([Type.Boolean(), KeepCount, KeepSpec], {
    description: "true: no record once completed; a number n: keep the queue's last n completed (BullMQ); EXT {age (ms), count}",
  })),
  remove_on_fail: Opt(Type.Union([Type.Boolean(), KeepCount, KeepSpec], {
    description: "true: no DLQ record; a number n: keep the queue's last n failed (BullMQ); EXT {age (ms), count}",
  })),
  keep_completed_age: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "ms the completed record is kept (at most the server's KEEP_COMPLETED_AGE_MS)" })),
  keep_completed_count: Opt(Type.Integer({ minimum: 1, maximum: finishedKeptMax, description: "keep the queue's last n completed records (at most the server's KEEP_COMPLETED)" })),
  stall_timeout: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "lease ms (default 30000)" })),
  keep_logs: Opt(Type.Integer({ minimum: 1, maximum: logsPerJobMax, description: `EXT (BullMQ keepLogs): the job keeps its last n log lines (default and most ${logsPerJobMax})` })),
  group_id: Opt(Type.String({ minLength: 1, maxLength: keyCharsMax, description: "FIFO per group: at most group_concurrency (default 1) active jobs of a group; groups take turns" })),
  depends_on: Opt(Type.Array(Id, { maxItems: dependsOnMax, description: "ids of jobs that must complete first: the job waits in waitingchildren; a failed or removed dependency fails it" })),
  debounce_id: Opt(Type.String({ minLength: 1, maxLength: keyCharsMax, description: "pushes with the same id within debounce_ttl collapse into the first job (its id is returned)" })),
  debounce_ttl: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: `the debounce window in ms (default ${debounceTtlMsDefault}); needs debounce_id` })),
  deduplication: Opt(Type.Object({
    id: Type.String({ minLength: 1, maxLength: keyCharsMax }),
    ttl: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax, description: "ms; without it, pushes collapse while the job is unfinished" })),
  }, { description: "EXT (BullMQ): like debounce_id/debounce_ttl; without ttl the window lasts until the job finishes" })),
};

export const JobSpec = Type.Object({ data: Payload, ...pushOptions });
export type JobSpec = Static<typeof JobSpec>;

// ---- replies ----

const nullable = (t: TSchema): TSchema => Type.Union([t, Type.Null()]);

function jobObject(sparse: boolean): TSchema {
  const props: Record<string, TSchema> = {};
  for (const f of jobWireFields) {
    let t: TSchema;
    switch (f.kind) {
      case "num": t = Type.Number(); break;
      case "num?": t = nullable(Type.Number()); break;
      case "bool": t = Type.Boolean(); break;
      case "queue": t = Type.String(); break;
      case "token": t = nullable(Type.String()); break;
      default: t = Type.Unknown(); break;
    }
    const omittable = sparse && f.kind !== "num" && f.kind !== "queue" && f.kind !== "data";
    props[f.name] = omittable ? Opt(t) : t;
  }
  return Type.Object(props, { description: sparse ? "a job without its null and false fields" : "a job (docs/protocol.md, Job object)" });
}

export const JobObject = jobObject(false);
export const SparseJobObject = jobObject(true);
export const StateName = Type.String({ description: "waiting, delayed, active, completed, failed, waitingchildren, waitingparent or unknown" });
export const JobWithState = Type.Intersect([JobObject, Type.Object({ state: StateName })]);

/** EXT: set when a listing was cut before its limit because one reply frame could not hold more. */
export const Truncated = Opt(Type.Literal(true, { description: "EXT: the listing was cut to fit one reply frame; page on with offset" }));

/** Counts the bytes a reply's items may take (replyItemsBytesMax); the first item always fits. */
export class ReplyBudget {
  private left = replyItemsBytesMax;
  private items = 0;
  truncated = false;

  take(bytes: number): boolean {
    if (bytes > this.left && this.items > 0) {
      this.truncated = true;
      return false;
    }
    this.left -= bytes;
    this.items++;
    return true;
  }
}

/** A success reply with these fields besides `ok`. */
export const Ok = (fields: Record<string, TSchema> = {}) => Type.Object({ ok: Type.Literal(true), ...fields });
