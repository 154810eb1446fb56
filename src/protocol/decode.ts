// Request decoding in one pass. MessagePack requests are decoded here rather than by msgpackr
// because payload fields must stay the bytes they arrived in: each command declares which of its
// fields are payloads (a RawSpec, compiled from the registry's `raw` tree, nested as deep as the
// command's shape: PUSHB `jobs[].data`, a flow's `children[].data`), and those are skipped and
// kept as Raw slices, never decoded. JSON requests get the same shape (their payloads encoded
// once to MessagePack) so handlers see one form. Which spec applies is known from `cmd`, read
// first when it comes first (every client we know sends it first) or found by a scan.

import { decodeInternBytesMax, decodeInternSlots } from "../constants.ts";
import { BorrowedRaw, jsonDepthOver, PayloadError, Raw, encodeValue, skipPayload, skipValue } from "./msgpack.ts";
import { payloadDepthMax, pushBatchJobsMax } from "../constants.ts";
import { ViewCache } from "../engine/copy-bytes.ts";

/** Nesting allowed in the envelope (payloads are skipped, not decoded, so their depth is apart). */
const envelopeDepthMax = 16;

/**
 * Where a command keeps payloads: `true` for a field kept raw, a tree for an object's own
 * fields, `[tree]` for an array of such objects. A tree may contain itself (nested flows).
 * `"borrowed"`: kept raw, but as a view of the frame, valid only while the request is dispatched
 * (binary frames): for a handler that copies the bytes where it keeps them before it returns
 * (PUSH's data goes into the payload arena), so the decoder's own copy is not made.
 */
export interface RawTree {
  [field: string]: true | "borrowed" | RawTree | readonly [RawTree];
}

const RAW = 0;
const OBJECT = 1;
const LIST = 2;
const BORROWED = 3;
type RawField = { readonly kind: typeof RAW } | { readonly kind: typeof BORROWED } | { readonly kind: typeof OBJECT | typeof LIST; readonly spec: RawSpec };

/** A RawTree compiled for lookups (a Map: a field named `constructor` finds nothing). */
export class RawSpec {
  readonly fields = new Map<string, RawField>();
  /** The same fields as an array, for walks that must not allocate an iterator per object. */
  private list: [string, RawField][] = [];

  static compile(tree: RawTree, seen = new Map<RawTree, RawSpec>()): RawSpec {
    const known = seen.get(tree);
    if (known !== undefined) return known;
    const spec = new RawSpec();
    seen.set(tree, spec);
    for (const [name, node] of Object.entries(tree)) {
      if (node === true) spec.fields.set(name, { kind: RAW });
      else if (node === "borrowed") spec.fields.set(name, { kind: BORROWED });
      else if (Array.isArray(node)) spec.fields.set(name, { kind: LIST, spec: RawSpec.compile(node[0]!, seen) });
      else spec.fields.set(name, { kind: OBJECT, spec: RawSpec.compile(node as RawTree, seen) });
    }
    spec.list = [...spec.fields];
    return spec;
  }

  /** The first Raw value in `body` the decoder marked invalid, with its path (`jobs.3.data`). */
  firstInvalid(body: unknown, prefix = ""): { path: string; reason: string } | null {
    if (typeof body !== "object" || body === null) return null;
    const o = body as Record<string, unknown>;
    const list = this.list;
    for (let k = 0; k < list.length; k++) {
      const [name, f] = list[k]!;
      if (!Object.hasOwn(o, name)) continue;
      const v = o[name];
      if (f.kind === RAW || f.kind === BORROWED) {
        if (v instanceof Raw && v.invalid !== null) return { path: prefix + name, reason: v.invalid };
      } else if (f.kind === OBJECT) {
        const bad = f.spec.firstInvalid(v, `${prefix}${name}.`);
        if (bad !== null) return bad;
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const bad = f.spec.firstInvalid(v[i], `${prefix}${name}.${i}.`);
          if (bad !== null) return bad;
        }
      }
    }
    return null;
  }

  get entries(): readonly [string, RawField][] {
    return this.list;
  }

  /** Every raw field as a path (`jobs[].data`), for docs and tests; recursion shown once. */
  paths(prefix = "", seen = new Set<RawSpec>()): string[] {
    if (seen.has(this)) return [`${prefix}...`];
    seen.add(this);
    const out: string[] = [];
    for (const [name, f] of this.fields) {
      const p = prefix + name;
      if (f.kind === RAW || f.kind === BORROWED) out.push(p);
      else out.push(...f.spec.paths(f.kind === LIST ? `${p}[].` : `${p}.`, seen));
    }
    seen.delete(this);
    return out;
  }
}

