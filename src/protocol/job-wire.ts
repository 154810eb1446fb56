// The job object as clients see it (docs/protocol.md, "Job object"), from ONE field list: wire name,
// kind, and how to read it off a Job. Every form is generated from it: the MessagePack map
// (whole, and sparse: without null and false fields) and the plain object for JSON replies.
// The binary writers are compiled once at load into straight-line functions (as typebox compiles
// schemas): a generic walk over the table cost ~5 us per job, most of a PULLB reply's time.

import type { Job } from "../engine/model.ts";
import { decodeRaw, encodeValue } from "./msgpack.ts";

/**
 * num: a number, always present. num?: a number where 0 means "not set" (nil). value?: a string,
 * an array or null. bool: false by default. data: the payload bytes as they arrived. queue: the
 * queue's name. token: the lock token as a decimal string (0: nil).
 */
type Kind = "num" | "num?" | "value?" | "bool" | "data" | "queue" | "token";

interface Field {
  readonly name: string;
  readonly kind: Kind;
  /** JavaScript over `j` (the Job), `x` (j.x, known non-null when `noExtra` is set) and `p`
   *  (j.k.p, its kind's policy). */
  readonly expr: string;
  /** Set when the field lives in JobExtra: its value when the job has none (`x === null`). */
  readonly noExtra?: null | number | boolean;
  /** Set when the field is a kind option (KindSpec): its value when the kind has them all at
   *  their defaults (`p.plainPolicy`). */
  readonly plain?: null | number | boolean;
}

const f = (name: string, kind: Kind, expr = "", noExtra?: null | number | boolean): Field => ({ name, kind, expr, noExtra });
/** A kind option: `p.<option>`, at `plain` when the kind's options are all defaults. */
const kf = (name: string, kind: Kind, option: string, plain: null | boolean): Field => ({ name, kind, expr: `p.${option}`, plain });

/** The job's fields in wire order. */
export const jobWireFields: readonly Field[] = [
  f("id", "num", "j.id"),
  f("queue", "queue"),
  f("data", "data"),
  f("priority", "num", "j.priority"),
  f("created_at", "num", "j.createdAt"),
  f("run_at", "num", "j.runAt"),
  f("started_at", "num?", "j.startedAt"),
  f("attempts", "num", "j.attempts"),
  f("max_attempts", "num", "j.maxAttempts"),
  f("backoff", "num", "j.backoff"),
  kf("ttl", "num?", "ttl", null),
  kf("timeout", "num?", "timeout", null),
  f("unique_key", "value?", "x.uniqueKey", null),
  f("depends_on", "value?", "x.dependsOn", null),
  f("progress", "num", "x.progress", 0),
  f("progress_msg", "value?", "x.progressMsg", null),
  f("tags", "value?", "x.tags", null),
  kf("lifo", "bool", "lifo", false),
  kf("remove_on_complete", "bool", "removeOnComplete", false),
  kf("remove_on_fail", "bool", "removeOnFail", false),
  f("last_heartbeat", "num?", "j.lastHeartbeat"),
  f("stall_timeout", "num", "j.stallTimeout"),
  f("stall_count", "num", "j.stallCount"),
  f("parent_id", "num?", "x.parentId", null),
  f("children_ids", "value?", "x.childrenIds", null),
  f("children_completed", "num", "x.childrenCompleted", 0),
  f("custom_id", "value?", "x.customId", null),
  kf("keep_completed_age", "num?", "keepCompletedAge", null),
  kf("keep_completed_count", "num?", "keepCompletedCount", null),
  f("completed_at", "num?", "j.finishedAt"),
  f("group_id", "value?", "x.groupId", null),
  // EXT: the lock token of the current delivery.
  f("lock_token", "token", "j.lockToken"),
  // EXT: BullMQ's job.name, null when the producer gave none.
  f("name", "value?", "j.name"),
  // EXT: the last failure's message, and the stack traces sent with FAIL (newest last).
  f("failed_reason", "value?", "x.error", null),
  f("stacktrace", "value?", "x.stack", null),
];

export const jobFieldNames: readonly string[] = jobWireFields.map((x) => x.name);

/** What the generated binary writers call (ReplyWriter implements it). */
export interface JobSink {
  ensure(n: number): void;
  /** A key or run of constant bytes with no room check (the writer ensured the room). */
  kx(key: Uint8Array): void;
  rawx(bytes: Uint8Array): void;
  mapHeader(n: number): void;
  /** Reserves a map16 header whose count is patched later; returns its position. */
  reserveMap16(): number;
  patchMap16(at: number, n: number): void;
  raw(bytes: Uint8Array): void;
  rawRange(src: Uint8Array, srcView: DataView, at: number, n: number): void;
  byte(b: number): void;
  number(n: number): void;
  numberOrNil(n: number): void;
  value(v: unknown): void;
  decimalString(n: number): void;
}

