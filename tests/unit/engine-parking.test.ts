// Event-driven waiting: parked pulls served synchronously the moment a job becomes ready (push,
// promote, retry, resume), resolved with [] at their deadline via tick, cancelPull; pause/resume;
// and waitFinish (WAITJOB) for completed, failed, removed and timeout.

import { describe, expect, test } from "bun:test";
import type { Finish } from "../../src/engine/engine.ts";
import type { Job } from "../../src/engine/model.ts";
import { Harness, T0, checkInvariants, expectClientError } from "./engine-harness.ts";

/** A parked pull whose result is captured; `got` stays null until the engine resolves it. */
function park(h: Harness, count = 1, timeoutMs = 60_000, queue = "q") {
  const p = { got: null as number[] | null, calls: 0, jobs: [] as Job[] };
  const w = h.engine.pullOrPark(queue, count, timeoutMs, (jobs) => {
    p.calls++;
    p.jobs = jobs;
    p.got = jobs.map((j) => j.id);
  });
  return Object.assign(p, { w });
}

describe("parked pulls", () => {
  test("a pull with a ready job answers at once and does not park", () => {
    const h = new Harness();
    const id = h.push();
    const p = park(h);
    expect(p.w).toBeNull();
    expect(p.got).toEqual([id]);
    expect(p.jobs[0]!.lockToken).toBeGreaterThan(0);
  });

  test("timeout 0 on an empty queue answers [] at once", () => {
    const h = new Harness();
    const p = park(h, 1, 0);
    expect(p.w).toBeNull();
    expect(p.got).toEqual([]);
    expect(h.q().waiters.length).toBe(0);
  });

  test("resolves synchronously inside push", () => {
    const h = new Harness();
    const p = park(h);
    expect(p.got).toBeNull();
    const id = h.push();
    expect(p.got).toEqual([id]);
    expect(h.state(id)).toBe("active");
    expect(h.q().waiters.length).toBe(0);
    checkInvariants(h.engine);
  });

  test("a batch puller parked for 3 takes what the push made ready", () => {
    const h = new Harness();
    const p = park(h, 3);
    const id = h.push();
    expect(p.got).toEqual([id]);
  });

  test("parked pullers are served oldest first, one push each", () => {
    const h = new Harness();
    const p1 = park(h);
    const p2 = park(h);
    const a = h.push();
    expect(p1.got).toEqual([a]);
    expect(p2.got).toBeNull();
    const b = h.push();
    expect(p2.got).toEqual([b]);
    expect(p1.calls).toBe(1);
  });

  test("a delayed push does not wake a puller; its promotion by tick does", () => {
    const h = new Harness();
    const p = park(h);
    const id = h.push({ delay: 300 });
    expect(p.got).toBeNull();
    h.at(T0 + 300);
    expect(p.got).toEqual([id]);
  });

  test("resolves synchronously inside promote", () => {
    const h = new Harness();
    const id = h.push({ delay: 10_000 });
    const p = park(h);
    h.engine.promote(h.job(id));
    expect(p.got).toEqual([id]);
  });

  test("resolves synchronously inside a retry without backoff", () => {
    const h = new Harness();
    const id = h.push();
    const token = h.pullOne()!.lockToken;
    const p = park(h);
    h.engine.failAttempt(id, token, "x");
    expect(p.got).toEqual([id]);
    expect(h.job(id).attempts).toBe(1);
    checkInvariants(h.engine);
  });

  test("resolves synchronously inside retryFailed (RETRYDLQ)", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 1 });
    h.pullOne();
    h.engine.failAttempt(id, undefined, "x");
    const p = park(h);
    h.engine.retryFailed(h.job(id));
    expect(p.got).toEqual([id]);
  });

  test("resolves synchronously inside resume", () => {
    const h = new Harness();
    h.engine.setPaused(h.q(), true);
    const id = h.push();
    const p = park(h);
    expect(p.got).toBeNull();
    h.engine.setPaused(h.q(), false);
    expect(p.got).toEqual([id]);
  });

  test("resolves [] at its deadline via tick, not before", () => {
    const h = new Harness();
    const p = park(h, 1, 1000);
    expect(h.engine.nextDeadline()).toBe(T0 + 1000);
    h.at(T0 + 999);
    expect(p.got).toBeNull();
    expect(h.at(T0 + 1000)).toBe(Infinity);
    expect(p.got).toEqual([]);
    expect(h.q().waiters.length).toBe(0);
    // A later push is not delivered to the timed-out puller.
    const id = h.push();
    expect(p.calls).toBe(1);
    expect(h.state(id)).toBe("waiting");
  });

  test("cancelPull forgets the puller: no delivery, no timeout callback, no deadline", () => {
    const h = new Harness();
    const p = park(h, 1, 1000);
    h.engine.cancelPull(p.w!);
    expect(h.engine.nextDeadline()).toBe(Infinity);
    const id = h.push();
    h.at(T0 + 5000);
    expect(p.calls).toBe(0);
    expect(h.state(id)).toBe("waiting");
    h.engine.cancelPull(p.w!); // twice is harmless
  });

  test("cancelPull of one puller leaves the others in order", () => {
    const h = new Harness();
    const p1 = park(h);
    const p2 = park(h);
    const p3 = park(h);
    h.engine.cancelPull(p2.w!);
    const a = h.push();
    const b = h.push();
    expect(p1.got).toEqual([a]);
    expect(p3.got).toEqual([b]);
    expect(p2.calls).toBe(0);
  });

  test("with a puller parked, a pull with timeout 0 answers [] and the next push goes to the parked one", () => {
    const h = new Harness();
    const p1 = park(h);
    const p2 = park(h, 1, 0);
    expect(p2.got).toEqual([]);
    const id = h.push();
    expect(p1.got).toEqual([id]);
    expect(p2.calls).toBe(1);
  });
});

