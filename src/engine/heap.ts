// Binary min-heap of items that remember their own index (`hi`), so removal and re-keying are
// O(log n). One class serves the ready line's out-of-order jobs (priority, then sequence), the
// groups' pending jobs and the time heaps (deadline); the order is a comparator given at
// construction. No allocation per operation.
//
// The items live in chunks of 2^heapChunkBits slots, not in one array: JSC remembers a whole
// object when a reference is stored into it and each young collection rescans what it
// remembered, so one array of 5M jobs was rescanned after every few pushes. A chunk is 32 KB,
// and a FIFO push writes only the last one.

import { heapChunkBits } from "../constants.ts";

const CHUNK = 1 << heapChunkBits;
const MASK = CHUNK - 1;

export interface HeapItem {
  /** Index in the heap holding the item, or -1. An item sits in at most one indexed heap. */
  hi: number;
}

export class IndexedHeap<T extends HeapItem> {
  /** Item i is chunks[i >>> heapChunkBits][i & MASK]; every chunk but the last is full. */
  private chunks: T[][] = [[]];
  private n = 0;
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.n;
  }

  peek(): T | undefined {
    return this.n === 0 ? undefined : this.chunks[0]![0];
  }

  /** The item at heap position i (0 <= i < size), in heap (not sorted) order. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.n ? this.chunks[i >>> heapChunkBits]![i & MASK] : undefined;
  }

  private get(i: number): T {
    return this.chunks[i >>> heapChunkBits]![i & MASK]!;
  }

  private set(i: number, item: T): void {
    this.chunks[i >>> heapChunkBits]![i & MASK] = item;
  }

  push(item: T): void {
    const i = this.n++;
    item.hi = i;
    let last = this.chunks[this.chunks.length - 1]!;
    if (last.length === CHUNK) this.chunks.push((last = []));
    last.push(item);
    this.up(i);
  }

  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const top = this.chunks[0]![0]!;
    this.removeAt(0);
    return top;
  }

  /** Removes an item known to be in this heap. */
  remove(item: T): void {
    const i = item.hi;
    if (i < 0 || i >= this.n || this.get(i) !== item) throw new Error("heap: item not in this heap");
    this.removeAt(i);
  }

  has(item: T): boolean {
    return item.hi >= 0 && item.hi < this.n && this.get(item.hi) === item;
  }

  /** Restores order after the item's key changed. */
  update(item: T): void {
    this.up(item.hi);
    this.down(item.hi);
  }

  /** A copy of the items in heap (not sorted) order. */
  toArray(): T[] {
    return this.chunks.flat();
  }

  /**
   * Iterates in order without changing the heap: a frontier of candidate indexes (a small heap
   * of its own) starts at the root and takes each taken item's children, so the first k items
   * cost O(k log k), not a sort of the whole heap. Do not mutate the heap while iterating.
   */
  *ordered(): Generator<T> {
    if (this.n === 0) return;
    const less = this.less;
    const frontier: number[] = [0];
    const before = (a: number, b: number): boolean => less(this.get(a), this.get(b));
    while (frontier.length > 0) {
      const top = frontier[0]!;
      const last = frontier.pop()!;
      if (frontier.length > 0) {
        // sift `last` down from the root of the frontier
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= frontier.length) break;
          const r = l + 1;
          const c = r < frontier.length && before(frontier[r]!, frontier[l]!) ? r : l;
          if (!before(frontier[c]!, last)) break;
          frontier[i] = frontier[c]!;
          i = c;
        }
        frontier[i] = last;
      }
      yield this.get(top);
      for (const child of [2 * top + 1, 2 * top + 2]) {
        if (child >= this.n) continue;
        // sift the child up into the frontier
        let i = frontier.length;
        frontier.push(child);
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!before(child, frontier[p]!)) break;
          frontier[i] = frontier[p]!;
          i = p;
        }
        frontier[i] = child;
      }
    }
  }

  clear(): void {
    for (const c of this.chunks) for (const it of c) it.hi = -1;
    this.chunks = [[]];
    this.n = 0;
  }

  private removeAt(i: number): void {
    const gone = this.get(i);
    const chunks = this.chunks;
    const tail = chunks[chunks.length - 1]!;
    const last = tail.pop()!;
    if (tail.length === 0 && chunks.length > 1) chunks.pop();
    this.n--;
    gone.hi = -1;
    if (i < this.n) {
      this.set(i, last);
      last.hi = i;
      this.up(i);
      this.down(last.hi);
    }
  }

  private up(i: number): void {
    const item = this.get(i);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = this.get(p);
      if (!this.less(item, parent)) break;
      this.set(i, parent);
      parent.hi = i;
      i = p;
    }
    this.set(i, item);
    item.hi = i;
  }

  private down(i: number): void {
    const n = this.n;
    const item = this.get(i);
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(this.get(r), this.get(l)) ? r : l;
      const child = this.get(c);
      if (!this.less(child, item)) break;
      this.set(i, child);
      child.hi = i;
      i = c;
    }
    this.set(i, item);
    item.hi = i;
  }
}
