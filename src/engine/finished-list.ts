// A queue's finished records (completed, or failed: the DLQ) in the order they finished: pushed
// at the back, pruned from the front, removed from anywhere (CLEAN, retry, purge) in O(1). A Map
// used as a FIFO is not: after many deletions at its front, finding the first entry walks every
// deleted slot (measured: PULLB+ACKB fell from 220k to 16k jobs/s once retention pruned through
// one). Here a finished job's `hi` (free: it is in no heap) is its absolute position; a removal
// leaves a hole that the front skips once; the array is trimmed at the front (positions kept)
// and rebuilt when it is mostly holes and nobody is iterating it.

import type { Job } from "./model.ts";

/** Holes at the front past which the array is trimmed. */
const trimAt = 1024;

export class FinishedList {
  private items: (Job | null)[] = [];
  /** Absolute position of items[0]. */
  private base = 0;
  /** Local index of the first entry that may be live (holes before it were skipped). */
  private head = 0;
  private live = 0;
  /** Iterations under way: the array is not rebuilt (positions moved) while one is. */
  private iterating = 0;

  get size(): number {
    return this.live;
  }

  push(job: Job): void {
    if (this.iterating === 0 && this.items.length > trimAt && this.live < this.items.length / 4) this.rebuild();
    job.hi = this.base + this.items.length;
    this.items.push(job);
    this.live++;
  }

  has(job: Job): boolean {
    const i = job.hi - this.base;
    return i >= this.head && i < this.items.length && this.items[i] === job;
  }

  delete(job: Job): boolean {
    if (!this.has(job)) return false;
    this.items[job.hi - this.base] = null;
    job.hi = -1;
    this.live--;
    this.skipHoles();
    return true;
  }

  /** The oldest record, or undefined. */
  first(): Job | undefined {
    return this.head < this.items.length ? this.items[this.head]! : undefined;
  }

  /** Oldest first. Removing records (the one just yielded or others) while iterating is safe. */
  *values(): Generator<Job> {
    this.iterating++;
    try {
      for (let p = this.base + this.head; p < this.base + this.items.length; p++) {
        const j = this.items[p - this.base];
        if (j !== null && j !== undefined) yield j;
      }
    } finally {
      this.iterating--;
    }
  }

  /** Newest first (GETJOBS `desc`). Removing records while iterating is safe. */
  *valuesNewestFirst(): Generator<Job> {
    this.iterating++;
    try {
      for (let p = this.base + this.items.length - 1; p >= this.base + this.head; p--) {
        const j = this.items[p - this.base];
        if (j !== null && j !== undefined) yield j;
      }
    } finally {
      this.iterating--;
    }
  }

  private skipHoles(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head] === null) this.head++;
    if (this.head === items.length) {
      this.base += items.length;
      this.items = [];
      this.head = 0;
    } else if (this.head > trimAt && this.head > items.length / 2) {
      // Positions are absolute: dropping the leading holes moves no live entry.
      this.items = items.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  /** Mostly holes in the middle (removals out of order): a dense array, positions renumbered. */
  private rebuild(): void {
    const kept: Job[] = [];
    for (let i = this.head; i < this.items.length; i++) if (this.items[i] !== null) kept.push(this.items[i]!);
    this.base += this.items.length;
    this.items = kept;
    this.head = 0;
    for (let i = 0; i < kept.length; i++) kept[i]!.hi = this.base + i;
  }
}
