// The stored form of each persisted entity, field by field: a job's rare fields are a MessagePack
// blob (inside its segment record, segments.ts; schema 3 and before stored a row of hot columns
// per job, still read at recovery); a queue is a row of its settings. Renaming
// a field in the engine cannot silently drop data: every JobExtra field must appear below (as a
// numeric field of the record, in the blob table, or as runtime-only), which
// tests/persistence/migrations.test.ts checks.
// The stored names are the schema and never change without a migration (migrations.ts).

import { Packr } from "msgpackr";
import { copyKind, Job, JobExtra, JobState, type KindPolicy, type KindSpec, kindPolicyFields, kindSpec, type LogEntry, type QueueState } from "../engine/model.ts";

/** Same options as the protocol's codec: plain maps as objects, 64-bit ints as numbers. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

export const jobColumns = [
  "id", "q", "state", "priority", "seq", "created_at", "run_at", "started_at", "finished_at",
  "attempts", "max_attempts", "backoff", "stall_timeout", "stall_count", "data", "x",
] as const;

/** A job row of schema version 3 and before, as bun:sqlite returns it (only read now). */
export interface JobRow {
  id: number;
  q: number;
  state: number;
  priority: number;
  seq: number;
  created_at: number;
  run_at: number;
  started_at: number;
  finished_at: number;
  attempts: number;
  max_attempts: number;
  backoff: number;
  stall_timeout: number;
  stall_count: number;
  data: Uint8Array;
  x: Uint8Array | null;
}

export function decodeJobRow(r: JobRow, queue: QueueState): Job {
  const kind = kindSpec({ priority: r.priority, maxAttempts: r.max_attempts, backoff: r.backoff, stallTimeout: r.stall_timeout });
  const job = new Job(r.id, queue, r.data, r.created_at, r.run_at, kind);
  if (r.x !== null) decodeExtra(r.x, job);
  job.state = r.state as JobState;
  job.seq = r.seq;
  job.startedAt = r.started_at;
  job.finishedAt = r.finished_at;
  job.attempts = r.attempts;
  job.stallCount = r.stall_count;
  return job;
}

type Stored = string | number | boolean | null | readonly unknown[] | Uint8Array;

interface BlobField {
  /** The key in the stored blob (schema version 1 named them after the fields of that day). */
  readonly key: string;
  readonly get: (x: JobExtra) => Stored;
  readonly set: (x: JobExtra, v: unknown) => void;
  /** Left out of the blob when the value is its default. */
  readonly isDefault: (v: Stored) => boolean;
}

const isZero = (v: Stored) => v === 0;
const isFalse = (v: Stored) => v === false;
const isNull = (v: Stored) => v === null;
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const bool = (v: unknown): boolean => v === true;
const nums = (v: unknown): number[] | null => (Array.isArray(v) ? v.filter((n): n is number => typeof n === "number") : null);

