// A queue's ready line: waiting jobs in delivery order (higher priority first, then sequence).
//
// Most jobs arrive in that order already: a FIFO queue's next job has the next sequence and the
// same priority. Those go to the back of the `run`, a deque in which taking the front is O(1).
// Only a job that belongs before the last one appended (a higher priority, a LIFO job, a
// restored job out of order) goes into the heap, and the front of the line is whichever of the
// two heads comes first. A FIFO queue then never sifts: at 1M waiting, the heap's sift-down was
// 10-11 % of PULLB+ACKB (bench/README.md).
//
// The run keeps a job's absolute position in its `hi` as -2 - position (the heap's are >= 0, -1
// is none), so a removal from anywhere (CANCEL, a priority change, CLEAN) is O(1): it leaves a
// hole the front skips once. Its slots live in chunks of 2^heapChunkBits, as the heap's do (a
// young collection rescans only the chunks written since); a chunk with nothing live is let go
// at once, so removals cost memory only for the chunks still holding a live job, and the front
// skips an empty chunk in one step. What removals behind a job that stays at the front (a paused
// queue) leave is one null entry per 4,096 positions, until the front moves on.

import { heapChunkBits } from "../constants.ts";
import { IndexedHeap } from "./heap.ts";
import type { Job } from "./model.ts";

/** Ready order: higher priority first, then lower sequence (FIFO; LIFO uses negative seq). */
export function readyBefore(a: Job, b: Job): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

const CHUNK = 1 << heapChunkBits;
const MASK = CHUNK - 1;

export class ReadyQueue {
  private readonly heap = new IndexedHeap<Job>(readyBefore);
  /** chunks[k] holds the run's positions first + k * CHUNK ...; null once nothing in it is live. */
  private chunks: ((Job | null)[] | null)[] = [];
  private chunkLive: number[] = [];
  /** Absolute position of chunks[0]'s first slot (a multiple of CHUNK). */
  private first = 0;
  /** No live job of the run sits before this position. */
  private head = 0;
  /** The position the next appended job takes. */
  private end = 0;
  private runLive = 0;
  /** The order key of the job appended last: a job that belongs before it goes to the heap. */
  private lastPriority = 0;
  private lastSeq = 0;

  get size(): number {
    return this.heap.size + this.runLive;
  }

  push(job: Job): void {
    if (this.runLive > 0 && (job.priority !== this.lastPriority ? job.priority > this.lastPriority : job.seq < this.lastSeq)) {
      this.heap.push(job);
      return;
    }
    const k = (this.end - this.first) >>> heapChunkBits;
    if (k === this.chunks.length) {
      // The chunk before was the last one, so it was kept even when emptied: let it go now.
      if (k > 0 && this.chunkLive[k - 1] === 0) this.chunks[k - 1] = null;
      this.chunks.push([]);
      this.chunkLive.push(0);
    }
    this.chunks[k]!.push(job); // positions are consecutive: the slot is the chunk's length
    this.chunkLive[k]!++;
    job.hi = -2 - this.end;
    this.end++;
    this.runLive++;
    this.lastPriority = job.priority;
    this.lastSeq = job.seq;
  }

  /** The job delivered next, or undefined. */
  peek(): Job | undefined {
    const r = this.runHead();
    const h = this.heap.peek();
    if (r === undefined) return h;
    return h !== undefined && readyBefore(h, r) ? h : r;
  }

  has(job: Job): boolean {
    return job.hi >= 0 ? this.heap.has(job) : this.runSlot(job) >= 0;
  }

  /** Removes a job known to be in the line. */
  remove(job: Job): void {
    if (job.hi >= 0) return this.heap.remove(job);
    const d = this.runSlot(job);
    if (d < 0) throw new Error("ready line: job not in it");
    const k = d >>> heapChunkBits;
    this.chunks[k]![d & MASK] = null;
    job.hi = -1;
    this.runLive--;
    if (this.runLive === 0) {
      // Nothing live: start afresh at the next chunk boundary (positions never go back, so a
      // cursor or a stale position can never name a later job).
      this.first = this.head = this.end = Math.ceil(this.end / CHUNK) * CHUNK;
      this.chunks = [];
      this.chunkLive = [];
      return;
    }
    // The last chunk stays while appends may still fill it.
    if (--this.chunkLive[k]! === 0 && k < this.chunks.length - 1) this.chunks[k] = null;
  }

  /** Re-places a job whose priority changed. */
  update(job: Job): void {
    if (job.hi >= 0) return this.heap.update(job);
    this.remove(job);
    this.push(job);
  }

  /** In delivery order, without changing the line. Do not mutate it while iterating. */
  *ordered(): Generator<Job> {
    const fromHeap = this.heap.ordered();
    let h = fromHeap.next();
    for (let p = this.head; p < this.end; p++) {
      const r = this.slotAt(p);
      if (r === null) continue;
      while (!h.done && readyBefore(h.value, r)) {
        yield h.value;
        h = fromHeap.next();
      }
      yield r;
    }
    for (; !h.done; h = fromHeap.next()) yield h.value;
  }

  /**
   * Visits every job in the line, not in order, while the caller removes some of them: current()
   * is the job at the cursor, advance() moves past it. After removing current(), do not advance.
   *
   * The run is walked front to back, each job once (a removal leaves a hole). The heap is walked
   * from its last position down: a removal moves the last item (already visited) into the hole
   * and sifts it, and whatever comes into the hole from above has not been visited yet, so it is
   * looked at next. The heap may show a job twice, never skips one. Jobs added meanwhile may or
   * may not be visited.
   */
  cursor(): { current(): Job | undefined; advance(): void } {
    let i = this.heap.size - 1;
    let p = this.head;
    return {
      current: (): Job | undefined => {
        if (i >= this.heap.size) i = this.heap.size - 1;
        if (i >= 0) return this.heap.at(i);
        if (p < this.head) p = this.head;
        for (; p < this.end; p++) {
          const r = this.slotAt(p);
          if (r !== null) return r;
        }
        return undefined;
      },
      advance: (): void => {
        if (i >= 0) i--;
        else p++;
      },
    };
  }

  /** Every job, the heap's then the run's, for tests' invariant checks. */
  toArray(): { heap: Job[]; run: Job[] } {
    const run: Job[] = [];
    for (let p = this.head; p < this.end; p++) {
      const r = this.slotAt(p);
      if (r !== null) run.push(r);
    }
    return { heap: this.heap.toArray(), run };
  }

  /** The job's slot (position - first) when it is in the run, else -1. */
  private runSlot(job: Job): number {
    const pos = -2 - job.hi;
    if (pos < this.head || pos >= this.end) return -1;
    const d = pos - this.first;
    const chunk = this.chunks[d >>> heapChunkBits];
    return chunk !== null && chunk !== undefined && chunk[d & MASK] === job ? d : -1;
  }

  private slotAt(p: number): Job | null {
    const d = p - this.first;
    const chunk = this.chunks[d >>> heapChunkBits];
    return chunk === null || chunk === undefined ? null : (chunk[d & MASK] ?? null);
  }

  /** The run's first live job: skips the holes at the front once, and lets go of the chunks
   *  before it. Empty chunks are skipped whole, so this is at most one chunk's scan. */
  private runHead(): Job | undefined {
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
      const j = chunk![d & MASK];
      if (j !== null && j !== undefined) {
        if (k > 0) this.dropBefore(k);
        return j;
      }
      this.head++;
    }
  }

  private dropBefore(k: number): void {
    this.chunks.splice(0, k);
    this.chunkLive.splice(0, k);
    this.first += k * CHUNK;
  }
}
