// Shared MessagePack pieces: msgpackr instances for values the server must look inside, Raw
// (already-encoded bytes, spliced into replies as they are), skipValue, which finds where a
// value ends without decoding it, and skipPayload, the same walk that also checks the value is a
// payload ringq will keep (plain MessagePack, bounded nesting): one pass, nothing decoded.

import { Packr, Unpackr } from "msgpackr";
import { payloadDepthMax } from "../constants.ts";

export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });
export const packr = new Packr({ useRecords: false, int64AsType: "number" });

/** Already-encoded MessagePack bytes, written as they are. `invalid`: why these bytes cannot be
 *  kept as a payload (set by the decoder; dispatch refuses the request naming the field). */
export class Raw {
  constructor(
    protected readonly b: Uint8Array,
    readonly invalid: string | null = null,
  ) {}

  get bytes(): Uint8Array {
    return this.b;
  }
}

/** Bytes of a frame, borrowed while its request is dispatched (decode.ts: a "borrowed" field):
 *  neither copied nor viewed unless asked. `src[start, end)` are the bytes. */
export class BorrowedRaw extends Raw {
  // Mutable: the decoder reuses its BorrowedRaws from one request to the next (decode.ts).
  declare invalid: string | null;
  declare protected b: Uint8Array;
  constructor(
    src: Uint8Array,
    public start: number,
    public end: number,
    invalid: string | null,
  ) {
    super(src, invalid);
  }

  /** Points this one at other bytes (the decoder's pool). */
  reset(src: Uint8Array, start: number, end: number, invalid: string | null): this {
    this.b = src;
    this.start = start;
    this.end = end;
    this.invalid = invalid;
    return this;
  }

  /** A view of the frame: valid only while the request is dispatched. */
  override get bytes(): Uint8Array {
    return this.b.subarray(this.start, this.end);
  }

  get src(): Uint8Array {
    return this.b;
  }
}

/** A value that is well-formed MessagePack but not one ringq keeps as a payload. */
export class PayloadError extends Error {}

const depthStack = new Float64Array(payloadDepthMax + 1);

/**
 * Position just past the payload starting at `p`, checking on the way that every byte is plain
 * MessagePack a client can read back: no ext types (timestamps and custom types; no client of
 * ours can decode them into JSON), not the never-used byte 0xc1, and at most payloadDepthMax
 * levels of nested arrays and maps. Throws RangeError when truncated, PayloadError otherwise.
 */
export function skipPayload(b: Uint8Array, p: number, end: number): number {
  const stack = depthStack;
  let depth = 0;
  let left = 1; // values still to read at this level
  for (;;) {
    while (left === 0) {
      if (depth === 0) {
        if (p > end) throw new RangeError("truncated MessagePack");
        return p;
      }
      left = stack[--depth]!;
    }
    if (p >= end) throw new RangeError("truncated MessagePack");
    const t = b[p]!;
    left--;
    let children = 0;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) p += 1;
    else if (t <= 0x8f) { children = 2 * (t & 0x0f); p += 1; }
    else if (t <= 0x9f) { children = t & 0x0f; p += 1; }
    else if (t <= 0xbf) p += 1 + (t & 0x1f);
    else {
      switch (t) {
        case 0xc4: case 0xd9: p += 2 + b[p + 1]!; break;
        case 0xc5: case 0xda: p += 3 + u16(b, p + 1); break;
        case 0xc6: case 0xdb: p += 5 + u32(b, p + 1); break;
        case 0xca: p += 5; break;
        case 0xcb: p += 9; break;
        case 0xcc: case 0xd0: p += 2; break;
        case 0xcd: case 0xd1: p += 3; break;
        case 0xce: case 0xd2: p += 5; break;
        case 0xcf: case 0xd3: p += 9; break;
        case 0xdc: children = u16(b, p + 1); p += 3; break;
        case 0xdd: children = u32(b, p + 1); p += 5; break;
        case 0xde: children = 2 * u16(b, p + 1); p += 3; break;
        case 0xdf: children = 2 * u32(b, p + 1); p += 5; break;
        case 0xc1: throw new PayloadError("byte 0xc1 is not MessagePack");
        default: throw new PayloadError(`MessagePack ext type (0x${t.toString(16)}) is not accepted in a payload; send plain values`);
      }
    }
    if (children > 0) {
      if (depth >= payloadDepthMax) throw new PayloadError(`nested deeper than ${payloadDepthMax} levels (payloadDepthMax)`);
      stack[depth++] = left;
      left = children;
    }
  }
}

/** Depth of a JSON value's nesting, counted up to payloadDepthMax + 1 (then it stops looking). */
export function jsonDepthOver(v: unknown, max = payloadDepthMax): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== "object" || x === null) continue;
    const children = Array.isArray(x) ? x : Object.values(x);
    if (children.length === 0) continue;
    if (d >= max) return true;
    for (const c of children) if (typeof c === "object" && c !== null) stack.push([c, d + 1]);
  }
  return false;
}

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
        case 0xc1: p += 1; break; // never used by MessagePack; one byte (skipPayload refuses it)
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

/** Value of raw MessagePack bytes, for JSON replies and anywhere the server must look inside. */
export function decodeRaw(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}