/** JobExtra fields stored in the blob, one line each. */
const blobFields: readonly BlobField[] = [
  { key: "uniqueKey", get: (x) => x.uniqueKey, set: (x, v) => (x.uniqueKey = str(v)), isDefault: isNull },
  { key: "customId", get: (x) => x.customId, set: (x, v) => (x.customId = str(v)), isDefault: isNull },
  { key: "groupId", get: (x) => x.groupId, set: (x, v) => (x.groupId = str(v)), isDefault: isNull },
  { key: "groupSeq", get: (x) => x.groupSeq, set: (x, v) => (x.groupSeq = num(v)), isDefault: isZero },
  { key: "tags", get: (x) => x.tags, set: (x, v) => (x.tags = Array.isArray(v) ? v.map(String) : null), isDefault: isNull },
  { key: "dedupKey", get: (x) => x.dedupKey, set: (x, v) => (x.dedupKey = str(v)), isDefault: isNull },
  { key: "dedupUntil", get: (x) => x.dedupUntil, set: (x, v) => (x.dedupUntil = num(v)), isDefault: isZero },
  { key: "progress", get: (x) => x.progress, set: (x, v) => (x.progress = num(v)), isDefault: isZero },
  { key: "progressMsg", get: (x) => x.progressMsg, set: (x, v) => (x.progressMsg = str(v)), isDefault: isNull },
  { key: "result", get: (x) => x.result, set: (x, v) => (x.result = v instanceof Uint8Array ? v : null), isDefault: isNull },
  { key: "error", get: (x) => x.error, set: (x, v) => (x.error = str(v)), isDefault: isNull },
  { key: "stack", get: (x) => x.stack, set: (x, v) => (x.stack = Array.isArray(v) ? v.map(String) : null), isDefault: isNull },
  { key: "logs", get: (x) => x.logs, set: (x, v) => (x.logs = Array.isArray(v) ? (v as LogEntry[]) : null), isDefault: isNull },
  { key: "dependsOn", get: (x) => x.dependsOn, set: (x, v) => (x.dependsOn = nums(v)), isDefault: isNull },
  { key: "pendingDeps", get: (x) => x.pendingDeps, set: (x, v) => (x.pendingDeps = num(v)), isDefault: isZero },
  { key: "dependents", get: (x) => x.dependents, set: (x, v) => (x.dependents = nums(v)), isDefault: isNull },
  { key: "parentId", get: (x) => x.parentId, set: (x, v) => (x.parentId = num(v)), isDefault: isZero },
  { key: "childrenIds", get: (x) => x.childrenIds, set: (x, v) => (x.childrenIds = nums(v)), isDefault: isNull },
  { key: "childrenCompleted", get: (x) => x.childrenCompleted, set: (x, v) => (x.childrenCompleted = num(v)), isDefault: isZero },
  {
    key: "childValues",
    get: (x) => x.childValues,
    // [id, result, queue]; records written before the queue was kept have [id, result].
    set: (x, v) => (x.childValues = Array.isArray(v) ? (v as unknown[][]).map(([id, r, q]) => [num(id), r instanceof Uint8Array ? r : null, str(q)]) : null),
    isDefault: isNull,
  },
  { key: "onFailure", get: (x) => x.onFailure, set: (x, v) => (x.onFailure = num(v)), isDefault: isZero },
];

/** The kind's options stored with the rare fields (KindSpec, model.ts: the job's share of its
 *  JobKind), one line each; a job's kind changes through Job.setKind. */
interface KindBlobField {
  readonly key: (typeof kindPolicyFields)[number];
  readonly get: (p: KindPolicy) => Stored;
  readonly set: (s: KindSpec, v: unknown) => void;
  readonly isDefault: (v: Stored) => boolean;
}

const kindBlobFields: readonly KindBlobField[] = [
  { key: "ttl", get: (p) => p.ttl, set: (s, v) => (s.ttl = num(v)), isDefault: isZero },
  { key: "timeout", get: (p) => p.timeout, set: (s, v) => (s.timeout = num(v)), isDefault: isZero },
  { key: "backoffFixed", get: (p) => p.backoffFixed, set: (s, v) => (s.backoffFixed = bool(v)), isDefault: isFalse },
  { key: "backoffJitter", get: (p) => p.backoffJitter, set: (s, v) => (s.backoffJitter = num(v)), isDefault: isZero },
  { key: "keepLogs", get: (p) => p.keepLogs, set: (s, v) => (s.keepLogs = num(v)), isDefault: isZero },
  { key: "lifo", get: (p) => p.lifo, set: (s, v) => (s.lifo = bool(v)), isDefault: isFalse },
  { key: "removeOnComplete", get: (p) => p.removeOnComplete, set: (s, v) => (s.removeOnComplete = bool(v)), isDefault: isFalse },
  { key: "removeOnFail", get: (p) => p.removeOnFail, set: (s, v) => (s.removeOnFail = bool(v)), isDefault: isFalse },
  { key: "keepCompletedAge", get: (p) => p.keepCompletedAge, set: (s, v) => (s.keepCompletedAge = num(v)), isDefault: isZero },
  { key: "keepCompletedCount", get: (p) => p.keepCompletedCount, set: (s, v) => (s.keepCompletedCount = num(v)), isDefault: isZero },
  { key: "keepFailedAge", get: (p) => p.keepFailedAge, set: (s, v) => (s.keepFailedAge = num(v)), isDefault: isZero },
  { key: "keepFailedCount", get: (p) => p.keepFailedCount, set: (s, v) => (s.keepFailedCount = num(v)), isDefault: isZero },
];
export const blobKindKeys: readonly string[] = kindBlobFields.map((f) => f.key);

