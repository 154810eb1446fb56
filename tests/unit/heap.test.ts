// IndexedHeap against a sorted-array reference: order under random pushes and pops, removal of
// arbitrary items, re-keying, and the `hi` index bookkeeping after every single operation.

import { describe, expect, test } from "bun:test";
import { heapChunkBits } from "../../src/constants.ts";
import { IndexedHeap } from "../../src/engine/heap.ts";
import { rng } from "../helpers/rng.ts";
import { checkHeap } from "./engine-harness.ts";

interface Item {
  hi: number;
  key: number;
  /** Tie-breaker so the order is total and the reference sort is unambiguous. */
  n: number;
}

const less = (a: Item, b: Item) => (a.key !== b.key ? a.key < b.key : a.n < b.n);
const cmp = (a: Item, b: Item) => (less(a, b) ? -1 : less(b, a) ? 1 : 0);

/** Heap property, every item's hi, and the same multiset as the reference. */
function checkAgainst(heap: IndexedHeap<Item>, ref: Item[]): void {
  checkHeap(heap, less);
  expect(heap.size).toBe(ref.length);
  const inHeap = new Set(heap.toArray());
  for (const it of ref) {
    if (!inHeap.has(it) || !heap.has(it)) throw new Error(`item ${it.n} missing from the heap`);
  }
  const min = ref.reduce<Item | undefined>((m, it) => (m === undefined || less(it, m) ? it : m), undefined);
  expect(heap.peek()).toBe(min);
}

describe("IndexedHeap", () => {
  test("random pushes and pops come out in the order of a sorted reference", () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const r = rng(seed);
      const heap = new IndexedHeap<Item>(less);
      let ref: Item[] = [];
      let n = 0;
      for (let op = 0; op < 2000; op++) {
        if (r() < 0.6 || ref.length === 0) {
          // Few distinct keys, so ties (resolved by n) are common.
          const it = { hi: -1, key: Math.floor(r() * 20), n: n++ };
          heap.push(it);
          ref.push(it);
        } else {
          let m = 0;
          for (let i = 1; i < ref.length; i++) if (less(ref[i]!, ref[m]!)) m = i;
          const expected = ref.splice(m, 1)[0]!;
          const got = heap.pop();
          expect(got).toBe(expected);
          expect(got!.hi).toBe(-1);
          expect(heap.has(got!)).toBe(false);
        }
        checkAgainst(heap, ref);
      }
      // Drain: fully sorted.
      ref = ref.sort(cmp);
      for (const expected of ref) expect(heap.pop()).toBe(expected);
      expect(heap.pop()).toBeUndefined();
      expect(heap.size).toBe(0);
    }
  });

  test("across chunk boundaries: grown to three chunks and more, removed at the seams, drained in order", () => {
    const chunk = 1 << heapChunkBits;
    const r = rng(7);
    const heap = new IndexedHeap<Item>(less);
    const ref: Item[] = [];
    for (let n = 0; n < 3 * chunk + 5; n++) {
      const it = { hi: -1, key: Math.floor(r() * 1000), n };
      heap.push(it);
      ref.push(it);
    }
    checkAgainst(heap, ref);
    // The items at the seams between chunks, and the very last one.
    for (const at of [chunk - 1, chunk, 2 * chunk - 1, 2 * chunk, -1]) {
      const it = heap.at(at < 0 ? heap.size - 1 : at)!;
      heap.remove(it);
      ref.splice(ref.indexOf(it), 1);
      checkAgainst(heap, ref);
    }
    expect(heap.at(heap.size)).toBeUndefined();
    expect(heap.at(-1)).toBeUndefined();
    // Drained below one chunk and grown again: the chunks go and come back.
    ref.sort(cmp);
    for (let i = 0; i < ref.length - 10; i++) expect(heap.pop()).toBe(ref[i]!);
    const rest = ref.slice(ref.length - 10);
    checkAgainst(heap, rest);
    for (let n = 0; n < chunk + 1; n++) {
      const it = { hi: -1, key: Math.floor(r() * 1000), n: 100_000 + n };
      heap.push(it);
      rest.push(it);
    }
    checkAgainst(heap, rest);
    rest.sort(cmp);
    for (const it of rest) expect(heap.pop()).toBe(it);
    expect(heap.size).toBe(0);
    expect(heap.peek()).toBeUndefined();
  });

  test("remove of arbitrary items keeps order and indexes", () => {
    const r = rng(7);
    const heap = new IndexedHeap<Item>(less);
    const ref: Item[] = [];
    for (let i = 0; i < 300; i++) {
      const it = { hi: -1, key: Math.floor(r() * 50), n: i };
      heap.push(it);
      ref.push(it);
    }
    while (ref.length > 0) {
      const victim = ref.splice(Math.floor(r() * ref.length), 1)[0]!;
      heap.remove(victim);
      expect(victim.hi).toBe(-1);
      expect(heap.has(victim)).toBe(false);
      checkAgainst(heap, ref);
    }
    expect(heap.size).toBe(0);
  });

  test("remove of the last, the first and the only item", () => {
    const heap = new IndexedHeap<Item>(less);
    const a = { hi: -1, key: 1, n: 0 };
    heap.push(a);
    heap.remove(a);
    expect(heap.size).toBe(0);
    expect(a.hi).toBe(-1);
    const items = [5, 3, 8, 1, 9].map((key, n) => ({ hi: -1, key, n }));
    for (const it of items) heap.push(it);
    const last = heap.toArray()[heap.size - 1]!;
    heap.remove(last);
    checkAgainst(heap, items.filter((i) => i !== last));
    const first = heap.peek()!;
    heap.remove(first);
    checkAgainst(heap, items.filter((i) => i !== last && i !== first));
  });

  test("remove of an item not in the heap is a programmer error", () => {
    const heap = new IndexedHeap<Item>(less);
    const other = new IndexedHeap<Item>(less);
    const a = { hi: -1, key: 1, n: 0 };
    const b = { hi: -1, key: 2, n: 1 };
    heap.push(a);
    other.push(b); // b.hi = 0, but heap[0] is a
    expect(() => heap.remove(b)).toThrow();
    expect(() => heap.remove({ hi: -1, key: 0, n: 2 })).toThrow();
    expect(heap.has(b)).toBe(false);
    checkAgainst(heap, [a]);
  });

  test("update after a key change moves the item both up and down", () => {
    const r = rng(99);
    const heap = new IndexedHeap<Item>(less);
    const ref: Item[] = [];
    for (let i = 0; i < 200; i++) {
      const it = { hi: -1, key: Math.floor(r() * 100), n: i };
      heap.push(it);
      ref.push(it);
    }
    for (let i = 0; i < 500; i++) {
      const it = ref[Math.floor(r() * ref.length)]!;
      // Alternate large decreases and increases so both directions are exercised.
      it.key = i % 2 === 0 ? it.key - Math.floor(r() * 200) : it.key + Math.floor(r() * 200);
      heap.update(it);
      checkAgainst(heap, ref);
    }
    const sorted = [...ref].sort(cmp);
    for (const expected of sorted) expect(heap.pop()).toBe(expected);
  });

  test("clear resets every item's index", () => {
    const heap = new IndexedHeap<Item>(less);
    const items = [3, 1, 2].map((key, n) => ({ hi: -1, key, n }));
    for (const it of items) heap.push(it);
    heap.clear();
    expect(heap.size).toBe(0);
    for (const it of items) {
      expect(it.hi).toBe(-1);
      expect(heap.has(it)).toBe(false);
    }
    heap.push(items[0]!);
    checkAgainst(heap, [items[0]!]);
  });
});
