// Queue limits in the engine: the concurrency limit caps a queue's active jobs across pulls and
// every path that ends an active job frees its slot; group concurrency lets N jobs of a group run
// and groups take turns at equal priority (a busy group does not starve the others); the rate
// limit is a token bucket taken only by delivered jobs, PULLB gets at most the tokens there are,
// and a parked puller is served by the refill timer when the next token is due.

import { describe, expect, test } from "bun:test";
import { obliterate, runAll } from "../../src/engine/queries.ts";
import { Harness, checkInvariants } from "./engine-harness.ts";

describe("concurrency limit", () => {
  test("caps active jobs across pulls; a freed slot serves a parked puller", () => {
    const h = new Harness();
    for (let i = 0; i < 10; i++) h.push();
    h.engine.setConcurrency(h.q(), 3, 1);
    expect(h.pullIds("q", 2).length).toBe(2);
    expect(h.pullIds("q", 5).length).toBe(1);
    expect(h.pullIds("q", 5)).toEqual([]);
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 5, 10_000, (jobs) => (got = jobs.map((j) => j.id)));
    expect(got).toBeNull();
    checkInvariants(h.engine);
    const active = [...h.q().active.values()];
    h.engine.complete(active[0]!.id, undefined, null);
    expect(got!.length).toBe(1);
    checkInvariants(h.engine);
  });

  const endings: [string, (h: Harness, id: number) => void][] = [
    ["ack", (h, id) => h.engine.complete(id, undefined, null)],
    ["fail (retry)", (h, id) => h.engine.failAttempt(id, undefined, "x")],
    ["fail (DLQ)", (h, id) => ((h.job(id).maxAttempts = 1), h.engine.failAttempt(id, undefined, "x"))],
    ["stall", (h) => h.advance(30_000)],
    ["discard", (h, id) => h.engine.fail(h.job(id), "d")],
    ["move to delayed", (h, id) => h.engine.moveToDelayed(h.job(id), 1000, undefined)],
    ["release", (h, id) => h.engine.release([h.job(id)])],
    ["remove", (h, id) => h.engine.remove(h.job(id))],
  ];
  for (const [name, end] of endings) {
    test(`${name} frees the slot`, () => {
      const h = new Harness();
      const a = h.push();
      const b = h.push();
      h.engine.setConcurrency(h.q(), 1, 1);
      expect(h.pullIds()).toEqual([a]);
      expect(h.pullIds()).toEqual([]);
      end(h, a);
      const next = h.pullIds();
      expect(next.length).toBe(1);
      expect([a, b]).toContain(next[0]!);
      checkInvariants(h.engine);
    });
  }

  test("clearing the limit serves parked pullers at once, and the queue is forgotten when empty", () => {
    const h = new Harness();
    h.push();
    h.push();
    h.engine.setConcurrency(h.q(), 1, 1);
    h.pullIds();
    let got = -1;
    h.engine.pullOrPark("q", 1, 10_000, (jobs) => (got = jobs.length));
    expect(got).toBe(-1);
    h.engine.setConcurrency(h.q(), 0, 1);
    expect(got).toBe(1);
    for (const j of [...h.q().active.values()]) h.engine.complete(j.id, undefined, null);
    h.engine.setConcurrency(h.q(), 5, 1);
    h.engine.remove(h.q().completed.first()!);
    h.engine.remove(h.q().completed.first()!);
    expect(h.engine.queues.has("q")).toBe(true); // a setting keeps it
    h.engine.setConcurrency(h.q(), 0, 1);
    expect(h.engine.queues.has("q")).toBe(false);
  });
});

describe("group concurrency and fairness", () => {
  test("N active jobs per group, FIFO inside the group", () => {
    const h = new Harness();
    const a = [0, 1, 2, 3].map(() => h.push({ groupId: "a" }));
    h.engine.setConcurrency(h.q(), 0, 2);
    expect(h.pullIds("q", 10)).toEqual([a[0], a[1]]);
    h.engine.complete(a[1]!, undefined, null);
    expect(h.pullIds("q", 10)).toEqual([a[2]]);
    checkInvariants(h.engine);
  });

  test("groups take turns: a group with a backlog does not starve one that comes later", () => {
    const h = new Harness();
    const big = Array.from({ length: 50 }, () => h.push({ groupId: "big" }));
    const small = [h.push({ groupId: "small" }), h.push({ groupId: "small" })];
    h.engine.setConcurrency(h.q(), 2, 2);
    const order: number[] = [];
    for (let i = 0; i < 8; i++) {
      const [j] = h.engine.pull("q", 1);
      order.push(j!.id);
      checkInvariants(h.engine);
      if (h.q().active.size === 2) h.engine.complete(j!.id, undefined, null);
    }
    // Both of small's jobs ran within the first few deliveries, not after big's 50.
    const firstSmall = order.indexOf(small[0]!);
    const secondSmall = order.indexOf(small[1]!);
    expect(firstSmall).toBeGreaterThanOrEqual(0);
    expect(firstSmall).toBeLessThan(3);
    expect(secondSmall).toBeGreaterThanOrEqual(0);
    expect(secondSmall).toBeLessThan(6);
    expect(order.filter((id) => big.includes(id))).toEqual(big.slice(0, order.length - 2)); // big stays FIFO
  });

  test("lowering the per-group limit holds the extra heads back; raising it lets them in", () => {
    const h = new Harness();
    const a = [0, 1, 2].map(() => h.push({ groupId: "a" }));
    h.engine.setConcurrency(h.q(), 0, 3);
    expect(h.pullIds("q", 1)).toEqual([a[0]]);
    h.engine.setConcurrency(h.q(), 0, 1);
    expect(h.pullIds("q", 5)).toEqual([]);
    checkInvariants(h.engine);
    h.engine.setConcurrency(h.q(), 0, 3);
    expect(h.pullIds("q", 5)).toEqual([a[1], a[2]]);
    checkInvariants(h.engine);
  });
});

