// MessagePack pieces msgpackr does not give us: locating the raw bytes of a field (so a job's
// `data` is kept as the bytes it arrived in, never re-encoded) and a reply writer that splices
// those bytes back in. Decoding of requests is msgpackr's job; this only skips over values.

import { Packr, Unpackr } from "msgpackr";

export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });
export const packr = new Packr({ useRecords: false, int64AsType: "number" });

/** Already-encoded MessagePack bytes, written as they are. */
export class Raw {
  constructor(readonly bytes: Uint8Array) {}
}

const textDecoder = new TextDecoder();

/** Position just past the MessagePack value starting at `p`. Throws on truncated input. */
export function skipValue(b: Uint8Array, p: number, end: number): number {
  let pending = 1; // values still to skip (maps/arrays add their children)
  while (pending > 0) {
    if (p >= end) throw new RangeError("truncated MessagePack");
    const t = b[p]!;
    pending--;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) p += 1;
    else if (t <= 0x8f) { pending += 2 * (t & 0x0f); p += 1; }
    else if (t <= 0x9f) { pending += t & 0x0f; p += 1; }
    else if (t <= 0xbf) p += 1 + (t & 0x1f);
    else {
      switch (t) {
        case 0xc4: case 0xd9: p += 2 + b[p + 1]!; break;
        case 0xc5: case 0xda: p += 3 + u16(b, p + 1); break;
        case 0xc6: case 0xdb: p += 5 + u32(b, p + 1); break;
        case 0xc7: p += 3 + b[p + 1]!; break;
        case 0xc8: p += 4 + u16(b, p + 1); break;
        case 0xc9: p += 6 + u32(b, p + 1); break;
        case 0xca: p += 5; break;
        case 0xcb: p += 9; break;
        case 0xcc: case 0xd0: p += 2; break;
        case 0xcd: case 0xd1: p += 3; break;
        case 0xce: case 0xd2: p += 5; break;
        case 0xcf: case 0xd3: p += 9; break;
        case 0xd4: p += 3; break;
        case 0xd5: p += 4; break;
        case 0xd6: p += 6; break;
        case 0xd7: p += 10; break;
        case 0xd8: p += 18; break;
        case 0xdc: pending += u16(b, p + 1); p += 3; break;
        case 0xdd: pending += u32(b, p + 1); p += 5; break;
        case 0xde: pending += 2 * u16(b, p + 1); p += 3; break;
        case 0xdf: pending += 2 * u32(b, p + 1); p += 5; break;
        default: throw new RangeError(`invalid MessagePack byte 0x${t.toString(16)}`);
      }
    }
  }
  if (p > end) throw new RangeError("truncated MessagePack");
  return p;
}

function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}
function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!;
}

/** Header of the map at p: [entry count, position of the first key], or null if not a map. */
function mapHeader(b: Uint8Array, p: number): [number, number] | null {
  const t = b[p]!;
  if (t >= 0x80 && t <= 0x8f) return [t & 0x0f, p + 1];
  if (t === 0xde) return [u16(b, p + 1), p + 3];
  if (t === 0xdf) return [u32(b, p + 1), p + 5];
  return null;
}

function arrayHeader(b: Uint8Array, p: number): [number, number] | null {
  const t = b[p]!;
  if (t >= 0x90 && t <= 0x9f) return [t & 0x0f, p + 1];
  if (t === 0xdc) return [u16(b, p + 1), p + 3];
  if (t === 0xdd) return [u32(b, p + 1), p + 5];
  return null;
}

/** The string key at p if it is a string: [key, position of its value]. */
function readKey(b: Uint8Array, p: number): [string | null, number] {
  const t = b[p]!;
  let len: number, start: number;
  if (t >= 0xa0 && t <= 0xbf) { len = t & 0x1f; start = p + 1; }
  else if (t === 0xd9) { len = b[p + 1]!; start = p + 2; }
  else if (t === 0xda) { len = u16(b, p + 1); start = p + 3; }
  else return [null, p];
  return [textDecoder.decode(b.subarray(start, start + len)), start + len];
}

/** Copies of the raw value bytes of the named top-level keys of the map at [start, end). */
export function rawFields(b: Uint8Array, start: number, end: number, keys: readonly string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const h = mapHeader(b, start);
  if (h === null) return out;
  let [n, p] = h;
  while (n-- > 0) {
    const [key, vStart] = readKey(b, p);
    const keyEnd = key === null ? skipValue(b, p, end) : vStart;
    const vEnd = skipValue(b, keyEnd, end);
    if (key !== null && keys.includes(key)) out.set(key, b.slice(keyEnd, vEnd));
    p = vEnd;
  }
  return out;
}

/** For `{arrayKey: [{key: ...}, ...]}`: a copy of each element's raw `key` value (or null). */
export function rawFieldInArray(b: Uint8Array, start: number, end: number, arrayKey: string, key: string): (Uint8Array | null)[] {
  const h = mapHeader(b, start);
  if (h === null) return [];
  let [n, p] = h;
  while (n-- > 0) {
    const [k, vStart] = readKey(b, p);
    const keyEnd = k === null ? skipValue(b, p, end) : vStart;
    if (k === arrayKey) {
      const a = arrayHeader(b, keyEnd);
      if (a === null) return [];
      let [count, q] = a;
      const out: (Uint8Array | null)[] = [];
      while (count-- > 0) {
        const qEnd = skipValue(b, q, end);
        out.push(rawFields(b, q, qEnd, [key]).get(key) ?? null);
        q = qEnd;
      }
      return out;
    }
    p = skipValue(b, keyEnd, end);
  }
  return [];
}

/** Value of raw MessagePack bytes, for JSON replies and anywhere the server must look inside. */
export function decodeRaw(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}
