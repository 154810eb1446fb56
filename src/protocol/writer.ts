// Reply encoder: writes replies straight into one growable output buffer per connection, as
// length-prefixed MessagePack frames or JSON lines. Job payloads (Raw) are spliced in as the
// bytes they arrived in. The buffer is reused across turns: no per-reply allocation in binary mode.

import { Job } from "../engine/job.ts";
import { jobFields, jobToPlain, jobToSparsePlain, SparseJobs } from "./job-wire.ts";
import { decodeRaw, Raw } from "./msgpack.ts";

const encoder = new TextEncoder();
const keyCache = new Map<string, Uint8Array>();

export class ReplyWriter {
  buf = new Uint8Array(4096);
  pos = 0;
  private view = new DataView(this.buf.buffer);

  reset(): void {
    this.pos = 0;
  }

  /** Appends one reply frame: 4-byte big-endian length + MessagePack map. */
  frame(reply: object): void {
    const start = this.pos;
    this.ensure(4);
    this.pos += 4;
    this.value(reply);
    this.view.setUint32(start, this.pos - start - 4);
  }

  /** Appends one reply line of JSON. */
  line(reply: object): void {
    this.bytes(encoder.encode(JSON.stringify(reply, jsonReplacer)));
    this.ensure(1);
    this.buf[this.pos++] = 10;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  value(v: unknown): void {
    if (v === null || v === undefined) return this.byte(0xc0);
    switch (typeof v) {
      case "boolean":
        return this.byte(v ? 0xc3 : 0xc2);
      case "number":
        return this.number(v);
      case "string":
        return this.string(v);
      case "object":
        if (v instanceof Raw) return this.bytes(v.bytes);
        if (v instanceof Job) return this.job(v);
        if (v instanceof SparseJobs) {
          this.arrayHeader(v.jobs.length);
          for (const j of v.jobs) this.sparseJob(j);
          return;
        }
        if (Array.isArray(v)) {
          this.arrayHeader(v.length);
          for (const item of v) this.value(item);
          return;
        }
        if (v instanceof Uint8Array) return this.value(decodeRaw(v));
        return this.map(v as Record<string, unknown>);
      default:
        return this.byte(0xc0);
    }
  }

  private map(o: Record<string, unknown>): void {
    let n = 0;
    for (const k in o) if (o[k] !== undefined) n++;
    this.mapHeader(n);
    for (const k in o) {
      const v = o[k];
      if (v === undefined) continue;
      this.key(k);
      this.value(v);
    }
  }

  /**
   * A job map, field by field in jobFields order with keys pre-encoded: PULLB replies are
   * mostly this (measured: the generic table walk cost ~5 us per job, most of PULLB's time).
   * tests/unit/writer.test.ts checks it against jobToPlain for jobs with every field set.
   */
  private job(j: Job): void {
    const x = j.x;
    const q = j.queue;
    const qn = (q.wireName ??= encodeStr(q.name));
    this.ensure(jobBytesFixedMax + qn.length + j.data.length);
    this.mapHeader(jobFields.length);
    this.jobHead(j, qn);
    this.k(K.started_at); this.numberOrNil(j.startedAt);
    this.jobAttempts(j);
    if (x === null) {
      this.raw(jobNoExtraTtlToRemoveOnFail);
    } else {
      this.k(K.ttl); this.numberOrNil(x.ttl);
      this.k(K.timeout); this.numberOrNil(x.timeout);
      this.k(K.unique_key); this.value(x.uniqueKey);
      this.k(K.depends_on); this.value(x.dependsOn);
      this.k(K.progress); this.number(x.progress);
      this.k(K.progress_msg); this.value(x.progressMsg);
      this.k(K.tags); this.value(x.tags);
      this.k(K.lifo); this.byte(x.lifo ? 0xc3 : 0xc2);
      this.k(K.remove_on_complete); this.byte(x.removeOnComplete ? 0xc3 : 0xc2);
      this.k(K.remove_on_fail); this.byte(x.removeOnFail ? 0xc3 : 0xc2);
    }
    this.k(K.last_heartbeat); this.numberOrNil(j.lastHeartbeat);
    this.k(K.stall_timeout); this.number(j.stallTimeout);
    this.k(K.stall_count); this.number(j.stallCount);
    this.raw(nilFields(0));
    this.k(K.custom_id); this.value(x === null ? null : x.customId);
    this.raw(nilFields(1));
    this.k(K.completed_at); this.numberOrNil(j.finishedAt);
    this.k(K.group_id); this.value(x === null ? null : x.groupId);
    this.k(K.lock_token);
    if (j.lockToken === 0) this.byte(0xc0);
    else this.decimalString(j.lockToken);
    this.k(K.name); this.value(j.name);
  }

  /**
   * The job map without null and false fields (PULLB sparse). The field count is known only at
   * the end: a map16 header is reserved and patched (valid MessagePack for any count).
   */
  private sparseJob(j: Job): void {
    const x = j.x;
    const qn = (j.queue.wireName ??= encodeStr(j.queue.name));
    this.ensure(jobBytesFixedMax + qn.length + j.data.length);
    const header = this.pos;
    this.buf[this.pos] = 0xde;
    this.pos += 3;
    let n = 9; // id .. backoff below, always present
    this.jobHead(j, qn);
    if (j.startedAt !== 0) { this.k(K.started_at); this.number(j.startedAt); n++; }
    this.jobAttempts(j);
    if (x !== null) {
      if (x.ttl !== 0) { this.k(K.ttl); this.number(x.ttl); n++; }
      if (x.timeout !== 0) { this.k(K.timeout); this.number(x.timeout); n++; }
      if (x.uniqueKey !== null) { this.k(K.unique_key); this.value(x.uniqueKey); n++; }
      if (x.dependsOn !== null) { this.k(K.depends_on); this.value(x.dependsOn); n++; }
    }
    this.k(K.progress); this.number(x === null ? 0 : x.progress); n++;
    if (x !== null) {
      if (x.progressMsg !== null) { this.k(K.progress_msg); this.value(x.progressMsg); n++; }
      if (x.tags !== null) { this.k(K.tags); this.value(x.tags); n++; }
      if (x.lifo) { this.k(K.lifo); this.byte(0xc3); n++; }
      if (x.removeOnComplete) { this.k(K.remove_on_complete); this.byte(0xc3); n++; }
      if (x.removeOnFail) { this.k(K.remove_on_fail); this.byte(0xc3); n++; }
    }
    if (j.lastHeartbeat !== 0) { this.k(K.last_heartbeat); this.number(j.lastHeartbeat); n++; }
    this.k(K.stall_timeout); this.number(j.stallTimeout); n++;
    this.k(K.stall_count); this.number(j.stallCount); n++;
    if (x !== null && x.customId !== null) { this.k(K.custom_id); this.value(x.customId); n++; }
    if (j.finishedAt !== 0) { this.k(K.completed_at); this.number(j.finishedAt); n++; }
    if (x !== null && x.groupId !== null) { this.k(K.group_id); this.value(x.groupId); n++; }
    if (j.lockToken !== 0) { this.k(K.lock_token); this.decimalString(j.lockToken); n++; }
    if (j.name !== null) { this.k(K.name); this.value(j.name); n++; }
    this.view.setUint16(header + 1, n);
  }

  /** id, queue, data, priority, created_at, run_at: the head of both job forms. */
  private jobHead(j: Job, qn: Uint8Array): void {
    this.k(K.id); this.number(j.id);
    this.k(K.queue); this.raw(qn);
    this.k(K.data); this.raw(j.data);
    this.k(K.priority); this.number(j.priority);
    this.k(K.created_at); this.number(j.createdAt);
    this.k(K.run_at); this.number(j.runAt);
  }

  /** attempts, max_attempts, backoff: always present in both forms. */
  private jobAttempts(j: Job): void {
    this.k(K.attempts); this.number(j.attempts);
    this.k(K.max_attempts); this.number(j.maxAttempts);
    this.k(K.backoff); this.number(j.backoff);
  }

  /** A pre-encoded key of the job map, with room for the number or flag after it: a string
   *  value written before may have used the room reserved up front. */
  private k(key: Uint8Array): void {
    this.ensure(key.length + 9);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < key.length; i++) b[p++] = key[i]!;
    this.pos = p;
  }

