// The stored form of jobs: segments. A commit writes the jobs it changed, and a tombstone for
// each stored job it removed, as records packed into one BLOB row of the `segments` table (split
// at segmentBytesMax); a job's latest record is the one in its newest segment. Reading 1M jobs
// back is then a few hundred row reads and a walk over bytes, where one row per job cost a
// sqlite3_step and 16 column reads each (1.0 s for 1M rows, bench/README.md); and a commit of
// 100 jobs binds one value instead of 1,600. Which records are still live, and when a segment is
// compacted or deleted, is the journal's business (journal.ts); this file only reads and writes
// the bytes.
//
// A segment: [u32 magic][u32 records][u32 crc32 of the bytes after the header][u32 0], records.
// A job record: [u8 1][u8 state][u16 0][u32 mask][u32 queue row id][u32 data length][u32 x
//   length + 1, 0 for none], then one f64 per numeric field whose mask bit is set (the others
//   are 0; max attempts and stall timeout are stored less their defaults; the scalar job options
//   of JobExtra follow the job's own fields, booleans as 1), then the data bytes, then the x
//   bytes (the rest of JobExtra, strings and lists, MessagePack: codecs.ts). A waiting job with
//   defaults: 44 + data bytes.
// A tombstone: [u8 2], zeros to the end of a record header (20 bytes), [f64 job id][f64 the
//   segment of the job's first record]: it hides the job's records in that segment and the later
//   ones; the journal keeps it while any of those segments exists.
// All little-endian. The CRC makes a flipped bit in a payload a refusal at start-up, which the
// row-per-job form could not notice.

import { maxAttemptsDefault, stallTimeoutMsDefault } from "../constants.ts";
import { Job, JobExtra, type JobState, type KindSpec, kindPolicyFields, kindSpec, type QueueState } from "../engine/model.ts";
import { extraEncoder, extraFromBlob, kindFromBlob, unpackExtra } from "./codecs.ts";

const segmentMagic = 0x31535152; // "RQS1"
const headerBytes = 16;
const recordHeaderBytes = 20;
const JOB = 1;
const TOMB = 2;
const tombBytes = recordHeaderBytes + 16;
/** The scalar rare fields (JobExtra) and kind options (KindSpec), stored as numeric fields of the
 *  record rather than in its MessagePack blob: a job option such as removeOnComplete cost about
 *  1 us a write through msgpackr (bench/journal.ts --options). Booleans are 1 or absent. The
 *  order is the record's mask-bit order: it never changes without a new segment format. */
export const recordExtraFields = [
  "ttl", "timeout", "backoffFixed", "backoffJitter", "keepLogs", "groupSeq", "lifo", "removeOnComplete", "removeOnFail",
  "keepCompletedAge", "keepCompletedCount", "keepFailedAge", "keepFailedCount", "dedupUntil", "progress", "pendingDeps",
  "parentId", "childrenCompleted", "onFailure",
] as const satisfies readonly (keyof JobExtra | (typeof kindPolicyFields)[number])[];
const encodeRest = extraEncoder(new Set(recordExtraFields));
const isKindField = (k: string): boolean => (kindPolicyFields as readonly string[]).includes(k);
/** Mask bits (after the job's own fields) of the JobExtra fields among recordExtraFields. */
const extraFieldBits = recordExtraFields.reduce((m, k, i) => (isKindField(k) ? m : m | (1 << i)), 0);
/** The job's own numeric fields, then recordExtraFields, in mask-bit order. */
const jobFieldCount = 12;
const fieldCount = jobFieldCount + recordExtraFields.length;
const scratch = new Float64Array(fieldCount);

function fieldsOf(job: Job, f: Float64Array): void {
  f[0] = job.id;
  f[1] = job.priority;
  f[2] = job.seq;
  f[3] = job.createdAt;
  f[4] = job.runAt;
  f[5] = job.startedAt;
  f[6] = job.finishedAt;
  f[7] = job.attempts;
  // Stored as the difference from their defaults, so a default costs no bytes.
  f[8] = job.maxAttempts - maxAttemptsDefault;
  f[9] = job.backoff;
  f[10] = job.stallTimeout - stallTimeoutMsDefault;
  f[11] = job.stallCount;
  if (job.x === null && job.k.p.plainPolicy) f.fill(0, jobFieldCount);
  else extraFieldsOf(job, f);
}

/** recordExtraFields into f[12...] and back, as plain property reads and writes generated from
 *  the list (a keyed access by a computed name cost 300 ns a job): one list says what is stored
 *  and in which order. Each field's type (number, or boolean stored as 1) comes from a fresh
 *  JobExtra or KindSpec, whose defaults are all 0 or false, so an absent field reads back as
 *  its default. Kind options come from the job's kind and go back into the KindSpec the job is
 *  made with; the rest from and to its JobExtra. */
