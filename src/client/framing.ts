// Binary framing of PROTOCOL.md on the client side: a 4-byte big-endian length, then one
// MessagePack map. FrameWriter batches frames into one buffer per write; FrameReader splits a
// byte stream into decoded maps. No sockets and no request bookkeeping here (connection.ts).

import { Packr, Unpackr } from "msgpackr";
import { frameBytesMax } from "./constants.ts";
import { decode, NotPlain } from "./msgpack-decode.ts";

// Plain MessagePack maps (no msgpackr records extension): the server and other flashQ clients
// must be able to read every frame; `undefined` inside data becomes nil, as JSON would drop it.
// int64 as number: ids and timestamps fit in 2^53.
const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Thrown for a frame the client refuses to send or cannot read; the caller decides what closes. */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Accumulates encoded frames for one socket write. */
export class FrameWriter {
  private parts: Uint8Array[] = [];
  private bytes = 0;

  /** Encode one request map; throws FrameError (nothing appended) if it is over the frame limit. */
  append(message: object): void {
    const body = packr.pack(message);
    if (body.length > frameBytesMax) {
      throw new FrameError(`frame of ${body.length} bytes is over the ${frameBytesMax}-byte limit`);
    }
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, body.length);
    // msgpackr may hand back a view of its own scratch buffer; keep a copy until the write.
    this.parts.push(head, Uint8Array.prototype.slice.call(body));
    this.bytes += 4 + body.length;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** Everything appended since the last take, as one buffer the socket may keep. */
  take(): Uint8Array | null {
    if (this.bytes === 0) return null;
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    this.parts = [];
    this.bytes = 0;
    return out;
  }
}

/**
 * Splits incoming bytes into frames. Chunks are kept in a list until a whole frame is there,
 * then joined once, so a 16 MiB frame arriving in 64 KiB reads costs one copy, not hundreds.
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  /** Bytes needed before the next parse step can make progress (header or whole frame). */
  private need = 4;

  constructor(private readonly onFrame: (message: Record<string, unknown>) => void) {}

  /** Feed a chunk; calls onFrame for each complete frame. Throws FrameError on bad input. */
  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < this.need) return;
    let buf = this.chunks.length === 1 ? this.chunks[0]! : concat(this.chunks, this.bytes);
    let at = 0;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (buf.length - at >= 4) {
      const length = view.getUint32(at);
      if (length > frameBytesMax) {
        throw new FrameError(`server sent a frame of ${length} bytes, over the ${frameBytesMax}-byte limit`);
      }
      if (length === 0) throw new FrameError("server sent an empty frame");
      if (buf.length - at - 4 < length) break;
      let message: unknown;
      try {
        message = decodeFrame(buf.subarray(at + 4, at + 4 + length));
      } catch (err) {
        throw new FrameError(`undecodable frame from server: ${(err as Error).message}`);
      }
      at += 4 + length;
      if (message === null || typeof message !== "object" || Array.isArray(message)) {
        throw new FrameError("server sent a frame that is not a map");
      }
      this.onFrame(message as Record<string, unknown>);
    }
    const rest = buf.length - at;
    if (rest === 0) {
      this.chunks = [];
      this.bytes = 0;
      this.need = 4;
    } else {
      buf = buf.subarray(at);
      this.chunks = [buf];
      this.bytes = rest;
      this.need = rest >= 4 ? 4 + new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0) : 4;
    }
  }

  /** Drop partial input (after a reconnect the old stream's tail means nothing). */
  reset(): void {
    this.chunks = [];
    this.bytes = 0;
    this.need = 4;
  }
}

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Decode one frame body: the fast decoder, or msgpackr for frames with extensions. */
export function decodeFrame(body: Uint8Array): unknown {
  try {
    return decode(body);
  } catch (err) {
    if (err instanceof NotPlain) return unpackr.unpack(body);
    throw err;
  }
}

/** Encode one message as a complete frame (used by tests and tools). */
export function encodeFrame(message: object): Uint8Array {
  const w = new FrameWriter();
  w.append(message);
  return w.take()!;
}
