// Per-connection output for the io_uring backend: a chain of chunks in the C-owned send arena
// (so the kernel reads stable memory), and past a per-connection cap a JS overflow queue.
// Pure bookkeeping: it does not submit sends or know connection states (uring.ts does).

/** Where the arena's bytes live: C memory the kernel sends from, written through the shim
 *  (uring-ring.ts), or a plain array (tests). */
export interface ArenaMemory {
  /** Copies src[srcOff, srcOff + n) to the arena at dst (the caller checked both ranges). */
  copyIn(dst: number, src: Uint8Array, srcOff: number, n: number): void;
}

/** An arena in a JS array. */
export class ArrayArenaMemory implements ArenaMemory {
  constructor(readonly bytes: Uint8Array) {}

  copyIn(dst: number, src: Uint8Array, srcOff: number, n: number): void {
    this.bytes.set(src.subarray(srcOff, srcOff + n), dst);
  }
}

export class SendArena {
  private readonly chunkNext: Int32Array;
  private readonly chunkFill: Int32Array;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly headOff: Int32Array;
  private readonly chunkCount: Int32Array;
  /** Bytes queued per slot, arena and overflow together. */
  private readonly queued: Float64Array;
  private readonly overflow: (Uint8Array[] | null)[];
  /** Offset already moved into the arena from the first overflow piece. */
  private readonly overflowOff: Int32Array;
  /** Slots whose output waits in overflow for a chunk from the shared free list (not their own
   *  cap): only chunks freed by other connections can move them on (refillStarved). */
  private readonly starved: number[] = [];
  private readonly isStarved: Uint8Array;
  /** Set by nextSend: the send to submit, as [offset, length] runs in the arena. */
  readonly runs: Int32Array;
  runCount = 0;
  sendOffset = 0;
  sendLength = 0;

  constructor(
    private readonly arena: ArenaMemory,
    private readonly chunkBytes: number,
    chunks: number,
    slots: number,
    private readonly chunksPerSlotMax: number,
    private readonly reserveChunks = 0,
    private readonly smallChunks = 0,
    /** Most one send covers. */
    private readonly sendBytesMax = chunkBytes,
    /** Most runs (pieces apart in the arena) one send gathers: 1 sends adjacent chunks only. */
    private readonly runsMax = 1,
  ) {
    this.runs = new Int32Array(2 * runsMax);
    this.chunkNext = new Int32Array(chunks).fill(-1);
    this.chunkFill = new Int32Array(chunks);
    this.freeStack = new Int32Array(chunks);
    // LIFO free list: recently used (resident) chunks are reused first. It pops in ascending
    // order (and consume keeps it so), so a write that needs several chunks mostly gets
    // adjacent ones, which nextSend sends as one.
    for (let i = 0; i < chunks; i++) this.freeStack[i] = chunks - 1 - i;
    this.freeTop = chunks;
    this.head = new Int32Array(slots).fill(-1);
    this.tail = new Int32Array(slots).fill(-1);
    this.headOff = new Int32Array(slots);
    this.chunkCount = new Int32Array(slots);
    this.queued = new Float64Array(slots);
    this.overflow = new Array(slots).fill(null);
    this.overflowOff = new Int32Array(slots);
    this.isStarved = new Uint8Array(slots);
  }

  pending(slot: number): number {
    return this.queued[slot];
  }

  chunksFree(): number {
    return this.freeTop;
  }

  /** Copies bytes in; returns the bytes now queued for slot. */
  write(slot: number, bytes: Uint8Array, offset: number, length: number): number {
    this.queued[slot] += length;
    if (this.overflow[slot] === null) {
      const copied = this.copyIn(slot, bytes, offset, length);
      if (copied === length) return this.queued[slot];
      offset += copied;
      length -= copied;
    }
    // Slow path (arena cap reached): keep order by queueing a private copy.
    let q = this.overflow[slot];
    if (q === null) q = this.overflow[slot] = [];
    q.push(bytes.slice(offset, offset + length));
    return this.queued[slot];
  }

  /** Fills the arena from bytes; returns how many bytes fit. */
  private copyIn(slot: number, bytes: Uint8Array, offset: number, length: number): number {
    const arena = this.arena;
    let done = 0;
    while (done < length) {
      let t = this.tail[slot];
      if (t < 0 || this.chunkFill[t] === this.chunkBytes) {
        t = this.allocChunk(slot);
        if (t < 0) break;
      }
      const fill = this.chunkFill[t];
      const n = Math.min(this.chunkBytes - fill, length - done);
      arena.copyIn(t * this.chunkBytes + fill, bytes, offset + done, n);
      this.chunkFill[t] = fill + n;
      done += n;
    }
    return done;
  }

