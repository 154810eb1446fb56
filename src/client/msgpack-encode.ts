// The client's MessagePack writer: request frames (4-byte length + one map) encoded straight
// into one growing buffer per socket write, so a request costs no intermediate buffer, header
// array, DataView or copy of its own (measured: about half the client CPU of queue.add went to
// msgpackr's pack, the per-frame copy and the header's DataView; bench/README.md).
// Plain values only, as the server accepts them: nil, booleans, numbers, strings, binary
// (Uint8Array), arrays, maps (plain objects and Map). An object with toJSON (Date) is written as
// what toJSON returns, as JSON would; `undefined` is nil; functions and symbols are nil in
// arrays and left out of objects. No ext types: the server refuses them.

/** A request whose encoding passed the frame limit; nothing of it was kept. */
export class FrameTooLarge extends Error {}

const utf8 = new TextEncoder();
const bufferBytesInitial = 64 * 1024;

export class FrameEncoder {
  private buf = new Uint8Array(bufferBytesInitial);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  /**
   * `bufferBytesMax`: the most the caller lets accumulate before it takes a write, so a buffer
   * past that plus one largest frame can only hold a frame over the limit.
   */
  constructor(
    private readonly frameBytesMax: number,
    private readonly bufferBytesMax: number,
  ) {}

  /** Bytes encoded since the last take. */
  get length(): number {
    return this.pos;
  }

  /**
   * Append one frame holding the map {cmd, reqId, ...fields} (fields' undefined values as nil,
   * like the rest); `reqId` is written as its decimal string (the protocol's reqId is a string)
   * without making one. Throws FrameTooLarge, with nothing appended, over the frame limit.
   */
  frame(cmd: string, reqId: number, fields: Record<string, unknown>): void {
    const start = this.pos;
    try {
      this.room(5);
      this.pos += 4;
      let n = 2;
      for (const k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) n++;
      this.mapHeader(n);
      this.str("cmd");
      this.str(cmd);
      this.str("reqId");
      this.decimal(reqId);
      for (const k in fields) {
        if (!Object.prototype.hasOwnProperty.call(fields, k)) continue;
        this.str(k);
        this.value(fields[k], 0);
      }
    } catch (err) {
      this.pos = start;
      throw err;
    }
    const bytes = this.pos - start - 4;
    if (bytes > this.frameBytesMax) {
      this.pos = start;
      throw new FrameTooLarge(`frame of ${bytes} bytes is over the ${this.frameBytesMax}-byte limit`);
    }
    this.view.setUint32(start, bytes);
  }

  /** Everything appended since the last take, as a buffer the socket may keep; null if none. */
  take(): Uint8Array | null {
    if (this.pos === 0) return null;
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    // A buffer grown for one huge request is not kept for every later small write.
    if (this.buf.length > 16 * bufferBytesInitial) {
      this.buf = new Uint8Array(bufferBytesInitial);
      this.view = new DataView(this.buf.buffer);
    }
    return out;
  }

  /** Drop what was appended (the connection it was for is gone). */
  clear(): void {
    this.pos = 0;
  }

  private room(bytes: number): void {
    const need = this.pos + bytes;
    if (need <= this.buf.length) return;
    // Past the frame limit nothing is sent anyway: stop before allocating for it.
    if (need > this.bufferBytesMax + this.frameBytesMax + 4) {
      throw new FrameTooLarge(`request of more than ${this.frameBytesMax} bytes is over the frame limit`);
    }
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private value(v: unknown, depth: number): void {
    switch (typeof v) {
      case "string":
        return this.str(v);
      case "number":
        return this.num(v);
      case "boolean":
        this.room(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case "object":
        if (v === null) break;
        return this.object(v, depth);
      case "bigint":
        return this.bigint(v);
      default:
        break; // undefined, functions, symbols
    }
    this.room(1);
    this.buf[this.pos++] = 0xc0;
  }

  private object(v: object, depth: number): void {
    if (depth > 1000) throw new RangeError("value nested more than 1000 levels deep (a cycle?)");
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
      return;
    }
    if (v instanceof Uint8Array) return this.bin(v);
    if (ArrayBuffer.isView(v)) return this.bin(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    if (v instanceof ArrayBuffer) return this.bin(new Uint8Array(v));
    if (v instanceof Map) {
      this.mapHeader(v.size);
      for (const [k, x] of v) {
        this.value(k, depth + 1);
        this.value(x, depth + 1);
      }
      return;
    }
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return this.value(toJSON.call(v), depth + 1);
    const o = v as Record<string, unknown>;
    let n = 0;
    for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k) && written(o[k])) n++;
    this.mapHeader(n);
    for (const k in o) {
      if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
      const x = o[k];
      if (!written(x)) continue;
      this.str(k);
      this.value(x, depth + 1);
    }
  }