  /** Bytes already encoded (payloads, cached names); the caller ensured the room. */
  private raw(src: Uint8Array): void {
    this.ensure(src.length);
    if (src.length <= 32) {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < src.length; i++) b[p++] = src[i]!;
      this.pos = p;
    } else {
      this.buf.set(src, this.pos);
      this.pos += src.length;
    }
  }

  /** 0 means "not set" for these fields: nil on the wire. */
  private numberOrNil(n: number): void {
    if (n === 0) this.byte(0xc0);
    else this.number(n);
  }

  /** A positive safe integer as its decimal string (lock tokens travel as strings). */
  private decimalString(n: number): void {
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    this.ensure(digits + 1);
    const b = this.buf;
    b[this.pos++] = 0xa0 | digits;
    for (let i = digits - 1; i >= 0; i--) {
      b[this.pos + i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.pos += digits;
  }

  private key(k: string): void {
    let b = keyCache.get(k);
    if (b === undefined) {
      this.string(k);
      if (keyCache.size < 1024) {
        const start = this.pos - utf8Length(k) - headerLength(utf8Length(k));
        keyCache.set(k, this.buf.slice(start, this.pos));
      }
      return;
    }
    this.bytes(b);
  }

  private byte(x: number): void {
    this.ensure(1);
    this.buf[this.pos++] = x;
  }

  private number(n: number): void {
    this.ensure(9);
    const b = this.buf;
    if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) {
      if (n < 0x80) b[this.pos++] = n;
      else if (n < 0x100) { b[this.pos++] = 0xcc; b[this.pos++] = n; }
      else if (n < 0x10000) { b[this.pos++] = 0xcd; this.view.setUint16(this.pos, n); this.pos += 2; }
      else { b[this.pos++] = 0xce; this.view.setUint32(this.pos, n); this.pos += 4; }
    } else if (Number.isInteger(n) && n < 0 && n >= -0x80000000) {
      if (n >= -32) b[this.pos++] = n & 0xff;
      else { b[this.pos++] = 0xd2; this.view.setInt32(this.pos, n); this.pos += 4; }
    } else {
      // Beyond 32 bits (timestamps) as float64: exact up to 2^53, and decoders return a number,
      // never a BigInt (what msgpackr itself does).
      b[this.pos++] = 0xcb;
      this.view.setFloat64(this.pos, n);
      this.pos += 8;
    }
  }

  private string(s: string): void {
    // Worst case 3 bytes per UTF-16 unit, plus a 5-byte header.
    this.ensure(s.length * 3 + 5);
    const len = s.length < 32 && isAscii(s) ? s.length : utf8Length(s);
    const b = this.buf;
    if (len < 32) b[this.pos++] = 0xa0 | len;
    else if (len < 0x100) { b[this.pos++] = 0xd9; b[this.pos++] = len; }
    else if (len < 0x10000) { b[this.pos++] = 0xda; this.view.setUint16(this.pos, len); this.pos += 2; }
    else { b[this.pos++] = 0xdb; this.view.setUint32(this.pos, len); this.pos += 4; }
    const { written } = encoder.encodeInto(s, b.subarray(this.pos));
    this.pos += written;
  }

  private mapHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x80 | n;
    else if (n < 0x10000) { this.buf[this.pos++] = 0xde; this.view.setUint16(this.pos, n); this.pos += 2; }
    else { this.buf[this.pos++] = 0xdf; this.view.setUint32(this.pos, n); this.pos += 4; }
  }

  private arrayHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) { this.buf[this.pos++] = 0xdc; this.view.setUint16(this.pos, n); this.pos += 2; }
    else { this.buf[this.pos++] = 0xdd; this.view.setUint32(this.pos, n); this.pos += 4; }
  }
}