/** MessagePack bytes of a constant, in a buffer of its own (msgpackr returns views of a shared one). */
const encoded = (v: unknown): Uint8Array => new Uint8Array(encodeValue(v));

const keyBytes = jobWireFields.map((x) => encoded(x.name));

/** Room for every fixed-size part of a job map (keys, numbers, flags, constant runs); strings
 *  ensure their own, and the room is ensured again after each of them. */
const fixedBytesMax = keyBytes.reduce((n, k) => n + k.length + 9, 16);

/** A field's value as JSON shows it: num? 0 is null, token is a string. */
function plainExpr(fl: Field): string {
  switch (fl.kind) {
    case "num": case "value?": case "bool": return fl.expr;
    case "num?": return `(${fl.expr} || null)`;
    case "data": return "decodeRaw(j.data)";
    case "queue": return "j.queue.name";
    case "token": return "(j.lockToken === 0 ? null : String(j.lockToken))";
  }
}

/**
 * One field's statement. Keys go in with `kx` (no room check): the writer ensured room for every
 * fixed-size part up front, and re-ensures it after each variable-length value (`again`).
 */
function binaryStmt(fl: Field, i: number, sparse: boolean, again: string): string {
  const k = `w.kx(K[${i}]);`;
  const e = fl.expr;
  if (!sparse) {
    switch (fl.kind) {
      case "num": return `${k} w.number(${e});`;
      case "num?": return `${k} w.numberOrNil(${e});`;
      case "value?": return `${k} w.value(${e}); ${again}`;
      case "bool": return `${k} w.byte(${e} ? 0xc3 : 0xc2);`;
      case "data": return `${k} w.rawRange(pb, pv, ps, pl);`;
      case "queue": return `${k} w.raw(qn);`;
      case "token": return `${k} if (j.lockToken === 0) w.byte(0xc0); else w.decimalString(j.lockToken);`;
    }
  }
  switch (fl.kind) {
    case "num": return `${k} w.number(${e}); n++;`;
    case "num?": return `{ const v = ${e}; if (v !== 0) { ${k} w.number(v); n++; } }`;
    case "value?": return `{ const v = ${e}; if (v !== null) { ${k} w.value(v); n++; ${again} } }`;
    case "bool": return `if (${e}) { ${k} w.byte(0xc3); n++; }`;
    case "data": return `${k} w.rawRange(pb, pv, ps, pl); n++;`;
    case "queue": return `${k} w.raw(qn); n++;`;
    case "token": return `if (j.lockToken !== 0) { ${k} w.decimalString(j.lockToken); n++; }`;
  }
}

/** Whether the sparse form leaves a value out. */
const omitted = (v: unknown): boolean => v === null || v === false;

/** Room the fixed-size parts of fields from..end take (keys, numbers, flags). */
const fixedFrom = (from: number): number => keyBytes.slice(from).reduce((n, k) => n + k.length + 9, 16);

/** Where a field's default comes from: the job has no JobExtra ("x"), or its kind has only
 *  default options ("k"); null: neither, the field is always written. */
const source = (fl: Field): "x" | "k" | null => (fl.noExtra !== undefined ? "x" : fl.plain !== undefined ? "k" : null);
const defaultOf = (fl: Field): null | number | boolean | undefined => (fl.noExtra !== undefined ? fl.noExtra : fl.plain);

/**
 * Source of a writer. Runs of JobExtra fields and kind options become `if (<x === null and/or
 * p.plainPolicy>) <their defaults, encoded once> else <each field>`, so a job without extras
 * and of a plain kind writes its rare fields as one copy.
 */
