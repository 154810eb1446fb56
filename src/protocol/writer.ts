// Reply encoder: writes replies straight into one growable output buffer per connection, as
// length-prefixed MessagePack frames or JSON lines. Job payloads (Raw) are spliced in as the
// bytes they arrived in; jobs are written by the generated writers of job-wire.ts. A reply is
// all or nothing: one that fails half-way is rolled back, so the stream never holds a partial
// frame. The buffer is reused across turns: no per-reply allocation in binary mode.

import { frameBytesMax as frameLimit } from "../constants.ts";
import { Job } from "../engine/model.ts";
import { jobToPlain, jobToSparsePlain, SparseJobs, writeJob, writeSparseJob, type JobSink } from "./job-wire.ts";
import { decodeRaw, Raw } from "./msgpack.ts";
import { copyBytes } from "../engine/copy-bytes.ts";

/** A reply that would exceed the frame limit; nothing of it was written. */
export class ReplyTooLarge extends Error {}

/** A job with its state name appended (GETJOBS, GETJOBSBATCH). */
export class StatedJob {
  constructor(
    readonly job: Job,
    readonly state: string,
  ) {}
}

const encoder = new TextEncoder();
const keyCache = new Map<string, Uint8Array>();

export class ReplyWriter implements JobSink {
  buf = new Uint8Array(4096);
  pos = 0;
  private view = new DataView(this.buf.buffer);

  /** Largest frame or line one reply may be (the protocol's frame limit; tests lower it). */
  constructor(readonly frameBytesMax = frameLimit) {}

  reset(): void {
    this.pos = 0;
  }

  /** Appends one reply frame: 4-byte big-endian length + MessagePack map. Throws with nothing
   *  appended if the reply cannot be encoded, or ReplyTooLarge past the frame limit. */
  frame(reply: object): void {
    const start = this.pos;
    try {
      this.ensure(4);
      this.pos += 4;
      this.value(reply);
    } catch (e) {
      this.pos = start;
      throw e;
    }
    const length = this.pos - start - 4;
    if (length > this.frameBytesMax) {
      this.pos = start;
      throw new ReplyTooLarge(`reply of ${length} bytes`);
    }
    this.view.setUint32(start, length);
  }

  /** Appends one reply line of JSON; all or nothing, as frame(). */
  line(reply: object): void {
    const bytes = encoder.encode(JSON.stringify(reply, jsonReplacer));
    if (bytes.length > this.frameBytesMax) throw new ReplyTooLarge(`reply of ${bytes.length} bytes`);
    this.bytes(bytes);
    this.ensure(1);
    this.buf[this.pos++] = 10;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  ensure(n: number): void {
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
        if (v instanceof Job) return writeJob(this, v, null);
        if (v instanceof StatedJob) return writeJob(this, v.job, stateField(v.state));
        if (v instanceof SparseJobs) {
          this.arrayHeader(v.jobs.length);
          for (const j of v.jobs) writeSparseJob(this, j, null);
          return;
        }
        if (Array.isArray(v)) {
          this.arrayHeader(v.length);
          for (const item of v) this.value(item);
          return;
        }
        if (v instanceof Uint8Array) return this.bin(v);
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

  /** MessagePack bin of bytes (a binary value the server decoded, e.g. inside a KV value). */
  private bin(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n + 5);
    if (n < 0x100) { this.buf[this.pos++] = 0xc4; this.buf[this.pos++] = n; }
    else if (n < 0x10000) { this.buf[this.pos++] = 0xc5; this.view.setUint16(this.pos, n); this.pos += 2; }
    else { this.buf[this.pos++] = 0xc6; this.view.setUint32(this.pos, n); this.pos += 4; }
    this.buf.set(b, this.pos);
    this.pos += n;
  }

  reserveMap16(): number {
    this.ensure(3);
    const at = this.pos;
    this.buf[at] = 0xde;
    this.pos += 3;
    return at;
  }

  patchMap16(at: number, n: number): void {
    this.view.setUint16(at + 1, n);
  }

  /** A pre-encoded key of the job map, without a room check: the job writers ensure the room
   *  for every fixed-size part up front and again after each variable-length value. */
  kx(key: Uint8Array): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < key.length; i++) b[p++] = key[i]!;
    this.pos = p;
  }

  /** Pre-encoded constant bytes (a run of default fields), without a room check, as kx. */
  rawx(src: Uint8Array): void {
    if (src.length <= 64) {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < src.length; i++) b[p++] = src[i]!;
      this.pos = p;
    } else {
      this.buf.set(src, this.pos);
      this.pos += src.length;
    }
  }

  /** Bytes already encoded (payloads, cached names); the caller ensured the room. */
  raw(src: Uint8Array): void {
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

  /** `src[at, at + n)`, already encoded (a payload in its arena slab, which `srcView` views). */
  rawRange(src: Uint8Array, srcView: DataView, at: number, n: number): void {
    this.ensure(n);
    copyBytes(this.buf, this.view, this.pos, src, srcView, at, n);
    this.pos += n;
  }

  /** 0 means "not set" for these fields: nil on the wire. */
  numberOrNil(n: number): void {
    if (n === 0) this.byte(0xc0);
    else this.number(n);
  }

  /** A positive safe integer as its decimal string (lock tokens travel as strings). */
  decimalString(n: number): void {
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

  byte(x: number): void {
    this.ensure(1);
    this.buf[this.pos++] = x;
  }

  number(n: number): void {
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

  mapHeader(n: number): void {
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

/** `"state": "<name>"` pairs, encoded once per state name. */
const stateFields = new Map<string, Uint8Array>();
function stateField(state: string): Uint8Array {
  let b = stateFields.get(state);
  if (b === undefined) {
    const w = new ReplyWriter();
    w.value("state");
    w.value(state);
    stateFields.set(state, (b = w.buf.slice(0, w.pos)));
  }
  return b;
}

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
  if (v instanceof StatedJob) return { ...jobToPlain(v.job), state: v.state };
  if (v instanceof SparseJobs) return v.jobs.map(jobToSparsePlain);
  return v;
}