/** MessagePack bytes of one string (used for keys and names encoded once). */
function encodeStr(s: string): Uint8Array {
  const w = new ReplyWriter();
  w.value(s);
  return w.buf.slice(0, w.pos);
}

/** Pre-encoded keys of the job map, by wire name. */
const K = Object.fromEntries(jobFields.map(([name]) => [name, encodeStr(name)])) as Record<string, Uint8Array>;

/** The run of fields from `ttl` to `remove_on_fail` when a job has no extra record: all defaults. */
const jobNoExtraTtlToRemoveOnFail = (() => {
  const w = new ReplyWriter();
  for (const [name, v] of [["ttl", null], ["timeout", null], ["unique_key", null], ["depends_on", null],
    ["progress", 0], ["progress_msg", null], ["tags", null], ["lifo", false], ["remove_on_complete", false],
    ["remove_on_fail", false]] as const) {
    w.value(name);
    w.value(v);
  }
  return w.buf.slice(0, w.pos);
})();

/** Runs of fields ringq does not use yet, always nil: parent_id..children_completed, keep_completed_*. */
const nilRuns = [["parent_id", "children_ids", "children_completed"], ["keep_completed_age", "keep_completed_count"]].map((names) => {
  const w = new ReplyWriter();
  for (const name of names) {
    w.value(name);
    w.value(null);
  }
  return w.buf.slice(0, w.pos);
});
const nilFields = (i: number): Uint8Array => nilRuns[i]!;

/** Room for every fixed-size part of a job map (keys, numbers, flags); strings ensure their own. */
const jobBytesFixedMax = Object.values(K).reduce((n, k) => n + k.length + 9, 16);

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

function headerLength(len: number): number {
  return len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
}

function jsonReplacer(this: unknown, _key: string, v: unknown): unknown {
  if (v instanceof Raw) return decodeRaw(v.bytes);
  if (v instanceof Job) return jobToPlain(v);
  if (v instanceof SparseJobs) return v.jobs.map(jobToSparsePlain);
  return v;
}
