// Delivery order: priority (higher first), FIFO within a priority, the LIFO option, delayed jobs in
// their own heap, delay expiry through tick() at exactly run_at, and tick's next deadline.

import { describe, expect, test } from "bun:test";
import { Harness, T0, checkInvariants } from "./engine-harness.ts";

describe("ready order", () => {
  test("higher priority is delivered first", () => {
    const h = new Harness();
    const low = h.push({ priority: 1 });
    const high = h.push({ priority: 10 });
    const mid = h.push({ priority: 5 });
    const neg = h.push({ priority: -3 });
    const zero = h.push();
    expect(h.pullIds()).toEqual([high, mid, low, zero, neg]);
    checkInvariants(h.engine);
  });

  test("FIFO within one priority, across separate pulls", () => {
    const h = new Harness();
    const ids = Array.from({ length: 50 }, () => h.push({ priority: 2 }));
    const got: number[] = [];
    for (let i = 0; i < 50; i++) got.push(h.pullOne()!.id);
    expect(got as unknown).toEqual(ids);
  });

  test("FIFO order is kept when jobs of another priority are interleaved", () => {
    const h = new Harness();
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 20; i++) {
      a.push(h.push({ priority: 1 }));
      b.push(h.push({ priority: 2 }));
    }
    expect(h.pullIds()).toEqual([...b, ...a]);
  });

  test("LIFO jobs come out newest first, ahead of FIFO jobs of the same priority", () => {
    const h = new Harness();
    const f1 = h.push();
    const l1 = h.push({ lifo: true });
    const f2 = h.push();
    const l2 = h.push({ lifo: true });
    const l3 = h.push({ lifo: true });
    const high = h.push({ priority: 1 });
    expect(h.pullIds()).toEqual([high, l3, l2, l1, f1, f2]);
  });

  test("a delayed high-priority job never blocks ready lower-priority jobs", () => {
    const h = new Harness();
    const delayed = h.push({ priority: 100, delay: 1000 });
    const low1 = h.push({ priority: -5 });
    const low2 = h.push({ priority: -5 });
    expect(h.state(delayed)).toBe("delayed");
    expect(h.pullIds("q", 1)).toEqual([low1]);
    expect(h.pullIds("q", 10)).toEqual([low2]);
    expect(h.pullIds()).toEqual([]);
    h.at(T0 + 1000);
    expect(h.pullIds()).toEqual([delayed]);
    checkInvariants(h.engine);
  });

  test("changePriority re-orders a waiting job", () => {
    const h = new Harness();
    const a = h.push();
    const b = h.push();
    const c = h.push();
    h.engine.changePriority(h.job(c), 9);
    h.engine.changePriority(h.job(a), -1);
    checkInvariants(h.engine);
    expect(h.pullIds()).toEqual([c, b, a]);
  });
});

describe("delays and tick", () => {
  test("a delayed job becomes waiting at exactly run_at, not a millisecond before", () => {
    const h = new Harness();
    const id = h.push({ delay: 500 });
    expect(h.job(id).runAt).toBe(T0 + 500);
    expect(h.pullIds()).toEqual([]);
    h.at(T0 + 499);
    expect(h.state(id)).toBe("delayed");
    expect(h.pullIds()).toEqual([]);
    h.at(T0 + 500);
    expect(h.state(id)).toBe("waiting");
    checkInvariants(h.engine);
    expect(h.pullIds()).toEqual([id]);
  });

  test("delayed jobs promoted in one tick keep priority order", () => {
    const h = new Harness();
    const late = h.push({ delay: 300, priority: 1 });
    const early = h.push({ delay: 100, priority: 1 });
    const urgent = h.push({ delay: 200, priority: 7 });
    h.at(T0 + 1000);
    // Promoted in run_at order (early, urgent, late): FIFO among equal priorities follows that.
    expect(h.pullIds()).toEqual([urgent, early, late]);
  });

  test("tick returns Infinity when idle and the earliest delay otherwise", () => {
    const h = new Harness();
    expect(h.engine.tick(T0)).toBe(Infinity);
    expect(h.engine.nextDeadline()).toBe(Infinity);
    h.push({ delay: 300 });
    h.push({ delay: 100 });
    h.push({ delay: 200 });
    expect(h.engine.nextDeadline()).toBe(T0 + 100);
    expect(h.at(T0 + 50)).toBe(T0 + 100);
    expect(h.at(T0 + 100)).toBe(T0 + 200);
    expect(h.at(T0 + 250)).toBe(T0 + 300);
    expect(h.at(T0 + 300)).toBe(Infinity);
    expect(h.q().waitingCount).toBe(3);
  });

  test("tick's deadline includes leases, and becomes Infinity again once work is done", () => {
    const h = new Harness({ keepFinished: 0 });
    const id = h.push({ stallTimeout: 1000 });
    const job = h.pullOne()!;
    expect(h.engine.nextDeadline()).toBe(T0 + 1000);
    h.push({ delay: 400 });
    expect(h.at(T0 + 10)).toBe(T0 + 400);
    h.engine.complete(id, job.lockToken, null);
    h.at(T0 + 400); // delayed job promoted, completed record pruned (keepFinished 0)
    expect(h.engine.nextDeadline()).toBe(Infinity);
  });

  test("promote moves a delayed job to waiting at once; promote of a waiting job is refused", () => {
    const h = new Harness();
    const id = h.push({ delay: 10_000 });
    h.engine.promote(h.job(id));
    expect(h.state(id)).toBe("waiting");
    expect(h.engine.nextDeadline()).toBe(Infinity);
    expect(() => h.engine.promote(h.job(id))).toThrow();
    expect(h.pullIds()).toEqual([id]);
  });

  test("moveToDelayed takes a waiting job out of the ready heap until its new run_at", () => {
    const h = new Harness();
    const a = h.push();
    const b = h.push();
    h.engine.moveToDelayed(h.job(a), 200, undefined);
    expect(h.state(a)).toBe("delayed");
    checkInvariants(h.engine);
    expect(h.pullIds()).toEqual([b]);
    h.at(T0 + 200);
    expect(h.pullIds()).toEqual([a]);
  });
});