/** The raw spec of a command, or undefined (unknown command, or one without payloads). */
export type RawSpecOf = (cmd: string) => RawSpec | undefined;

/** Set by the decoders on a request that holds a payload unfit to keep, so that dispatch looks
 *  for it (and names it) only then: most requests are never walked a second time. */
export const invalidPayload: unique symbol = Symbol("invalidPayload");

/** Set on a request that holds a null outside its payloads, so that dispatch strips the optional
 *  ones ("null means absent", dispatch/absent.ts) only then. JSON requests always carry it. */
export const hasNull: unique symbol = Symbol("hasNull");

/** Whether decoding the request now being decoded found an invalid payload; a null. */
let sawInvalid = false;
let sawNull = false;

const fromCharCode = String.fromCharCode;
/** A real copy even when the input is a Node Buffer, whose slice() is a view of borrowed memory. */
const copyOf = (b: Uint8Array, start: number, end: number): Uint8Array => Uint8Array.prototype.slice.call(b, start, end);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Where decoding stands. There is one, reset per request (decoding never re-enters itself):
 *  an object per request showed as 3 % of PUSH's server profile. */
class Cursor {
  constructor(
    public b: Uint8Array,
    public p: number,
    public end: number,
    public view: DataView,
  ) {}
}

// Frames mostly arrive in the same long-lived buffer (a recv buffer region, the frame reader's
// own): keep its DataView instead of building one per request.
const views = new ViewCache();
const NO_BYTES = new Uint8Array(0);

const cursor = new Cursor(NO_BYTES, 0, 0, views.of(NO_BYTES));

// Borrowed payloads are valid only while their request is dispatched, so their BorrowedRaws are
// too: one pool, handed out again from the start by each request (PUSHB: none allocated per
// job). Past a PUSHB's worth a request gets fresh ones (the schema refuses it anyway).
const borrowedPool: BorrowedRaw[] = [];
let borrowedUsed = 0;

function borrow(src: Uint8Array, start: number, end: number, invalid: string | null): BorrowedRaw {
  if (borrowedUsed < borrowedPool.length) return borrowedPool[borrowedUsed++]!.reset(src, start, end, invalid);
  const r = new BorrowedRaw(src, start, end, invalid);
  if (borrowedPool.length < pushBatchJobsMax) {
    borrowedPool.push(r);
    borrowedUsed++;
  }
  return r;
}

/** After the request is dispatched: the pool lets go of its frame (which may be large). */
export function releaseBorrowed(): void {
  for (let i = 0; i < borrowedUsed; i++) borrowedPool[i]!.reset(NO_BYTES, 0, 0, null);
  borrowedUsed = 0;
}

/** Decodes one request. Throws RangeError on malformed or truncated input. */
export function decodeMsgpackRequest(b: Uint8Array, start: number, end: number, specOf: RawSpecOf): unknown {
  const c = cursor;
  c.b = b;
  c.p = start;
  c.end = end;
  c.view = views.of(b);
  const t = b[start];
  let v: unknown;
  sawInvalid = false;
  sawNull = false;
  releaseBorrowed();
  if (t !== undefined && ((t >= 0x80 && t <= 0x8f) || t === 0xde || t === 0xdf)) {
    const n = t <= 0x8f ? t & 0x0f : t === 0xde ? (need(c, 3), c.view.getUint16(start + 1)) : (need(c, 5), c.view.getUint32(start + 1));
    c.p = start + (t <= 0x8f ? 1 : t === 0xde ? 3 : 5);
    v = readMap(c, n, specOf(commandOf(c, n)) ?? null, 0);
  } else {
    v = read(c, null, 0);
  }
  if (c.p !== end) throw new RangeError("trailing bytes after the request map");
  if (sawInvalid) (v as Record<symbol, unknown>)[invalidPayload] = true;
  if (sawNull) (v as Record<symbol, unknown>)[hasNull] = true;
  return v;
}

/** The value of the top-level `cmd` key, if it is a string; the cursor is left where it was. */
function commandOf(c: Cursor, n: number): string {
  const at = c.p;
  const b = c.b;
  try {
    // The usual case: `cmd` comes first (a fixstr key of 3 bytes).
    if (b[at] === 0xa3 && b[at + 1] === 0x63 && b[at + 2] === 0x6d && b[at + 3] === 0x64) {
      c.p = at + 4;
      const v = read(c, null, 1);
      return typeof v === "string" ? v : "";
    }
    for (let i = 0; i < n; i++) {
      const k = read(c, null, 1);
      if (k === "cmd") {
        const v = read(c, null, 1);
        return typeof v === "string" ? v : "";
      }
      c.p = skipValue(b, c.p, c.end);
    }
    return "";
  } finally {
    c.p = at;
  }
}