const [extraFieldsOf, setKindFields, setExtraFields] = ((): [
  (job: Job, f: Float64Array) => void,
  (s: KindSpec, f: Float64Array) => void,
  (x: JobExtra, f: Float64Array) => void,
] => {
  const freshX = new JobExtra() as unknown as Record<string, unknown>;
  const freshK = kindSpec() as unknown as Record<string, unknown>;
  const put: string[] = ["const k = job.k.p, x = job.x;"];
  const takeKind: string[] = [];
  const takeExtra: string[] = [];
  recordExtraFields.forEach((name, i) => {
    const at = jobFieldCount + i;
    const onKind = isKindField(name);
    const fresh = onKind ? freshK[name] : freshX[name];
    const from = onKind ? `k.${name}` : `(x === null ? ${fresh} : x.${name})`;
    const take = onKind ? takeKind : takeExtra;
    const to = onKind ? `s.${name}` : `x.${name}`;
    if (fresh === false) {
      put.push(`f[${at}] = ${from} ? 1 : 0;`);
      take.push(`${to} = f[${at}] !== 0;`);
    } else if (fresh === 0) {
      put.push(`f[${at}] = ${from};`);
      take.push(`${to} = f[${at}];`);
    } else {
      throw new Error(`segments: ${name} is neither a number nor a boolean defaulting to 0 or false`);
    }
  });
  return [
    new Function("job", "f", put.join("\n")) as (job: Job, f: Float64Array) => void,
    new Function("s", "f", takeKind.join("\n")) as (s: KindSpec, f: Float64Array) => void,
    new Function("x", "f", takeExtra.join("\n")) as (x: JobExtra, f: Float64Array) => void,
  ];
})();
/** The KindSpec a recovered job is made with (kindOf copies it). */
const decodeKind = kindSpec();

/** Builds segment bodies; reused across commits. */
export class SegmentWriter {
  private buf = new Uint8Array(64 * 1024);
  private dv = new DataView(this.buf.buffer);
  private n = headerBytes;
  /** Records in the segment being built. */
  count = 0;

