// The job table against a Map model under random churn, including the backward-shift deletes
// that keep linear probing tombstone-free and the shrink after a burst.
import { expect, test } from "bun:test";
import { IdMap } from "../../src/engine/id-map.ts";
import { activeIndexSlotsRetained, idMapCapacityMin } from "../../src/constants.ts";

interface V {
  readonly id: number;
  n: number;
}

function check(m: IdMap<V>, model: Map<number, V>): void {
  expect(m.size).toBe(model.size);
  for (const [id, v] of model) expect(m.get(id)).toBe(v);
  for (const [id, v] of m) expect(v.id).toBe(id); // every value under its own id
  expect(m.keys()).toEqual([...model.keys()].sort((a, b) => a - b));
}

test("random churn agrees with a Map, across growth and shrinking", () => {
  let seed = 42;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const m = new IdMap<V>();
  const model = new Map<number, V>();
  let next = 1;
  const live: number[] = [];
  for (let round = 0; round < 6; round++) {
    // Grow well past the minimum capacity, deleting at random as a queue does.
    for (let i = 0; i < 20 * idMapCapacityMin; i++) {
      if (rnd() < 0.6 || model.size === 0) {
        const v = { id: next++, n: i };
        m.set(v.id, v);
        model.set(v.id, v);
        live.push(v.id);
      } else {
        // Early slots hold mostly old ids; swap-remove keeps this O(1).
        const r = Math.floor(rnd() * Math.min(live.length, 64));
        const id = live[r]!;
        live[r] = live[live.length - 1]!;
        live.pop();
        expect(m.delete(id)).toBe(true);
        model.delete(id);
        expect(m.get(id)).toBeUndefined();
        expect(m.delete(id)).toBe(false);
      }
    }
    check(m, model);
    // Drain most of it: the table must shrink and still find the rest.
    for (const id of [...model.keys()].slice(0, Math.floor(model.size * 0.95))) {
      m.delete(id);
      model.delete(id);
    }
    live.length = 0;
    live.push(...model.keys());
    check(m, model);
  }
});

test("ids beyond 32 bits and overwrites", () => {
  const m = new IdMap<V>();
  const big = 2 ** 40 + 7;
  m.set(big, { id: big, n: 1 });
  m.set(7, { id: 7, n: 2 });
  m.set(big, { id: big, n: 3 });
  expect(m.size).toBe(2);
  expect(m.get(big)!.n).toBe(3);
  expect(m.has(2 ** 40 + 8)).toBe(false);
  expect(() => m.set(-1, { id: -1, n: 0 })).toThrow(/bad id/);
});

test("a queue's active index: small while idle, and no resize per batch once grown", () => {
  const m = new IdMap<V>(8, activeIndexSlotsRetained);
  expect(m.capacity).toBe(8);
  let next = 1;
  const batch = (n: number): void => {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      m.set(next, { id: next, n: i });
      ids.push(next++);
    }
    for (const id of ids) expect(m.delete(id)).toBe(true);
  };
  // A few jobs active at a time never grow it past what they need.
  batch(4);
  expect(m.capacity).toBe(8);
  // Batches of 100 grow it once; each full drain then leaves it where it was.
  batch(100);
  const grown = m.capacity;
  expect(grown).toBe(activeIndexSlotsRetained);
  for (let k = 0; k < 5; k++) {
    batch(100);
    expect(m.capacity).toBe(grown);
  }
  // A burst far past the retained size still gives its memory back, down to that size.
  batch(10_000);
  expect(m.size).toBe(0);
  expect(m.capacity).toBe(activeIndexSlotsRetained);
  // And it still finds what it holds after all that.
  const model = new Map<number, V>();
  for (let i = 0; i < 50; i++) {
    const v = { id: next++, n: i };
    m.set(v.id, v);
    model.set(v.id, v);
  }
  check(m, model);
});

test("the retained capacity is checked", () => {
  expect(() => new IdMap<V>(8, 100)).toThrow(/retained capacity 100/);
  expect(() => new IdMap<V>(16, 8)).toThrow(/at least 16/);
});