describe("rate limit", () => {
  test("a burst, then one token per 1000/perSecond ms; PULLB gets at most the tokens there are", () => {
    const h = new Harness();
    for (let i = 0; i < 100; i++) h.push();
    h.engine.setRateLimit(h.q(), 10, 3);
    expect(h.pullIds("q", 10).length).toBe(3);
    expect(h.pullIds("q", 10).length).toBe(0);
    h.advance(99);
    expect(h.pullIds("q", 10).length).toBe(0);
    h.advance(1);
    expect(h.pullIds("q", 10).length).toBe(1);
    h.advance(1000); // 10 tokens' worth, but the bucket holds 3
    expect(h.pullIds("q", 10).length).toBe(3);
  });

  test("no token is taken when nothing is delivered (expired jobs, empty queue)", () => {
    const h = new Harness();
    h.engine.setRateLimit(h.q(), 1, 2);
    expect(h.pullIds("q", 5)).toEqual([]);
    h.push({ ttl: 10 });
    h.advance(20);
    const live = [h.push(), h.push()];
    expect(h.pullIds("q", 5)).toEqual(live); // the expired one failed without a token
  });

  test("a parked puller is served by the refill timer when the next token is due", () => {
    const h = new Harness();
    for (let i = 0; i < 5; i++) h.push();
    h.engine.setRateLimit(h.q(), 4, 1);
    expect(h.pullIds("q", 5).length).toBe(1);
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 5, 10_000, (jobs) => (got = jobs.map((j) => j.id)));
    expect(got).toBeNull();
    checkInvariants(h.engine);
    expect(h.engine.nextDeadline()).toBe(h.t + 250);
    h.advance(249);
    expect(got).toBeNull();
    h.advance(1);
    expect(got!.length).toBe(1);
    checkInvariants(h.engine);
  });

  test("over 10 simulated seconds, deliveries match burst + rate x time", () => {
    const h = new Harness();
    for (let i = 0; i < 5000; i++) h.push();
    h.engine.setRateLimit(h.q(), 100, 10);
    let delivered = 0;
    for (let t = 0; t < 10_000; t += 7) {
      delivered += h.engine.pull("q", 1000).length;
      h.advance(7);
    }
    expect(delivered).toBeGreaterThanOrEqual(10 + 100 * 10 - 2);
    expect(delivered).toBeLessThanOrEqual(10 + 100 * 10 + 1);
  });

  test("clearing the limit serves at once and disarms the refill", () => {
    const h = new Harness();
    for (let i = 0; i < 3; i++) h.push();
    h.engine.setRateLimit(h.q(), 1, 1);
    h.pullIds();
    let got = -1;
    h.engine.pullOrPark("q", 5, 10_000, (jobs) => (got = jobs.length));
    h.engine.setRateLimit(h.q(), null, 0);
    expect(got).toBe(2);
    expect(h.engine.nextDeadline()).toBeGreaterThan(h.t + 5000); // only the lease timers are left
    checkInvariants(h.engine);
  });
});

describe("obliterate", () => {
  test("takes the queue's limits and cron schedules with it, and the queue goes", () => {
    const h = new Harness();
    h.push();
    h.engine.setRateLimit(h.q(), 5, 1);
    h.engine.setConcurrency(h.q(), 2, 2);
    h.engine.scheduler.upsert({ name: "c", pattern: null, everyMs: 1000, tz: "UTC", limit: 0, push: { queue: "q", data: new Uint8Array([1]) } });
    h.engine.scheduler.upsert({ name: "other", pattern: null, everyMs: 1000, tz: "UTC", limit: 0, push: { queue: "x", data: new Uint8Array([1]) } });
    expect(runAll(obliterate(h.engine, h.q()))).toBe(1);
    expect(h.engine.queues.has("q")).toBe(false);
    expect(h.engine.scheduler.list().map((s) => s.spec.name)).toEqual(["other"]);
  });
});