/** JobExtra fields stored as numeric fields of the job record (columns in schema 3), behind
 *  Job's accessors. Its max attempts, backoff and stall timeout are such fields too; they live in
 *  its kind's policy (model.ts KindPolicy), shared with like jobs. */
export const columnExtraFields = ["stallCount", "attempts"] as const;
/** JobExtra fields that are never stored (rebuilt at recovery). */
export const runtimeExtraFields = ["ttlEntry", "keepEntry"] as const;
export const blobExtraKeys: readonly string[] = blobFields.map((f) => f.key);
/** Job.name, stored in the blob beside the JobExtra fields. */
const nameKey = "name";

/** The blob's encoder: the rare fields and kind options that differ from their defaults, and
 *  the job's name (null when none), leaving out the `stored` keys (a segment record keeps the
 *  scalar ones as numbers), with its field lists filtered once. */
export function extraEncoder(stored: ReadonlySet<string>): (job: Job) => Uint8Array | null {
  const fields = blobFields.filter((f) => !stored.has(f.key));
  const kindFields = kindBlobFields.filter((f) => !stored.has(f.key));
  const allDefault = defaultsCheck(fields);
  return (job) => {
    const x = job.x;
    const name = job.name;
    const k = kindFields.length === 0 || job.k.p.plainPolicy ? null : job.k.p;
    return name === null && (x === null || allDefault(x)) && k === null ? null : encodeFields(fields, x, name, kindFields, k);
  };
}

/** A predicate "every one of `fields` has its default", generated as one expression of plain
 *  property reads: the loop of two closures per field cost 0.25 us a record, paid by nearly every
 *  job, which has no rare field set. It is checked once here against the fields' own get and
 *  isDefault, so a field whose key is not its property name cannot slip through. */
function defaultsCheck(fields: readonly BlobField[]): (x: JobExtra) => boolean {
  const literal = (f: BlobField): string => {
    if (f.isDefault === isNull) return "null";
    if (f.isDefault === isZero) return "0";
    if (f.isDefault === isFalse) return "false";
    throw new Error(`codecs: field ${f.key} has a default the check cannot express`);
  };
  for (const f of fields) if (!/^[a-zA-Z]+$/.test(f.key)) throw new Error(`codecs: field key ${f.key} is not a plain name`);
  const check = new Function("x", `return ${fields.map((f) => `x.${f.key} === ${literal(f)}`).join(" && ") || "true"};`) as (x: JobExtra) => boolean;
  for (const f of fields) {
    const probe = new JobExtra() as unknown as Record<string, unknown>;
    probe[f.key] = f.isDefault === isNull ? ["probe"] : f.isDefault === isZero ? 1 : true;
    const x = probe as unknown as JobExtra;
    if (check(x) || f.isDefault(f.get(x))) throw new Error(`codecs: field ${f.key} is not read as the property of that name`);
  }
  if (!check(new JobExtra())) throw new Error("codecs: a fresh JobExtra does not have every default");
  return check;
}

