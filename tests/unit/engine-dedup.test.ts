// Deduplication windows: within a ttl, pushes with the same key create nothing and return the
// job that opened the window (with a `deduplicated` event on it); after the ttl a new job is
// made; without a ttl the window lasts while the job is unfinished; removing the job closes its
// window; windows are per queue, and a queue is not forgotten while one is open.

import { describe, expect, test } from "bun:test";
import { Harness, checkInvariants } from "./engine-harness.ts";

describe("deduplication", () => {
  test("within the ttl a push returns the standing job; after it a new one is made", () => {
    const h = new Harness();
    const a = h.push({ dedupKey: "k", dedupTtl: 1000 });
    expect(h.engine.lastPushDeduplicated).toBe(false);
    h.events = [];
    h.advance(999);
    expect(h.push({ dedupKey: "k", dedupTtl: 1000 })).toBe(a);
    expect(h.engine.lastPushDeduplicated).toBe(true);
    expect(h.events).toEqual([{ event: "deduplicated", id: a }]);
    expect(h.q().waitingCount).toBe(1);
    h.advance(1);
    const b = h.push({ dedupKey: "k", dedupTtl: 1000 });
    expect(b).not.toBe(a);
    expect(h.engine.lastPushDeduplicated).toBe(false);
    checkInvariants(h.engine);
  });

  test("a ttl window outlives the job's completion; an open-ended one ends with it", () => {
    const h = new Harness();
    const a = h.push({ dedupKey: "ttl", dedupTtl: 10_000 });
    const b = h.push({ dedupKey: "open" });
    for (const j of h.engine.pull("q", 10)) h.engine.complete(j.id, j.lockToken, null);
    expect(h.push({ dedupKey: "ttl", dedupTtl: 10_000 })).toBe(a);
    expect(h.push({ dedupKey: "open" })).not.toBe(b);
  });

  test("removing the job closes its window, and windows are per queue", () => {
    const h = new Harness();
    const a = h.push({ dedupKey: "k", dedupTtl: 60_000 });
    expect(h.push({ queue: "other", dedupKey: "k", dedupTtl: 60_000 })).not.toBe(a);
    h.engine.cancel(a);
    expect(h.push({ dedupKey: "k", dedupTtl: 60_000 })).not.toBe(a);
    checkInvariants(h.engine);
  });

  test("a window ends with its job's record (remove_on_complete, remove), and the queue can go", () => {
    const h = new Harness();
    const a = h.push({ dedupKey: "k", dedupTtl: 1000, removeOnComplete: true });
    h.engine.complete(h.pullOne()!.id, undefined, null);
    expect(h.engine.getJob(a)).toBeUndefined();
    // The record is gone (remove_on_complete), which closes the window: nothing holds the queue.
    expect(h.engine.queues.has("q")).toBe(false);
    const b = h.push({ dedupKey: "k", dedupTtl: 1000 });
    h.engine.complete(h.pullOne()!.id, undefined, null);
    expect(h.engine.queues.has("q")).toBe(true); // the completed record and the window
    h.engine.remove(h.job(b));
    expect(h.engine.queues.has("q")).toBe(false);
  });

  test("the window's timer closes it at its deadline (nothing scans)", () => {
    const h = new Harness();
    h.push({ dedupKey: "k", dedupTtl: 500, delay: 10_000 });
    expect(h.engine.nextDeadline()).toBe(h.t + 500);
    h.advance(500);
    expect(h.q().dedup!.size).toBe(0);
  });
});