  private allocChunk(slot: number): number {
    if (this.chunkCount[slot] >= this.chunksPerSlotMax) return -1; // its own send completions refill it
    // The last reserveChunks go only to connections holding few chunks: slow readers with big
    // backlogs can fill the arena up to the reserve, never starve everyone else.
    const floor = this.chunkCount[slot] >= this.smallChunks ? this.reserveChunks : 0;
    if (this.freeTop <= floor) {
      if (!this.isStarved[slot]) {
        this.isStarved[slot] = 1;
        this.starved.push(slot);
      }
      return -1;
    }
    const c = this.freeStack[--this.freeTop];
    this.chunkFill[c] = 0;
    this.chunkNext[c] = -1;
    const t = this.tail[slot];
    if (t < 0) {
      this.head[slot] = c;
      this.headOff[slot] = 0;
    } else {
      this.chunkNext[t] = c;
    }
    this.tail[slot] = c;
    this.chunkCount[slot]++;
    return c;
  }

  private freeHead(slot: number): void {
    const h = this.head[slot];
    const next = this.chunkNext[h];
    this.freeStack[this.freeTop++] = h;
    this.chunkCount[slot]--;
    this.head[slot] = next;
    this.headOff[slot] = 0;
    if (next < 0) this.tail[slot] = -1;
  }

  /** Sets the next send: `runs` holds `runCount` [offset, length] pairs, `sendLength` bytes in
   *  all, `sendOffset` the first run's offset. It covers the slot's chain from its head up to
   *  sendBytesMax: chunks next to each other in the arena make one run, a chunk elsewhere starts
   *  the next (at most runsMax), so a reply split over scattered chunks still goes in one send.
   *  False when there is nothing to send. */
  nextSend(slot: number): boolean {
    let c = this.head[slot];
    if (c < 0) return false;
    const first = this.chunkFill[c] - this.headOff[slot];
    if (first <= 0) return false;
    const runs = this.runs;
    const chunkBytes = this.chunkBytes;
    const max = this.sendBytesMax;
    runs[0] = c * chunkBytes + this.headOff[slot];
    runs[1] = Math.min(first, max);
    let n = 1;
    let total = runs[1];
    // Only a full chunk can have a successor with data (copyIn fills the tail before it grows).
    while (total < max && this.chunkFill[c] === chunkBytes) {
      const next = this.chunkNext[c];
      if (next < 0 || this.chunkFill[next] === 0) break;
      const take = Math.min(this.chunkFill[next], max - total);
      if (next === c + 1) runs[2 * n - 1] += take;
      else if (n === this.runsMax) break;
      else {
        runs[2 * n] = next * chunkBytes;
        runs[2 * n + 1] = take;
        n++;
      }
      total += take;
      c = next;
    }
    this.runCount = n;
    this.sendOffset = runs[0];
    this.sendLength = total;
    return true;
  }

  /** The kernel took n bytes from the head: free drained chunks, refill from overflow. */
  consume(slot: number, n: number): void {
    this.queued[slot] -= n;
    const freedFrom = this.freeTop;
    while (n > 0) {
      const h = this.head[slot];
      const avail = this.chunkFill[h] - this.headOff[slot];
      const take = n < avail ? n : avail;
      this.headOff[slot] += take;
      n -= take;
      // A drained head goes back even when it is the tail: idle connections hold no chunks.
      if (this.headOff[slot] === this.chunkFill[h]) this.freeHead(slot);
    }
    // Chunks freed in chain order (c, c+1, ...) are pushed reversed, so they pop ascending again.
    const fs = this.freeStack;
    for (let i = freedFrom, j = this.freeTop - 1; i < j; i++, j--) {
      const t = fs[i]!;
      fs[i] = fs[j]!;
      fs[j] = t;
    }
    const q = this.overflow[slot];
    if (q !== null) this.drainOverflow(slot, q);
  }

  private drainOverflow(slot: number, q: Uint8Array[]): void {
    while (q.length > 0) {
      const piece = q[0];
      const off = this.overflowOff[slot];
      const copied = this.copyIn(slot, piece, off, piece.length - off);
      if (off + copied < piece.length) {
        this.overflowOff[slot] = off + copied;
        return;
      }
      q.shift();
      this.overflowOff[slot] = 0;
    }
    this.overflow[slot] = null;
  }

  /**
   * Moves overflow of starved slots into chunks freed meanwhile; calls ready(slot) for each slot
   * that now has something to send. Cheap when nobody is starved.
   */
  refillStarved(ready: (slot: number) => void): void {
    if (this.freeTop === 0) return;
    // Re-marked slots (still short of chunks) are pushed again by allocChunk.
    const list = this.starved.splice(0, this.starved.length);
    for (const slot of list) {
      this.isStarved[slot] = 0;
      const q = this.overflow[slot];
      if (q === null) continue;
      if (this.freeTop === 0) {
        this.isStarved[slot] = 1;
        this.starved.push(slot);
        continue;
      }
      this.drainOverflow(slot, q); // re-marks the slot starved if the chunks run out again
      if (this.head[slot] >= 0) ready(slot);
    }
  }

  get hasStarved(): boolean {
    return this.starved.length > 0;
  }

  /** Drops everything queued for slot (no send may be in flight: the kernel could still read). */
  reset(slot: number): void {
    while (this.head[slot] >= 0) this.freeHead(slot);
    this.queued[slot] = 0;
    this.overflow[slot] = null;
    this.overflowOff[slot] = 0;
    this.isStarved[slot] = 0;
  }
}