function encodeFields(
  fields: readonly BlobField[], x: JobExtra | null, name: string | null, kindFields: readonly KindBlobField[], k: KindPolicy | null,
): Uint8Array | null {
  let o: Record<string, Stored> | null = null;
  if (x !== null) {
    for (const f of fields) {
      const v = f.get(x);
      if (!f.isDefault(v)) (o ??= {})[f.key] = v;
    }
  }
  if (k !== null) {
    for (const f of kindFields) {
      const v = f.get(k);
      if (!f.isDefault(v)) (o ??= {})[f.key] = v;
    }
  }
  if (name !== null) (o ??= {})[nameKey] = name;
  return o === null ? null : packr.pack(o);
}

/** A stored blob, unpacked (kindFromBlob and extraFromBlob take it apart). */
export function unpackExtra(bytes: Uint8Array): Record<string, unknown> {
  return packr.unpack(bytes) as Record<string, unknown>;
}

/** The blob's name and kind options, onto the KindSpec a job is made with. */
export function kindFromBlob(o: Record<string, unknown>, s: KindSpec): void {
  for (const f of kindBlobFields) if (Object.hasOwn(o, f.key)) f.set(s, o[f.key]);
  if (typeof o[nameKey] === "string") s.name = o[nameKey] as string;
}

/** The blob's rare fields onto the job (a job without any gets no JobExtra). */
export function extraFromBlob(o: Record<string, unknown>, job: Job): void {
  for (const f of blobFields) if (Object.hasOwn(o, f.key)) f.set(job.extra(), o[f.key]);
}

/** Sets a decoded blob's fields on a job already made (its kind changes if the blob says so). */
export function decodeExtra(bytes: Uint8Array, job: Job): void {
  const o = unpackExtra(bytes);
  const s = copyKind(job.k, kindSpec());
  kindFromBlob(o, s);
  const now = copyKind(job.k, kindSpec());
  for (const key of [...kindPolicyFields, "name"] as const) if (s[key] !== now[key]) job.setKind(key, s[key] as never);
  extraFromBlob(o, job);
}


// ---- queues ----

export interface QueueRow {
  id: number;
  name: string;
  paused: number;
  settings: Uint8Array | null;
}

export function encodeQueueRow(id: number, q: QueueState): [number, string, number, Uint8Array | null] {
  return [id, q.name, q.paused ? 1 : 0, encodeQueueSettings(q)];
}

export interface StoredQueue {
  name: string;
  paused: boolean;
  /** RATELIMIT: jobs per second and burst; null when none. */
  rate: { perSecond: number; burst: number } | null;
  /** SETCONCURRENCY: 0 when none. */
  concurrency: number;
  groupConcurrency: number;
}

/** The stored names of the settings (never renamed without a migration). */
function encodeQueueSettings(q: QueueState): Uint8Array | null {
  const o: Record<string, number> = {};
  if (q.rateLimit !== null) {
    o.rate = q.rateLimit.perSecond;
    o.burst = q.rateLimit.burst;
  }
  if (q.concurrencyLimit > 0) o.concurrency = q.concurrencyLimit;
  if (q.groupConcurrency !== 1) o.group_concurrency = q.groupConcurrency;
  return Object.keys(o).length === 0 ? null : packr.pack(o);
}

export function decodeQueueRow(r: QueueRow): StoredQueue {
  const o = r.settings === null ? {} : (packr.unpack(r.settings) as Record<string, unknown>);
  const rate = num(o.rate);
  return {
    name: r.name,
    paused: r.paused === 1,
    rate: rate > 0 ? { perSecond: rate, burst: num(o.burst) || 1 } : null,
    concurrency: num(o.concurrency),
    groupConcurrency: num(o.group_concurrency) || 1,
  };
}

// ---- records (schedules, KV entries, webhooks: engine/records.ts) ----

/** A record's stored form is its owner's plain object, as MessagePack (bytes stay bytes). */
export function encodeRecord(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeRecord(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