describe("pause and resume", () => {
  test("a paused queue delivers nothing, to pull or to parked pullers", () => {
    const h = new Harness();
    h.engine.setPaused(h.q(), true);
    const a = h.push();
    expect(h.pullIds()).toEqual([]);
    const p = park(h);
    h.push();
    expect(p.got).toBeNull();
    expect(h.state(a)).toBe("waiting");
    expect(h.journal.entries.filter((e) => e.kind === "queue")).toEqual([{ kind: "queue", id: 0, state: "paused" }]);
  });

  test("resume serves every parked puller it can, oldest first, then pull works", () => {
    const h = new Harness();
    h.engine.setPaused(h.q(), true);
    const p1 = park(h, 2);
    const p2 = park(h, 1);
    const p3 = park(h, 1);
    const ids = [h.push(), h.push(), h.push(), h.push(), h.push()];
    h.engine.setPaused(h.q(), false);
    expect(p1.got).toEqual([ids[0]!, ids[1]!]);
    expect(p2.got).toEqual([ids[2]!]);
    expect(p3.got).toEqual([ids[3]!]);
    expect(h.pullIds()).toEqual([ids[4]!]);
    checkInvariants(h.engine);
  });

  test("pausing twice writes one journal entry; resume writes one", () => {
    const h = new Harness();
    h.engine.setPaused(h.q(), true);
    h.engine.setPaused(h.q(), true);
    h.engine.setPaused(h.q(), false);
    h.engine.setPaused(h.q(), false);
    expect(h.journal.entries.filter((e) => e.kind === "queue").map((e) => e.state)).toEqual(["paused", "resumed"]);
    // Resumed and empty, the queue is forgotten (it costs nothing until used again).
    expect(h.journal.entries.at(-1)!.kind).toBe("queue-removed");
    expect(h.engine.queues.has("q")).toBe(false);
  });

  test("pause does not touch active jobs: they can still be acknowledged", () => {
    const h = new Harness();
    const id = h.push();
    h.pullOne();
    h.engine.setPaused(h.q(), true);
    h.engine.complete(id, undefined, null);
    expect(h.state(id)).toBe("completed");
  });

  test("a paused queue's delayed jobs still become waiting, but are not delivered", () => {
    const h = new Harness();
    h.engine.setPaused(h.q(), true);
    const p = park(h);
    const id = h.push({ delay: 100 });
    h.at(T0 + 100);
    expect(h.state(id)).toBe("waiting");
    expect(p.got).toBeNull();
    h.engine.setPaused(h.q(), false);
    expect(p.got).toEqual([id]);
  });
});

