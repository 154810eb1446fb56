// Request decoding in one pass. MessagePack requests are decoded here rather than by msgpackr
// because the payload fields (`data`, `result`, and `data` inside each PUSHB job) must stay the
// bytes they arrived in: they are skipped and kept as Raw slices, never decoded. JSON requests
// get the same shape (their payloads encoded once to MessagePack) so handlers see one form.

import { decodeInternBytesMax, decodeInternSlots } from "../constants.ts";
import { Raw, encodeValue, skipValue } from "./msgpack.ts";

/** Nesting allowed in the envelope (payloads are skipped, not decoded, so any depth is fine there). */
const envelopeDepthMax = 16;

/** Where in a request a payload field is kept raw. */
const enum Scope {
  Plain = 0,
  Request = 1,
  JobSpec = 2,
}

const fromCharCode = String.fromCharCode;
/** A real copy even when the input is a Node Buffer, whose slice() is a view of borrowed memory. */
const copyOf = (b: Uint8Array, start: number, end: number): Uint8Array => Uint8Array.prototype.slice.call(b, start, end);
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Cursor {
  constructor(
    readonly b: Uint8Array,
    public p: number,
    readonly end: number,
    readonly view: DataView,
  ) {}
}

// Frames mostly arrive in the same long-lived buffer (a recv buffer region, the frame reader's
// own): keep its DataView instead of building one per request.
let lastView: DataView = new DataView(new ArrayBuffer(0));
let lastBytes: Uint8Array = new Uint8Array(0);

function viewOf(b: Uint8Array): DataView {
  if (b !== lastBytes) {
    const v = lastView;
    if (v.buffer !== b.buffer || v.byteOffset !== b.byteOffset || v.byteLength !== b.byteLength) {
      lastView = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    lastBytes = b;
  }
  return lastView;
}

/** Decodes one request map. Throws RangeError on malformed or truncated input. */
export function decodeMsgpackRequest(b: Uint8Array, start: number, end: number): unknown {
  const c = new Cursor(b, start, end, viewOf(b));
  const v = read(c, Scope.Request, 0);
  if (c.p !== end) throw new RangeError("trailing bytes after the request map");
  return v;
}

/** JSON requests: payload fields become Raw MessagePack so handlers see the binary shape. */
export function rawifyJsonRequest(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const o = body as Record<string, unknown>;
  if (o.data !== undefined) o.data = new Raw(encodeValue(o.data));
  if (o.result !== undefined) o.result = new Raw(encodeValue(o.result));
  if (Array.isArray(o.jobs)) {
    for (const j of o.jobs) {
      if (typeof j === "object" && j !== null && (j as Record<string, unknown>).data !== undefined) {
        (j as Record<string, unknown>).data = new Raw(encodeValue((j as Record<string, unknown>).data));
      }
    }
  }
  return o;
}

function need(c: Cursor, n: number): void {
  if (c.p + n > c.end) throw new RangeError("truncated MessagePack");
}

function read(c: Cursor, scope: Scope, depth: number): unknown {
  need(c, 1);
  const t = c.b[c.p++]!;
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t <= 0x8f) return readMap(c, t & 0x0f, scope, depth);
  if (t <= 0x9f) return readArray(c, t & 0x0f, scope, depth);
  if (t <= 0xbf) return readStr(c, t & 0x1f);
  const v = c.view;
  let x: number;
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: need(c, 1); return readBin(c, c.b[c.p++]!);
    case 0xc5: need(c, 2); x = v.getUint16(c.p); c.p += 2; return readBin(c, x);
    case 0xc6: need(c, 4); x = v.getUint32(c.p); c.p += 4; return readBin(c, x);
    case 0xca: need(c, 4); x = v.getFloat32(c.p); c.p += 4; return x;
    case 0xcb: need(c, 8); x = v.getFloat64(c.p); c.p += 8; return x;
    case 0xcc: need(c, 1); return c.b[c.p++]!;
    case 0xcd: need(c, 2); x = v.getUint16(c.p); c.p += 2; return x;
    case 0xce: need(c, 4); x = v.getUint32(c.p); c.p += 4; return x;
    case 0xcf: need(c, 8); x = Number(v.getBigUint64(c.p)); c.p += 8; return x;
    case 0xd0: need(c, 1); return v.getInt8(c.p++);
    case 0xd1: need(c, 2); x = v.getInt16(c.p); c.p += 2; return x;
    case 0xd2: need(c, 4); x = v.getInt32(c.p); c.p += 4; return x;
    case 0xd3: need(c, 8); x = Number(v.getBigInt64(c.p)); c.p += 8; return x;
    case 0xd9: need(c, 1); return readStr(c, c.b[c.p++]!);
    case 0xda: need(c, 2); x = v.getUint16(c.p); c.p += 2; return readStr(c, x);
    case 0xdb: need(c, 4); x = v.getUint32(c.p); c.p += 4; return readStr(c, x);
    case 0xdc: need(c, 2); x = v.getUint16(c.p); c.p += 2; return readArray(c, x, scope, depth);
    case 0xdd: need(c, 4); x = v.getUint32(c.p); c.p += 4; return readArray(c, x, scope, depth);
    case 0xde: need(c, 2); x = v.getUint16(c.p); c.p += 2; return readMap(c, x, scope, depth);
    case 0xdf: need(c, 4); x = v.getUint32(c.p); c.p += 4; return readMap(c, x, scope, depth);
    default:
      // ext types (timestamps and custom): not part of the envelope of any command.
      throw new RangeError(`unsupported MessagePack type 0x${t.toString(16)} in the request envelope`);
  }
}

