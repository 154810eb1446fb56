// A priority queue for items that mostly arrive in order: the ready line (a FIFO queue's next
// job has the next sequence and the same priority) and the engine's deadline timers (a lease,
// a retention deadline or a parked pull's timeout is now + the same duration, nearly always).
//
// Items that arrive in order go to the back of the `run`, a deque in which taking the front is
// O(1). Only an item that belongs before the last one appended (a higher priority, a LIFO job, a
// shorter timeout) goes into the heap, and the front is whichever of the two heads comes first.
// With a heap alone, every take from the front sifted: at 1M waiting, the ready heap's
// sift-down was 10-11 % of PULLB+ACKB (bench/README.md).
//
// The run keeps an item's absolute position in its `hi` as -2 - position (the heap's are >= 0,
// -1 is none), so a removal from anywhere (CANCEL, an ACK, CLEAN) is cheap: it leaves a hole
// the front skips once. Its slots live in chunks of 2^heapChunkBits, as the heap's do (a young
// collection rescans only the chunks written since). A chunk with nothing live is let go at
// once, and one no longer appended to with at most runChunkSparseItems live becomes a sparse
// chunk (their offsets and items only), so the run's memory follows its live items, not the
// positions it once spanned, and a walk (GETJOBS, CLEAN) steps over an empty chunk at once.
// What removals behind an item that stays at the front (a paused queue) leave is one null entry
// per 4,096 positions, until the front moves on.

import { heapChunkBits, runChunkSparseItems } from "../constants.ts";
import { IndexedHeap, type HeapItem } from "./heap.ts";
import { lowerBound } from "./lower-bound.ts";

const CHUNK = 1 << heapChunkBits;
const MASK = CHUNK - 1;

/** The order of a RunHeap, and the key of the item appended last (kept here: that item may
 *  leave, and its key change, while the run still holds what came before it). */
export interface RunOrder<T> {
  /** A plain function (the heap calls it unbound). */
  readonly less: (a: T, b: T) => boolean;
  /** Remembers item's key as the last appended. */
  mark(item: T): void;
  /** item does not belong before the item marked last. */
  follows(item: T): boolean;
}

/** A chunk no longer appended to that holds few live items: their offsets in it, ascending. */
class SparseChunk<T> {
  constructor(
    readonly offs: number[],
    readonly items: T[],
  ) {}

  /** The index of offset `off`, or -1. */
  find(off: number): number {
    const i = lowerBound(this.offs, off);
    return i < this.offs.length && this.offs[i] === off ? i : -1;
  }
}

/** Dense (slots by offset, holes null), sparse, or let go (null). */
type Chunk<T> = (T | null)[] | SparseChunk<T> | null;

export class RunHeap<T extends HeapItem> {
  private readonly heap: IndexedHeap<T>;
  /** chunks[k] holds the run's positions first + k * CHUNK ...; null once nothing in it is live.
   *  The last one is dense: appends fill it. */
  private chunks: Chunk<T>[] = [];
  private chunkLive: number[] = [];
  /** Absolute position of chunks[0]'s first slot (a multiple of CHUNK). */
  private first = 0;
  /** No live item of the run sits before this position. */
  private head = 0;
  /** The position the next appended item takes. */
  private end = 0;
  private runLive = 0;

  constructor(private readonly order: RunOrder<T>) {
    this.heap = new IndexedHeap<T>(order.less);
  }

  get size(): number {
    return this.heap.size + this.runLive;
  }

  push(item: T): void {
    if (this.runLive > 0 && !this.order.follows(item)) {
      this.heap.push(item);
      return;
    }
    const k = (this.end - this.first) >>> heapChunkBits;
    if (k === this.chunks.length) {
      this.chunks.push([]);
      this.chunkLive.push(0);
      // The chunk before was the last one, kept dense however few it held: settle it now.
      if (k > 0) this.settle(k - 1);
    }
    (this.chunks[k] as (T | null)[]).push(item); // positions are consecutive: the slot is the chunk's length
    this.chunkLive[k]!++;
    item.hi = -2 - this.end;
    this.end++;
    this.runLive++;
    this.order.mark(item);
  }

  /** The first item, or undefined. */
  peek(): T | undefined {
    const r = this.runHead();
    const h = this.heap.peek();
    if (r === undefined) return h;
    return h !== undefined && this.order.less(h, r) ? h : r;
  }

  has(item: T): boolean {
    return item.hi >= 0 ? this.heap.has(item) : this.runSlot(item) >= 0;
  }

  /** Removes an item known to be in it. */
  remove(item: T): void {
    if (item.hi >= 0) return this.heap.remove(item);
    const d = this.runSlot(item);
    if (d < 0) throw new Error("run heap: item not in it");
    const k = d >>> heapChunkBits;
    const chunk = this.chunks[k]!;
    if (chunk instanceof SparseChunk) {
      const i = chunk.find(d & MASK);
      chunk.offs.splice(i, 1);
      chunk.items.splice(i, 1);
    } else chunk[d & MASK] = null;
    item.hi = -1;
    this.runLive--;
    if (this.runLive === 0) {
      // Nothing live: start afresh at the next chunk boundary (positions never go back, so a
      // cursor or a stale position can never name a later item).
      this.first = this.head = this.end = Math.ceil(this.end / CHUNK) * CHUNK;
      this.chunks = [];
      this.chunkLive = [];
      return;
    }
    // The last chunk stays dense while appends may still fill it.
    if (--this.chunkLive[k]! <= runChunkSparseItems && k < this.chunks.length - 1) this.settle(k);
  }

