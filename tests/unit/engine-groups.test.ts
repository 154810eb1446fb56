// group_id: at most one active job per group, FIFO per group, other groups and ungrouped jobs
// flow past a busy group, and every path that ends the active job releases the group.

import { describe, expect, test } from "bun:test";
import { Harness, T0, checkInvariants } from "./engine-harness.ts";

/** Queue with jobs a1 a2 a3 in group "a" and b1 in group "b", pushed in that order. */
function grouped() {
  const h = new Harness();
  const a1 = h.push({ groupId: "a" });
  const a2 = h.push({ groupId: "a" });
  const a3 = h.push({ groupId: "a" });
  const b1 = h.push({ groupId: "b" });
  return { h, a1, a2, a3, b1 };
}

describe("groups", () => {
  test("at most one active job per group, even in one big pull", () => {
    const { h, a1, b1 } = grouped();
    const free = h.push();
    expect(h.pullIds("q", 10)).toEqual([a1, b1, free]);
    expect(h.pullIds("q", 10)).toEqual([]);
    expect(h.q().waitingCount).toBe(2); // a2, a3 held, still waiting
    checkInvariants(h.engine);
  });

  test("other groups and ungrouped jobs are not blocked by a busy group", () => {
    const h = new Harness();
    const a1 = h.push({ groupId: "a", priority: 5 });
    const a2 = h.push({ groupId: "a", priority: 5 });
    const b1 = h.push({ groupId: "b" });
    const free = h.push();
    expect(h.pullIds("q", 1)).toEqual([a1]);
    // a2 has the highest priority but its group is busy: the next pulls skip it.
    expect(h.pullIds("q", 1)).toEqual([b1]);
    expect(h.pullIds("q", 1)).toEqual([free]);
    expect(h.pullIds("q", 1)).toEqual([]);
    h.engine.complete(a1, undefined, null);
    expect(h.pullIds("q", 1)).toEqual([a2]);
    checkInvariants(h.engine);
  });

  test("FIFO per group across completions", () => {
    const { h, a1, a2, a3 } = grouped();
    const order: number[] = [];
    for (let i = 0; i < 3; i++) {
      const jobs = h.engine.pull("q", 10);
      expect(jobs.filter((j) => j.groupId === "a").length).toBe(1);
      order.push(jobs.find((j) => j.groupId === "a")!.id);
      for (const j of jobs) h.engine.complete(j.id, j.lockToken, null);
      checkInvariants(h.engine);
    }
    expect(order).toEqual([a1, a2, a3]);
  });

  test("FIFO per group holds when held jobs sit behind jobs pushed later", () => {
    const h = new Harness();
    const a1 = h.push({ groupId: "a" });
    const a2 = h.push({ groupId: "a" });
    expect(h.pullIds("q", 5)).toEqual([a1]); // a2 popped and held
    const a3 = h.push({ groupId: "a" });
    h.engine.complete(a1, undefined, null);
    expect(h.pullIds("q", 5)).toEqual([a2]);
    h.engine.complete(a2, undefined, null);
    expect(h.pullIds("q", 5)).toEqual([a3]);
  });

  const endings: [string, (h: Harness, id: number, token: number) => void][] = [
    ["ack", (h, id, token) => h.engine.complete(id, token, null)],
    ["fail with retry", (h, id, token) => h.engine.failAttempt(id, token, "boom")],
    ["fail with retry after backoff", (h, id, token) => {
      h.job(id).backoff = 1000;
      h.engine.failAttempt(id, token, "boom");
    }],
    ["fail to the DLQ", (h, id, token) => {
      h.job(id).maxAttempts = 1;
      h.engine.failAttempt(id, token, "boom");
    }],
    ["lease expiry (stall)", (h) => h.at(h.t + 30_000)],
    ["processing timeout", (h, id) => {
      h.job(id).setKind("timeout", 100);
      h.engine.heartbeat(id, undefined); // re-computes the lease with the timeout
      h.at(h.t + 100);
    }],
    ["discard", (h, id) => h.engine.fail(h.job(id), "Discarded")],
    ["moveToDelayed", (h, id, token) => h.engine.moveToDelayed(h.job(id), 5000, token)],
    ["remove", (h, id) => h.engine.remove(h.job(id))],
  ];
  for (const [name, end] of endings) {
    test(`${name} releases the group: the next job of the group is delivered`, () => {
      const h = new Harness();
      const a1 = h.push({ groupId: "a" });
      const a2 = h.push({ groupId: "a" });
      const first = h.pullOne()!;
      expect(first.id).toBe(a1);
      expect(h.pullIds()).toEqual([]);
      end(h, a1, first.lockToken);
      expect(h.state(a1)).not.toBe("active");
      checkInvariants(h.engine);
      expect(h.pullIds("q", 1)).toEqual([a2]);
      expect(h.q().groups.get("a")!.active).toBe(1);
      checkInvariants(h.engine);
    });
  }

  test("a group released while a puller is parked serves the held job at once", () => {
    const { h, a1, a2 } = grouped();
    h.pullIds("q", 10); // a1 and b1 active
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 1, 5000, (jobs) => (got = jobs.map((j) => j.id)));
    expect(got).toBeNull();
    h.engine.complete(a1, undefined, null);
    expect(got as unknown).toEqual([a2]);
    checkInvariants(h.engine);
  });

  test("cancel of a job held behind its busy group", () => {
    const { h, a1, a2, a3 } = grouped();
    h.pullIds("q", 10);
    h.engine.cancel(a2);
    checkInvariants(h.engine);
    expect(h.q().waitingCount).toBe(1);
    h.engine.complete(a1, undefined, null);
    expect(h.pullIds()).toEqual([a3]);
  });

  test("the group stays busy across a retry until the retried job is delivered and ends", () => {
    const h = new Harness();
    const a1 = h.push({ groupId: "a", backoff: 100 });
    const a2 = h.push({ groupId: "a" });
    const j = h.pullOne()!;
    h.engine.failAttempt(a1, j.lockToken, "x");
    // a1 waits out its backoff; meanwhile the group is free for a2.
    expect(h.pullIds()).toEqual([a2]);
    h.at(T0 + 100);
    expect(h.state(a1)).toBe("waiting");
    expect(h.pullIds()).toEqual([]); // a2 still active
    h.engine.complete(a2, undefined, null);
    expect(h.pullIds()).toEqual([a1]);
    checkInvariants(h.engine);
  });
});
