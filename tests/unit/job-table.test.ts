// The paged job table against a Map model: FIFO churn (pages filled at the head, emptied and
// freed at the tail), held jobs that leave pages sparse (their jobs move to the overflow map and
// the page goes), sets into a page that went sparse, ids past 32 bits, and iteration.
import { expect, test } from "bun:test";
import { jobTablePageBits, jobTableSparseFraction } from "../../src/constants.ts";
import { JobTable } from "../../src/engine/job-table.ts";
import { rng } from "../helpers/rng.ts";

interface V {
  readonly id: number;
  n: number;
}

const PAGE = 1 << jobTablePageBits;

function check(t: JobTable<V>, model: Map<number, V>): void {
  expect(t.size).toBe(model.size);
  for (const [id, v] of model) expect(t.get(id)).toBe(v);
  const seen = new Set<number>();
  for (const [id, v] of t) {
    expect(v.id).toBe(id); // every value under its own id
    expect(seen.has(id)).toBe(false); // and in one place only
    seen.add(id);
  }
  expect(seen.size).toBe(model.size);
  expect(t.keys()).toEqual([...model.keys()].sort((a, b) => a - b));
}

test("FIFO churn frees the pages behind it; a random delete mix agrees with a Map", () => {
  const r = rng(11);
  const t = new JobTable<V>();
  const model = new Map<number, V>();
  let next = 1;
  let oldest = 1;
  for (let i = 0; i < 12 * PAGE; i++) {
    const v = { id: next++, n: i };
    t.set(v.id, v);
    model.set(v.id, v);
    // Mostly acknowledge the oldest job; sometimes one at random among the live ones.
    if (i % 3 !== 0) {
      let id: number;
      if (r() < 0.8) {
        while (!model.has(oldest)) oldest++;
        id = oldest;
      } else {
        id = oldest + Math.floor(r() * (next - oldest));
        if (!model.has(id)) continue;
      }
      expect(t.delete(id)).toBe(true);
      model.delete(id);
      expect(t.get(id)).toBeUndefined();
      expect(t.delete(id)).toBe(false);
    }
  }
  check(t, model);
  // About a third of 12 pages' ids are live, all in the last pages: the first ones are gone.
  expect(t.shape().pages).toBeLessThanOrEqual(Math.ceil(model.size / PAGE) + 6);
  for (const id of [...model.keys()]) {
    t.delete(id);
    model.delete(id);
  }
  check(t, model);
  expect(t.shape()).toEqual({ pages: 0, overflow: 0 });
});

test("held jobs that leave a page sparse move to the overflow map, and the page goes", () => {
  const t = new JobTable<V>();
  const model = new Map<number, V>();
  const sparse = Math.floor(PAGE / jobTableSparseFraction);
  // Three full pages (ids 0 .. 3 PAGE - 1), then a fourth, so the first three are not the newest.
  for (let id = 0; id < 4 * PAGE; id++) {
    const v = { id, n: id };
    t.set(id, v);
    model.set(id, v);
  }
  expect(t.shape()).toEqual({ pages: 4, overflow: 0 });
  // Keep every 64th job of pages 0-2: 64 per page, fewer than `sparse` once the rest are gone.
  for (let id = 0; id < 3 * PAGE; id++) {
    if (id % 64 === 0) continue;
    t.delete(id);
    model.delete(id);
  }
  expect(PAGE / 64).toBeLessThan(sparse);
  expect(t.shape()).toEqual({ pages: 1, overflow: 3 * (PAGE / 64) });
  check(t, model);
  // The newest page never spills, however empty.
  for (let id = 3 * PAGE + 1; id < 4 * PAGE; id++) {
    t.delete(id);
    model.delete(id);
  }
  expect(t.shape().pages).toBe(1);
  check(t, model);
  // A set into a page that spilled: an id held in the overflow is updated there, a new one gets
  // the page back; each id stays in one place.
  const updated = { id: 64, n: -1 };
  t.set(64, updated);
  model.set(64, updated);
  const fresh = { id: 65, n: -2 };
  t.set(65, fresh);
  model.set(65, fresh);
  expect(t.get(64)).toBe(updated);
  check(t, model);
  for (const id of [...model.keys()]) {
    expect(t.delete(id)).toBe(true);
    model.delete(id);
  }
  check(t, model);
  expect(t.shape()).toEqual({ pages: 0, overflow: 0 }); // empty pages go, the newest too
});

test("ids past 32 bits, overwrites, and bad ids", () => {
  const t = new JobTable<V>();
  const big = 2 ** 40 + 7;
  t.set(big, { id: big, n: 1 });
  t.set(7, { id: 7, n: 2 });
  t.set(big, { id: big, n: 3 });
  expect(t.size).toBe(2);
  expect(t.get(big)!.n).toBe(3);
  expect(t.has(big + 1)).toBe(false);
  expect(t.has(big + PAGE)).toBe(false);
  expect(t.keys()).toEqual([7, big]);
  expect(() => t.set(-1, { id: -1, n: 0 })).toThrow(/bad id/);
  expect(() => t.set(1.5, { id: 1.5, n: 0 })).toThrow(/bad id/);
});

test("ids set in order but far apart (a recovery of sparse jobs) do not each keep a page", () => {
  const t = new JobTable<V>();
  const model = new Map<number, V>();
  // One job in every tenth page, in id order, as recovery restores them.
  for (let k = 0; k < 200; k++) {
    const id = k * 10 * PAGE + 3;
    const v = { id, n: k };
    t.set(id, v);
    model.set(id, v);
  }
  check(t, model);
  expect(t.shape().pages).toBeLessThanOrEqual(1);
  // A job of a lower page set later (a finished one, restored after the live ones) joins the map.
  const late = { id: 5 * PAGE + 9, n: -1 };
  t.set(late.id, late);
  model.set(late.id, late);
  check(t, model);
  expect(t.shape().pages).toBeLessThanOrEqual(1);
  // Dense pages still fill as pages.
  const base = 10_000 * PAGE;
  for (let i = 0; i < 3 * PAGE; i++) {
    const v = { id: base + i, n: i };
    t.set(v.id, v);
    model.set(v.id, v);
  }
  check(t, model);
  expect(t.shape().pages).toBe(3);
});
