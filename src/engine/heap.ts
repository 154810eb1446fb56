// Binary min-heap of items that remember their own index (`hi`), so removal and re-keying are
// O(log n). One class serves the ready heap (priority, then sequence) and the time heaps
// (deadline); the order is a comparator given at construction. No allocation per operation.

export interface HeapItem {
  /** Index in the heap holding the item, or -1. An item sits in at most one indexed heap. */
  hi: number;
}

export class IndexedHeap<T extends HeapItem> {
  private items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.hi = this.items.length;
    this.items.push(item);
    this.up(item.hi);
  }

  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    this.removeAt(0);
    return top;
  }

  /** Removes an item known to be in this heap. */
  remove(item: T): void {
    const i = item.hi;
    if (i < 0 || this.items[i] !== item) throw new Error("heap: item not in this heap");
    this.removeAt(i);
  }

  has(item: T): boolean {
    return item.hi >= 0 && this.items[item.hi] === item;
  }

  /** Restores order after the item's key changed. */
  update(item: T): void {
    this.up(item.hi);
    this.down(item.hi);
  }

  /** Iterates in heap (not sorted) order; do not mutate while iterating. */
  values(): readonly T[] {
    return this.items;
  }

  /**
   * Iterates in order without changing the heap: a frontier of candidate indexes (a small heap
   * of its own) starts at the root and takes each taken item's children, so the first k items
   * cost O(k log k), not a sort of the whole heap. Do not mutate the heap while iterating.
   */
  *ordered(): Generator<T> {
    const items = this.items;
    if (items.length === 0) return;
    const less = this.less;
    const frontier: number[] = [0];
    const before = (a: number, b: number): boolean => less(items[a]!, items[b]!);
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
      yield items[top]!;
      for (const child of [2 * top + 1, 2 * top + 2]) {
        if (child >= items.length) continue;
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
    for (const it of this.items) it.hi = -1;
    this.items = [];
  }

  private removeAt(i: number): void {
    const items = this.items;
    const gone = items[i]!;
    const last = items.pop()!;
    gone.hi = -1;
    if (i < items.length) {
      items[i] = last;
      last.hi = i;
      this.up(i);
      this.down(last.hi);
    }
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.less(item, parent)) break;
      items[i] = parent;
      parent.hi = i;
      i = p;
    }
    items[i] = item;
    item.hi = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(items[r]!, items[l]!) ? r : l;
      const child = items[c]!;
      if (!this.less(child, item)) break;
      items[i] = child;
      child.hi = i;
      i = c;
    }
    items[i] = item;
    item.hi = i;
  }
}
