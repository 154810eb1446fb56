// Per-connection framing: a small state machine that turns borrowed byte chunks into frames.
// The first byte picks the mode for the connection's life: `{`, `\n`, `\r` -> text (JSON
// lines), anything else -> binary (4-byte big-endian length + MessagePack). Frames are handed
// out as (buf, offset, length) views valid only during the callback. Buffers never grow past
// the frame limit: an over-long line is discarded to its newline, an over-long frame is fatal.
// No decoding here.

import { frameBuffersSpare, frameBufferSpareBytesMax, frameBytesMax, inputPausedBytesMax } from "../constants.ts";

export const enum FrameMode {
  Unknown = 0,
  Text = 1,
  Binary = 2,
}

export interface FrameSink {
  onFrame(buf: Uint8Array, offset: number, length: number): void;
  /** A framing error. fatal: the connection must be closed after the error reply. */
  onFrameError(message: string, fatal: boolean): void;
}

const enum ReadState {
  /** Reading frames. */
  Normal = 0,
  /** Text mode: dropping an over-long line until its newline. */
  Discarding = 1,
  /** A fatal error was reported; everything else is ignored. */
  Dead = 2,
}

/** A reader's buffer is given back when it is empty and over this size (a large frame needed it). */
const bigBuffer = 64 * 1024;

/**
 * Big buffers let go by readers, for the next large frame of any connection: a steady stream of
 * PUSHB 1000 (110 KB frames) on Bun sockets allocated 64 + 128 KB for nearly every frame, 19 MB
 * of garbage for 300k jobs. Bounded: frameBuffersSpare buffers of at most
 * frameBufferSpareBytesMax each. A buffer is only read up to what its new owner wrote.
 */
const spare: Uint8Array[] = [];

function takeSpare(need: number): Uint8Array | null {
  for (let i = 0; i < spare.length; i++) {
    const b = spare[i]!;
    if (b.length < need) continue;
    spare[i] = spare[spare.length - 1]!;
    spare.pop();
    return b;
  }
  return null;
}

function giveSpare(b: Uint8Array): void {
  if (b.length > bigBuffer && b.length <= frameBufferSpareBytesMax && spare.length < frameBuffersSpare) spare.push(b);
}

/** Buffers held for reuse (tests). */
export function spareFrameBuffers(): number {
  return spare.length;
}

export class FrameReader {
  mode: FrameMode = FrameMode.Unknown;
  private state = ReadState.Normal;
  /** Bytes kept between chunks: a partial frame, or input held while paused. */
  private pending: Uint8Array = new Uint8Array(0);
  private pendingLen = 0;
  /** Text mode: leading bytes of `pending` (one unfinished line) known to hold no newline. */
  private textScanned = 0;
  /** While paused (back-pressure), input is kept but not parsed. */
  paused = false;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxFrame = frameBytesMax,
  ) {}

  get bufferedBytes(): number {
    return this.pendingLen;
  }

  /** Feeds a borrowed chunk. Returns false when the input must be dropped (dead or over the paused bound). */
  push(chunk: Uint8Array, offset: number, length: number): boolean {
    if (this.state === ReadState.Dead) return false;
    if (length === 0) return true;
    if (this.mode === FrameMode.Unknown) {
      const c = chunk[offset]!;
      this.mode = c === 0x7b || c === 0x0a || c === 0x0d ? FrameMode.Text : FrameMode.Binary;
    }
    if (this.paused) {
      if (this.pendingLen + length > inputPausedBytesMax) return false;
      this.append(chunk, offset, length);
      return true;
    }
    if (this.pendingLen === 0) {
      const used = this.parse(chunk, offset, offset + length);
      if (used < offset + length) this.append(chunk, used, offset + length - used);
    } else {
      this.append(chunk, offset, length);
      this.drainPending();
    }
    // parse() may have moved the state to Dead.
    return (this.state as ReadState) !== ReadState.Dead;
  }

  /** Reads nothing more (the connection closes after its last reply). */
  stop(): void {
    this.state = ReadState.Dead;
  }

  /** Parses input held while paused. */
  resume(): void {
    this.paused = false;
    if (this.pendingLen > 0) this.drainPending();
  }

  private drainPending(): void {
    const used = this.parse(this.pending, 0, this.pendingLen);
    if (used > 0) {
      this.pending.copyWithin(0, used, this.pendingLen);
      this.pendingLen -= used;
    }
    // Give back a big buffer once the large frame that needed it has gone.
    if (this.pendingLen === 0 && this.pending.length > bigBuffer) {
      giveSpare(this.pending);
      this.pending = new Uint8Array(0);
    }
  }

  private append(b: Uint8Array, offset: number, length: number): void {
    const need = this.pendingLen + length;
    if (need > this.pending.length) {
      const size = Math.max(need, this.pending.length * 2, 1024);
      const next = (size > bigBuffer ? takeSpare(need) : null) ?? new Uint8Array(size);
      next.set(this.pending.subarray(0, this.pendingLen));
      giveSpare(this.pending);
      this.pending = next;
    }
    this.pending.set(b.subarray(offset, offset + length), this.pendingLen);
    this.pendingLen = need;
  }

  /** Parses whole frames from [start, end); returns the position of the first unconsumed byte. */
  private parse(b: Uint8Array, start: number, end: number): number {
    return this.mode === FrameMode.Text ? this.parseText(b, start, end) : this.parseBinary(b, start, end);
  }

  private parseBinary(b: Uint8Array, p: number, end: number): number {
    while (end - p >= 4 && !this.paused && this.state !== ReadState.Dead) {
      const len = ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!;
      if (len > this.maxFrame) {
        this.state = ReadState.Dead;
        this.sink.onFrameError(`Frame too large: ${len} bytes (limit ${this.maxFrame})`, true);
        return end;
      }
      if (len === 0) {
        p += 4;
        this.sink.onFrameError("Empty frame: a frame must hold one MessagePack map", false);
        continue;
      }
      if (end - p - 4 < len) break;
      this.sink.onFrame(b, p + 4, len);
      p += 4 + len;
    }
    return p;
  }

  private parseText(b: Uint8Array, p: number, end: number): number {
    // Search only up to `end`: `b` may be a whole receive region, or a buffer with room past
    // its filled part. And skip what earlier chunks of this same line already showed to hold no
    // newline: a long line arriving in pieces is scanned once, not once per piece.
    const view = end === b.length ? b : b.subarray(0, end);
    let from = p + this.textScanned;
    this.textScanned = 0;
    while (p < end && !this.paused && this.state !== ReadState.Dead) {
      const nl = view.indexOf(0x0a, from);
      if (this.state === ReadState.Discarding) {
        if (nl < 0 || nl >= end) return end;
        this.state = ReadState.Normal;
        p = from = nl + 1;
        continue;
      }
      if (nl < 0 || nl >= end) {
        if (end - p > this.maxFrame) {
          this.state = ReadState.Discarding;
          this.sink.onFrameError(`Line too long: over ${this.maxFrame} bytes; discarded`, false);
          return end;
        }
        this.textScanned = end - p; // kept as pending from its start: no newline in these bytes
        return p;
      }
      let lineEnd = nl;
      if (lineEnd > p && b[lineEnd - 1] === 0x0d) lineEnd--;
      if (lineEnd - p > this.maxFrame) {
        this.sink.onFrameError(`Line too long: over ${this.maxFrame} bytes; discarded`, false);
      } else {
        this.sink.onFrame(b, p, lineEnd - p);
      }
      p = from = nl + 1;
    }
    return p;
  }
}