  private str(s: string): void {
    const len = s.length;
    // Short ASCII (keys, names, ids): byte by byte, no encoder call.
    if (len < 32) {
      this.room(1 + 3 * len);
      const buf = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + 1 + i] = c;
      }
      if (i === len) {
        buf[at] = 0xa0 | len;
        this.pos = at + 1 + len;
        return;
      }
    }
    // General case: reserve the header for the longest encoding, encode, then write the header
    // for the real length (a wider header than needed is valid MessagePack).
    const max = 3 * len;
    const head = max < 32 ? 1 : max < 256 ? 2 : max < 65536 ? 3 : 5;
    this.room(head + max);
    const at = this.pos;
    const { written: bytes } = utf8.encodeInto(s, this.buf.subarray(at + head, at + head + max));
    if (head === 1) this.buf[at] = 0xa0 | bytes!;
    else if (head === 2) {
      this.buf[at] = 0xd9;
      this.buf[at + 1] = bytes!;
    } else if (head === 3) {
      this.buf[at] = 0xda;
      this.view.setUint16(at + 1, bytes!);
    } else {
      this.buf[at] = 0xdb;
      this.view.setUint32(at + 1, bytes!);
    }
    this.pos = at + head + bytes!;
  }

  /** A non-negative safe integer as a MessagePack string of its decimal digits. */
  private decimal(v: number): void {
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    this.room(1 + digits);
    const buf = this.buf;
    const at = this.pos;
    buf[at] = 0xa0 | digits;
    for (let i = digits, x = v; i > 0; i--, x = Math.floor(x / 10)) buf[at + i] = 48 + (x % 10);
    this.pos = at + 1 + digits;
  }

  private num(v: number): void {
    this.room(9);
    const buf = this.buf;
    const at = this.pos;
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff) {
      if (v >= 0) {
        if (v < 0x80) {
          buf[at] = v;
          this.pos = at + 1;
        } else if (v < 0x100) {
          buf[at] = 0xcc;
          buf[at + 1] = v;
          this.pos = at + 2;
        } else if (v < 0x10000) {
          buf[at] = 0xcd;
          this.view.setUint16(at + 1, v);
          this.pos = at + 3;
        } else {
          buf[at] = 0xce;
          this.view.setUint32(at + 1, v);
          this.pos = at + 5;
        }
      } else if (v >= -32) {
        buf[at] = v & 0xff;
        this.pos = at + 1;
      } else if (v >= -128) {
        buf[at] = 0xd0;
        this.view.setInt8(at + 1, v);
        this.pos = at + 2;
      } else if (v >= -32768) {
        buf[at] = 0xd1;
        this.view.setInt16(at + 1, v);
        this.pos = at + 3;
      } else {
        buf[at] = 0xd2;
        this.view.setInt32(at + 1, v);
        this.pos = at + 5;
      }
      return;
    }
    if (Number.isSafeInteger(v)) {
      // 64-bit integers (ids and times fit in 2^53): high and low words.
      const neg = v < 0;
      buf[at] = neg ? 0xd3 : 0xcf;
      const hi = Math.floor(v / 4294967296);
      const lo = v - hi * 4294967296;
      this.view.setInt32(at + 1, hi);
      this.view.setUint32(at + 5, lo);
      this.pos = at + 9;
      return;
    }
    buf[at] = 0xcb;
    this.view.setFloat64(at + 1, v);
    this.pos = at + 9;
  }

  private bigint(v: bigint): void {
    this.room(9);
    const at = this.pos;
    if (v >= 0n && v <= 0xffffffffffffffffn) {
      this.buf[at] = 0xcf;
      this.view.setBigUint64(at + 1, v);
    } else if (v < 0n && v >= -0x8000000000000000n) {
      this.buf[at] = 0xd3;
      this.view.setBigInt64(at + 1, v);
    } else throw new RangeError(`bigint ${v} does not fit in 64 bits`);
    this.pos = at + 9;
  }

  private bin(v: Uint8Array): void {
    const n = v.length;
    this.room(5 + n);
    const at = this.pos;
    if (n < 256) {
      this.buf[at] = 0xc4;
      this.buf[at + 1] = n;
      this.pos = at + 2;
    } else if (n < 65536) {
      this.buf[at] = 0xc5;
      this.view.setUint16(at + 1, n);
      this.pos = at + 3;
    } else {
      this.buf[at] = 0xc6;
      this.view.setUint32(at + 1, n);
      this.pos = at + 5;
    }
    this.buf.set(v, this.pos);
    this.pos += n;
  }

  private mapHeader(n: number): void {
    this.room(5);
    const at = this.pos;
    if (n < 16) {
      this.buf[at] = 0x80 | n;
      this.pos = at + 1;
    } else if (n < 65536) {
      this.buf[at] = 0xde;
      this.view.setUint16(at + 1, n);
      this.pos = at + 3;
    } else {
      this.buf[at] = 0xdf;
      this.view.setUint32(at + 1, n);
      this.pos = at + 5;
    }
  }

  private arrayHeader(n: number): void {
    this.room(5);
    const at = this.pos;
    if (n < 16) {
      this.buf[at] = 0x90 | n;
      this.pos = at + 1;
    } else if (n < 65536) {
      this.buf[at] = 0xdc;
      this.view.setUint16(at + 1, n);
      this.pos = at + 3;
    } else {
      this.buf[at] = 0xdd;
      this.view.setUint32(at + 1, n);
      this.pos = at + 5;
    }
  }
}

/** Object properties left out, as JSON.stringify leaves them out (undefined is kept: nil). */
function written(v: unknown): boolean {
  return typeof v !== "function" && typeof v !== "symbol";
}