describe("waitFinish (WAITJOB)", () => {
  function wait(h: Harness, id: number, timeoutMs = 60_000) {
    const r = { f: null as Finish | null, calls: 0 };
    const cancel = h.engine.waitFinish(id, timeoutMs, (f) => {
      r.calls++;
      r.f = f;
    });
    return Object.assign(r, { cancel });
  }

  test("completed: resolves with the job and its result", () => {
    const h = new Harness();
    const id = h.push();
    const w1 = wait(h, id);
    const w2 = wait(h, id);
    h.pullOne();
    expect(w1.f).toBeNull();
    h.engine.complete(id, undefined, new Uint8Array([7]));
    expect(w1.f!.kind).toBe("completed");
    expect(w2.f!.kind).toBe("completed");
    const f = w1.f as Extract<Finish, { kind: "completed" }>;
    expect(f.job.id).toBe(id);
    expect(f.job.x!.result).toEqual(new Uint8Array([7]));
    expect(h.engine.nextDeadline()).toBe(T0 + h.engine.keepFinishedAgeMs); // only retention left
  });

  test("completed with remove_on_complete: still reported as completed", () => {
    const h = new Harness();
    const id = h.push({ removeOnComplete: true });
    const w = wait(h, id);
    h.pullOne();
    h.engine.complete(id, undefined, null);
    expect(w.f!.kind).toBe("completed");
    expect(h.engine.getJob(id)).toBeUndefined();
  });

  test("failed: a retried attempt does not resolve, the final failure does", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 2 });
    const w = wait(h, id);
    h.pullOne();
    h.engine.failAttempt(id, undefined, "x");
    expect(w.f).toBeNull();
    h.pullOne();
    h.engine.failAttempt(id, undefined, "y");
    expect(w.f!.kind).toBe("failed");
  });

  test("failed with remove_on_fail: still reported as failed, not removed", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 1, removeOnFail: true });
    const w = wait(h, id);
    h.pullOne();
    h.engine.failAttempt(id, undefined, "x");
    expect(w.f!.kind).toBe("failed");
    expect(w.calls).toBe(1);
  });

  test("removed: a cancelled job resolves as removed", () => {
    const h = new Harness();
    const id = h.push();
    const w = wait(h, id);
    h.engine.cancel(id);
    expect(w.f).toEqual({ kind: "removed", id });
  });

  test("timeout: resolves at its deadline via tick, and not again when the job finishes", () => {
    const h = new Harness();
    const id = h.push();
    const w = wait(h, id, 500);
    h.at(T0 + 499);
    expect(w.f).toBeNull();
    h.at(T0 + 500);
    expect(w.f).toEqual({ kind: "timeout", id });
    h.pullOne();
    h.engine.complete(id, undefined, null);
    expect(w.calls).toBe(1);
  });

  test("the returned cancel function drops the waiter", () => {
    const h = new Harness();
    const id = h.push();
    const w = wait(h, id, 500);
    w.cancel();
    expect(h.engine.nextDeadline()).toBe(Infinity);
    h.at(T0 + 1000);
    h.pullOne();
    h.engine.complete(id, undefined, null);
    expect(w.calls).toBe(0);
  });

  test("stale-token errors do not disturb a waiter", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 100 });
    const w = wait(h, id);
    const old = h.pullOne()!.lockToken;
    h.at(T0 + 100);
    h.pullOne();
    expectClientError(() => h.engine.complete(id, old, null), "STALE_LOCK");
    expect(w.f).toBeNull();
  });
});
