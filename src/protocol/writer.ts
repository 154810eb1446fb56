// Reply encoder: writes replies straight into one growable output buffer per connection, as
// length-prefixed MessagePack frames or JSON lines. Job payloads (Raw) are spliced in as the
// bytes they arrived in. The buffer is reused across turns: no per-reply allocation in binary mode.

import { Job } from "../engine/job.ts";
import { jobFields, jobToPlain } from "./job-wire.ts";
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

  private job(job: Job): void {
    this.mapHeader(jobFields.length);
    for (const [name, get] of jobFields) {
      this.key(name);
      this.value(get(job));
    }
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
  return v;
}