function writerSource(sparse: boolean): { src: string; runs: Uint8Array[] } {
  const runs: Uint8Array[] = [];
  const run = (parts: Uint8Array[]): string => {
    runs.push(concat(parts));
    return `w.rawx(RUNS[${runs.length - 1}]);`;
  };
  const body: string[] = [];
  const fs = jobWireFields;
  for (let i = 0; i < fs.length; ) {
    const again = `w.ensure(${fixedFrom(i + 1)});`;
    if (source(fs[i]!) === null) {
      body.push(binaryStmt(fs[i]!, i, sparse, again));
      i++;
      continue;
    }
    let end = i;
    while (end < fs.length && source(fs[end]!) !== null) end++;
    const defaults: Uint8Array[] = [];
    let count = 0;
    let hasX = false;
    let hasK = false;
    for (let j = i; j < end; j++) {
      if (source(fs[j]!) === "x") hasX = true;
      else hasK = true;
      const v = defaultOf(fs[j]!);
      if (sparse && omitted(v)) continue;
      defaults.push(keyBytes[j]!, encoded(v));
      count++;
    }
    const each = [];
    for (let j = i; j < end; j++) {
      const fl = fs[j]!;
      // In a run that also holds kind options, x may be null on the field-by-field path.
      // (A num? field's nil is written from 0.)
      const none = fl.kind === "num?" && fl.noExtra === null ? 0 : fl.noExtra;
      const safe = hasK && fl.noExtra !== undefined ? { ...fl, expr: `(x === null ? ${JSON.stringify(none)} : ${fl.expr})` } : fl;
      each.push(binaryStmt(safe, j, sparse, `w.ensure(${fixedFrom(j + 1)});`));
    }
    const none = count === 0 ? "" : `${run(defaults)} ${sparse ? `n += ${count};` : ""}`;
    const cond = hasX && hasK ? "x === null && p.plainPolicy" : hasX ? "x === null" : "p.plainPolicy";
    body.push(`if (${cond}) { ${none} } else { ${each.join(" ")} }`);
    i = end;
  }
  // `extra`: pre-encoded key/value pairs appended after the fields (one pair: GETJOBS' state).
  const head = sparse ? "const at = w.reserveMap16(); let n = 0;" : `w.mapHeader(extra === null ? ${fs.length} : ${fs.length + 1});`;
  const tail = sparse ? "if (extra !== null) { w.raw(extra); n++; } w.patchMap16(at, n);" : "if (extra !== null) w.raw(extra);";
  const src = `
    const x = j.x;
    const p = j.k.p;
    const qn = j.queue.wireName ??= encodeName(j.queue.name);
    const pa = j.queue.payloads;
    const pb = pa.locate(j), pv = pa.dv, ps = pa.at, pl = pa.len;
    w.ensure(FIXED + qn.length + pl);
    ${head}
    ${body.join("\n    ")}
    ${tail}`;
  return { src, runs };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes a job map; `extra` holds one more encoded key/value pair to append, or null. */
type JobWriter = (w: JobSink, j: Job, extra: Uint8Array | null) => void;

function compileWriter(sparse: boolean): JobWriter {
  const { src, runs } = writerSource(sparse);
  const make = new Function("K", "RUNS", "FIXED", "encodeName", `return function writeJob(w, j, extra) {${src}\n};`);
  return make(keyBytes, runs, fixedBytesMax, encoded) as JobWriter;
}

function compilePlain(): (j: Job) => Record<string, unknown> {
  const props = jobWireFields.map((fl) => {
    const e = plainExpr(fl);
    const v = fl.noExtra === undefined ? e : `(x === null ? ${JSON.stringify(fl.noExtra)} : ${e})`;
    return `${JSON.stringify(fl.name)}: ${v}`;
  });
  const make = new Function("decodeRaw", `return function jobToPlain(j) { const x = j.x; const p = j.k.p; return { ${props.join(", ")} }; };`);
  return make(decodeRaw) as (j: Job) => Record<string, unknown>;
}

/** Bytes a string may take as MessagePack (3 per UTF-16 unit, plus its header). */
const strBound = (s: string | null): number => (s === null ? 0 : 3 * s.length + 5);

/**
 * An upper bound of the job map's encoded size (whole form, binary), without encoding it: what
 * a reply budget counts (PULLB cuts its batch there, listings stop there). JSON replies can be
 * larger for some payloads; the writer's own frame check catches those.
 */
export function jobBytesBound(j: Job): number {
  let n = fixedBytesMax + j.queue.payloads.length(j) + strBound(j.queue.name) + strBound(j.name);
  const x = j.x;
  if (x !== null) {
    n += strBound(x.uniqueKey) + strBound(x.customId) + strBound(x.groupId) + strBound(x.progressMsg);
    if (x.tags !== null) for (const t of x.tags) n += strBound(t) + 5;
    if (x.dependsOn !== null) n += 9 * x.dependsOn.length + 5;
    if (x.childrenIds !== null) n += 9 * x.childrenIds.length + 5;
    if (x.error !== null) n += strBound(x.error);
    if (x.stack !== null) for (const s of x.stack) n += strBound(s);
  }
  return n;
}

/** Writes the whole job map (every field, in wire order). */
export const writeJob = compileWriter(false);
/** Writes the job map without its null and false fields (PULLB `sparse`, a ringq extension). */
export const writeSparseJob = compileWriter(true);
/** The job as a plain object for JSON replies (data decoded). */
export const jobToPlain = compilePlain();

/** jobToPlain without the null and false fields. */
export function jobToSparsePlain(job: Job): Record<string, unknown> {
  const o = jobToPlain(job);
  for (const k in o) if (omitted(o[k])) delete o[k];
  return o;
}

/** Jobs to send in the sparse form. */
export class SparseJobs {
  constructor(readonly jobs: readonly Job[]) {}
}