  /** A chunk no longer appended to: let go when nothing in it is live, made sparse when little is
   *  and the front is not in it (taking the front empties a chunk in order: no need). */
  private settle(k: number): void {
    const live = this.chunkLive[k]!;
    const chunk = this.chunks[k];
    if (live === 0) this.chunks[k] = null;
    else if (live <= runChunkSparseItems && Array.isArray(chunk) && k !== (this.head - this.first) >>> heapChunkBits) {
      const offs: number[] = [];
      const items: T[] = [];
      for (let off = 0; off < chunk.length; off++) {
        const it = chunk[off];
        if (it !== null && it !== undefined) {
          offs.push(off);
          items.push(it);
        }
      }
      this.chunks[k] = new SparseChunk(offs, items);
    }
  }

  /** Re-places an item whose key changed. */
  update(item: T): void {
    if (item.hi >= 0) return this.heap.update(item);
    this.remove(item);
    this.push(item);
  }

  /** In order, without changing anything. Do not mutate it while iterating. */
  *ordered(): Generator<T> {
    const fromHeap = this.heap.ordered();
    let h = fromHeap.next();
    for (let p = this.nextLive(this.head); p < this.end; p = this.nextLive(p + 1)) {
      const r = this.slotAt(p)!;
      while (!h.done && this.order.less(h.value, r)) {
        yield h.value;
        h = fromHeap.next();
      }
      yield r;
    }
    for (; !h.done; h = fromHeap.next()) yield h.value;
  }

  /**
   * Visits every item, not in order, while the caller removes some of them: current() is the
   * item at the cursor, advance() moves past it. After removing current(), do not advance.
   *
   * The run is walked front to back, each item once (a removal leaves a hole). The heap is walked
   * from its last position down: a removal moves the last item (already visited) into the hole
   * and sifts it, and whatever comes into the hole from above has not been visited yet, so it is
   * looked at next. The heap may show an item twice, never skips one. Items added meanwhile may
   * or may not be visited.
   */
  cursor(): { current(): T | undefined; advance(): void } {
    let i = this.heap.size - 1;
    let p = this.head;
    return {
      current: (): T | undefined => {
        if (i >= this.heap.size) i = this.heap.size - 1;
        if (i >= 0) return this.heap.at(i);
        p = this.nextLive(p < this.head ? this.head : p);
        return p < this.end ? this.slotAt(p)! : undefined;
      },
      advance: (): void => {
        if (i >= 0) i--;
        else p++;
      },
    };
  }

  /** Every item, the heap's (in heap order) and the run's, for tests' invariant checks. */
  toArray(): { heap: T[]; run: T[] } {
    const run: T[] = [];
    for (let p = this.nextLive(this.head); p < this.end; p = this.nextLive(p + 1)) run.push(this.slotAt(p)!);
    return { heap: this.heap.toArray(), run };
  }

  /** The item's slot (position - first) when it is in the run, else -1. */
  private runSlot(item: T): number {
    const pos = -2 - item.hi;
    if (pos < this.head || pos >= this.end) return -1;
    return this.slotAt(pos) === item ? pos - this.first : -1;
  }

  /** The live item at position p, or null. */
  private slotAt(p: number): T | null {
    const d = p - this.first;
    const chunk = this.chunks[d >>> heapChunkBits];
    if (Array.isArray(chunk)) return chunk[d & MASK] ?? null;
    if (!(chunk instanceof SparseChunk)) return null;
    const i = chunk.find(d & MASK);
    return i < 0 ? null : chunk.items[i]!;
  }

  /** The first position >= p holding a live item, or end: a let-go chunk is stepped over at once,
   *  a sparse one searched, a dense one scanned. */
  private nextLive(p: number): number {
    while (p < this.end) {
      const d = p - this.first;
      const k = d >>> heapChunkBits;
      const chunk = this.chunks[k];
      const next = this.first + (k + 1) * CHUNK;
      if (chunk instanceof SparseChunk) {
        const i = lowerBound(chunk.offs, d & MASK);
        if (i < chunk.offs.length) return this.first + k * CHUNK + chunk.offs[i]!;
      } else if (chunk !== null && chunk !== undefined) {
        for (let off = d & MASK; off < chunk.length; off++) {
          const it = chunk[off];
          if (it !== null && it !== undefined) return this.first + k * CHUNK + off;
        }
      }
      p = next;
    }
    return this.end;
  }

  /** The run's first live item: skips the holes at the front once, and lets go of the chunks
   *  before it. Empty chunks are skipped whole, so this is at most one chunk's scan. */
  private runHead(): T | undefined {
    if (this.runLive === 0) return undefined;
    const chunks = this.chunks;
    for (;;) {
      const d = this.head - this.first;
      const k = d >>> heapChunkBits;
      const chunk = chunks[k];
      if (chunk === null) {
        this.head = this.first + (k + 1) * CHUNK;
        continue;
      }
      if (Array.isArray(chunk)) {
        const j = chunk[d & MASK];
        if (j !== null && j !== undefined) {
          if (k > 0) this.dropBefore(k);
          return j;
        }
        this.head++;
        continue;
      }
      // Sparse: never empty (an emptied chunk is let go), and its first offset is its first live item.
      const sparse = chunk as SparseChunk<T>;
      this.head = this.first + k * CHUNK + sparse.offs[0]!;
      if (k > 0) this.dropBefore(k);
      return sparse.items[0]!;
    }
  }

  private dropBefore(k: number): void {
    this.chunks.splice(0, k);
    this.chunkLive.splice(0, k);
    this.first += k * CHUNK;
  }
}