  /** Bytes of the segment being built, header included. */
  get bytes(): number {
    return this.n;
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  addJob(job: Job, queueId: number): void {
    const x = encodeRest(job);
    const payloads = job.queue.payloads;
    const dataLen = payloads.length(job);
    const xLen = x === null ? 0 : x.length;
    this.room(recordHeaderBytes + fieldCount * 8 + dataLen + xLen);
    const dv = this.dv;
    const at = this.n;
    fieldsOf(job, scratch);
    let p = at + recordHeaderBytes;
    let mask = 0;
    for (let i = 0; i < fieldCount; i++) {
      const v = scratch[i]!;
      if (v !== 0) {
        mask |= 1 << i;
        dv.setFloat64(p, v, true);
        p += 8;
      }
    }
    dv.setUint8(at, JOB);
    dv.setUint8(at + 1, job.state);
    dv.setUint16(at + 2, 0, true);
    dv.setUint32(at + 4, mask, true);
    dv.setUint32(at + 8, queueId, true);
    dv.setUint32(at + 12, dataLen, true);
    dv.setUint32(at + 16, x === null ? 0 : xLen + 1, true);
    p += payloads.copyTo(job, this.buf, p);
    if (x !== null) {
      this.buf.set(x, p);
      p += xLen;
    }
    this.n = p;
    this.count++;
  }

  addTombstone(id: number, first: number): void {
    this.room(tombBytes);
    const dv = this.dv;
    const at = this.n;
    dv.setUint32(at, TOMB, true); // kind 2, then zeros
    for (let k = 4; k < recordHeaderBytes; k += 4) dv.setUint32(at + k, 0, true);
    dv.setFloat64(at + recordHeaderBytes, id, true);
    dv.setFloat64(at + recordHeaderBytes + 8, first, true);
    this.n = at + tombBytes;
    this.count++;
  }

  /** The finished body (a view, valid until the next add or reset), header and CRC filled in. */
  finish(): Uint8Array {
    const dv = this.dv;
    dv.setUint32(0, segmentMagic, true);
    dv.setUint32(4, this.count, true);
    dv.setUint32(8, Bun.hash.crc32(this.buf.subarray(headerBytes, this.n)), true);
    dv.setUint32(12, 0, true);
    return this.buf.subarray(0, this.n);
  }

  reset(): void {
    this.n = headerBytes;
    this.count = 0;
    // A burst's buffer is not kept: back to the usual size.
    if (this.buf.length > 4 * 1024 * 1024) {
      this.buf = new Uint8Array(64 * 1024);
      this.dv = new DataView(this.buf.buffer);
    }
  }
}

export interface SegmentVisitor {
  /** A job record at `at` of `body`, which `dv` views (decodeJob reads it). */
  job(id: number, queueId: number, body: Uint8Array, at: number, dv: DataView): void;
  tombstone(id: number, first: number): void;
}

/** Walks a segment's records, checking the header, the CRC (unless `crc` is false: a second
 *  walk over a body already checked) and every length against the body; throws an Error saying
 *  what is wrong (recovery reports it as a corrupt file). Returns the record count. */
export function walkSegment(bytes: Uint8Array, visit: SegmentVisitor, crc = true): number {
  if (bytes.length < headerBytes) throw new Error(`${bytes.length} bytes, shorter than a segment header`);
  // A plain view: bun:sqlite hands out Buffers, whose slice() (each payload's copy) goes through
  // the species constructor at 3-4x the cost (340 of 985 ms recovering 1M jobs).
  const body = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (dv.getUint32(0, true) !== segmentMagic) throw new Error("no segment magic");
  const count = dv.getUint32(4, true);
  if (crc && dv.getUint32(8, true) !== Bun.hash.crc32(body.subarray(headerBytes))) throw new Error("checksum mismatch");
  let p = headerBytes;
  for (let k = 0; k < count; k++) {
    if (p + recordHeaderBytes > body.length) throw new Error(`record ${k} runs past the end`);
    const kind = dv.getUint8(p);
    if (kind === JOB) {
      const mask = dv.getUint32(p + 4, true);
      const len = recordHeaderBytes + popcount(mask) * 8 + dv.getUint32(p + 12, true) + Math.max(0, dv.getUint32(p + 16, true) - 1);
      if ((mask & 1) === 0 || mask >>> fieldCount !== 0 || p + len > body.length) throw new Error(`job record ${k} is malformed`);
      visit.job(dv.getFloat64(p + recordHeaderBytes, true), dv.getUint32(p + 8, true), body, p, dv);
      p += len;
    } else if (kind === TOMB) {
      if (p + tombBytes > body.length) throw new Error(`tombstone ${k} runs past the end`);
      visit.tombstone(dv.getFloat64(p + recordHeaderBytes, true), dv.getFloat64(p + recordHeaderBytes + 8, true));
      p += tombBytes;
    } else {
      throw new Error(`record ${k} has unknown kind ${kind}`);
    }
  }
  if (p !== body.length) throw new Error(`${body.length - p} bytes after the last record`);
  return count;
}

/** The job of the record at `at` of `body`, viewed by `dv` (walkSegment has checked its lengths). */
export function decodeJob(body: Uint8Array, dv: DataView, at: number, queue: QueueState): Job {
  const mask = dv.getUint32(at + 4, true);
  let p = at + recordHeaderBytes;
  const f = scratch;
  for (let i = 0; i < fieldCount; i++) {
    if ((mask & (1 << i)) !== 0) {
      f[i] = dv.getFloat64(p, true);
      p += 8;
    } else {
      f[i] = 0;
    }
  }
  const dataLen = dv.getUint32(at + 12, true);
  const xLen = dv.getUint32(at + 16, true);
  // A copy: MessagePack's bytes (a result) would otherwise be views pinning the whole body.
  const blob = xLen === 0 ? null : unpackExtra(body.slice(p + dataLen, p + dataLen + xLen - 1));
  const s = decodeKind;
  s.name = null;
  s.priority = f[1]!;
  s.maxAttempts = f[8]! + maxAttemptsDefault;
  s.backoff = f[9]!;
  s.stallTimeout = f[10]! + stallTimeoutMsDefault;
  setKindFields(s, f);
  if (blob !== null) kindFromBlob(blob, s);
  const job = new Job(f[0]!, queue, null, f[3]!, f[4]!, s);
  job.d = queue.payloads.put(job, body, p, p + dataLen); // a copy: the body is let go once walked
  if (blob !== null) extraFromBlob(blob, job);
  job.state = dv.getUint8(at + 1) as JobState;
  job.seq = f[2]!;
  job.startedAt = f[5]!;
  job.finishedAt = f[6]!;
  job.attempts = f[7]!;
  job.stallCount = f[11]!;
  if (((mask >>> jobFieldCount) & extraFieldBits) !== 0) setExtraFields(job.extra(), f);
  return job;
}

/** The state byte of the job record at `at`. */
export function recordState(body: Uint8Array, at: number): number {
  return body[at + 1]!;
}

function popcount(m: number): number {
  let c = 0;
  for (; m !== 0; m &= m - 1) c++;
  return c;
}