/** JSON requests: the command's payload fields become Raw MessagePack (the binary shape). */
export function rawifyJsonRequest(body: unknown, specOf: RawSpecOf): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const cmd = (body as { cmd?: unknown }).cmd;
  const spec = typeof cmd === "string" ? specOf(cmd) : undefined;
  sawInvalid = false;
  if (spec !== undefined) rawifyObject(body as Record<string, unknown>, spec);
  if (sawInvalid) (body as Record<symbol, unknown>)[invalidPayload] = true;
  (body as Record<symbol, unknown>)[hasNull] = true;
  return body;
}

function rawifyObject(o: Record<string, unknown>, spec: RawSpec): void {
  for (const [name, f] of spec.entries) {
    if (!Object.hasOwn(o, name)) continue;
    const v = o[name];
    if (f.kind === RAW || f.kind === BORROWED) {
      if (v === undefined) continue;
      // JSON has no ext types; only the nesting needs a look before it is encoded.
      const deep = jsonDepthOver(v);
      if (deep) sawInvalid = true;
      o[name] = deep
        ? new Raw(new Uint8Array([0xc0]), `nested deeper than ${payloadDepthMax} levels (payloadDepthMax)`)
        : new Raw(new Uint8Array(encodeValue(v)));
    } else if (f.kind === OBJECT) {
      if (typeof v === "object" && v !== null && !Array.isArray(v)) rawifyObject(v as Record<string, unknown>, f.spec);
    } else if (Array.isArray(v)) {
      for (const item of v) if (typeof item === "object" && item !== null && !Array.isArray(item)) rawifyObject(item as Record<string, unknown>, f.spec);
    }
  }
}

function need(c: Cursor, n: number): void {
  if (c.p + n > c.end) throw new RangeError("truncated MessagePack");
}

function read(c: Cursor, spec: RawSpec | null, depth: number): unknown {
  need(c, 1);
  const t = c.b[c.p++]!;
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t <= 0x8f) return readMap(c, t & 0x0f, spec, depth);
  if (t <= 0x9f) return readArray(c, t & 0x0f, spec, depth);
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
    case 0xdc: need(c, 2); x = v.getUint16(c.p); c.p += 2; return readArray(c, x, spec, depth);
    case 0xdd: need(c, 4); x = v.getUint32(c.p); c.p += 4; return readArray(c, x, spec, depth);
    case 0xde: need(c, 2); x = v.getUint16(c.p); c.p += 2; return readMap(c, x, spec, depth);
    case 0xdf: need(c, 4); x = v.getUint32(c.p); c.p += 4; return readMap(c, x, spec, depth);
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

/** An array; `spec` applies to each of its items (an array of objects with payloads). */
function readArray(c: Cursor, n: number, spec: RawSpec | null, depth: number): unknown[] {
  if (depth >= envelopeDepthMax) throw new RangeError("request nested too deeply");
  if (n > c.end - c.p) throw new RangeError("truncated MessagePack"); // each element is >= 1 byte
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read(c, spec, depth + 1);
  return out;
}

/** A map; `spec` says which of its fields are payloads (kept raw) or hold payloads deeper. */
function readMap(c: Cursor, n: number, spec: RawSpec | null, depth: number): Record<string, unknown> {
  if (depth >= envelopeDepthMax) throw new RangeError("request nested too deeply");
  if (2 * n > c.end - c.p) throw new RangeError("truncated MessagePack");
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = read(c, null, depth + 1);
    const key = typeof k === "string" ? k : String(k);
    const f = spec === null ? undefined : spec.fields.get(key);
    let value: unknown;
    if (f === undefined) {
      value = read(c, null, depth + 1);
      if (value === null) sawNull = true;
    } else if (f.kind === RAW || f.kind === BORROWED) {
      const s = c.p;
      let invalid: string | null = null;
      try {
        c.p = skipPayload(c.b, s, c.end);
      } catch (e) {
        if (!(e instanceof PayloadError)) throw e;
        // Well-formed but not a payload we keep: find its end, let dispatch refuse it by name.
        invalid = e.message;
        sawInvalid = true;
        c.p = skipValue(c.b, s, c.end);
      }
      value = f.kind === RAW ? new Raw(copyOf(c.b, s, c.p), invalid) : borrow(c.b, s, c.p, invalid);
    } else {
      // OBJECT: the spec applies to the map's fields; LIST: to each item of the array.
      value = read(c, f.spec, depth + 1);
    }
    // Never let a key named __proto__ reach the prototype.
    if (key === "__proto__") continue;
    out[key] = value;
  }
  return out;
}