// Short strings (keys, command names, queue names) repeat in every request: a direct-mapped
// cache from their bytes to the string built once. Bounded by construction; a miss just
// replaces the slot. Comparing bytes is cheaper than building a string char by char.
const internStr: (string | undefined)[] = new Array(decodeInternSlots);
const internLen = new Uint8Array(decodeInternSlots);
const internBytes = new Uint8Array(decodeInternSlots * decodeInternBytesMax);

function readStr(c: Cursor, len: number): string {
  need(c, len);
  const b = c.b;
  const start = c.p;
  c.p += len;
  if (len <= decodeInternBytesMax) {
    let h = len;
    for (let i = start; i < start + len; i++) h = (Math.imul(h, 31) + b[i]!) | 0;
    const slot = (h ^ (h >>> 15)) & (decodeInternSlots - 1);
    const cached = internStr[slot];
    const at = slot * decodeInternBytesMax;
    if (cached !== undefined && internLen[slot] === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (internBytes[at + i] !== b[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached;
    }
    const s = shortStr(b, start, len);
    internStr[slot] = s;
    internLen[slot] = len;
    for (let i = 0; i < len; i++) internBytes[at + i] = b[start + i]!;
    return s;
  }
  return utf8.decode(b.subarray(start, start + len));
}

/** Short keys and names are ASCII almost always: avoid the decoder call. */
function shortStr(b: Uint8Array, start: number, len: number): string {
  let s = "";
  for (let i = start; i < start + len; i++) {
    const ch = b[i]!;
    if (ch > 0x7f) return utf8.decode(b.subarray(start, start + len));
    s += fromCharCode(ch);
  }
  return s;
}

function readBin(c: Cursor, len: number): Uint8Array {
  need(c, len);
  const out = copyOf(c.b, c.p, c.p + len);
  c.p += len;
  return out;
}

function readArray(c: Cursor, n: number, scope: Scope, depth: number): unknown[] {
  if (depth >= envelopeDepthMax) throw new RangeError("request nested too deeply");
  if (n > c.end - c.p) throw new RangeError("truncated MessagePack"); // each element is >= 1 byte
  const out = new Array(n);
  const inner = scope === Scope.JobSpec ? Scope.JobSpec : Scope.Plain;
  for (let i = 0; i < n; i++) out[i] = read(c, inner, depth + 1);
  return out;
}

function readMap(c: Cursor, n: number, scope: Scope, depth: number): Record<string, unknown> {
  if (depth >= envelopeDepthMax) throw new RangeError("request nested too deeply");
  if (2 * n > c.end - c.p) throw new RangeError("truncated MessagePack");
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = read(c, Scope.Plain, depth + 1);
    const key = typeof k === "string" ? k : String(k);
    let value: unknown;
    if (scope !== Scope.Plain && (key === "data" || (scope === Scope.Request && key === "result"))) {
      const s = c.p;
      c.p = skipValue(c.b, s, c.end);
      value = new Raw(copyOf(c.b, s, c.p));
    } else if (scope === Scope.Request && key === "jobs") {
      value = read(c, Scope.JobSpec, depth + 1);
    } else {
      value = read(c, Scope.Plain, depth + 1);
    }
    // Never let a key named __proto__ reach the prototype.
    if (key === "__proto__") continue;
    out[key] = value;
  }
  return out;
}
