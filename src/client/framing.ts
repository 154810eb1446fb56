// Reading the binary framing of docs/protocol.md on the client side: a byte stream split into
// 4-byte big-endian lengths each followed by one MessagePack map, decoded. Requests are written
// by msgpack-encode.ts. No sockets and no request bookkeeping here (connection.ts).

import { Unpackr } from "msgpackr";
import { frameBytesMax } from "./constants.ts";
import { decodeAt, NotPlain } from "./msgpack-decode.ts";

// Frames with extension types (which ringq never sends, other servers might) go to msgpackr.
// int64 as number: ids and timestamps fit in 2^53.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Thrown for a frame the client cannot read; the caller closes the connection. */
export class FrameError extends Error {
  override name = "FrameError";
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
    // One DataView for the chunk: the decoder reads every frame of it through this one.
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
        message = decodeFrame(buf, view, at + 4, at + 4 + length);
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
      this.need = rest >= 4 ? 4 + view.getUint32(at) : 4;
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
function decodeFrame(buf: Uint8Array, view: DataView, start: number, end: number): unknown {
  try {
    return decodeAt(buf, view, start, end);
  } catch (err) {
    if (err instanceof NotPlain) return unpackr.unpack(buf.subarray(start, end));
    throw err;
  }
}
