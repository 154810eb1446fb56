// Identity and admission: unique_key (DUPLICATE while unfinished), custom ids (job_id returns the
// existing id), ttl (an expired job is never delivered and ends failed), and CANCEL racing PULL.

import { describe, expect, test } from "bun:test";
import { Harness, T0, checkInvariants, expectClientError } from "./engine-harness.ts";

describe("unique_key", () => {
  test("a duplicate is rejected with DUPLICATE while the first is waiting, delayed or active", () => {
    const h = new Harness();
    const id = h.push({ uniqueKey: "k", delay: 100 });
    const before = h.engine.nextId;
    expectClientError(() => h.push({ uniqueKey: "k" }), "DUPLICATE"); // delayed
    h.at(T0 + 100);
    expectClientError(() => h.push({ uniqueKey: "k" }), "DUPLICATE"); // waiting
    h.pullOne();
    expectClientError(() => h.push({ uniqueKey: "k" }), "DUPLICATE"); // active
    expect(h.engine.nextId).toBe(before); // no id burnt, no job created
    expect(h.engine.jobs.size).toBe(1);
    expect(h.state(id)).toBe("active");
  });

  test("unique keys are per queue", () => {
    const h = new Harness();
    h.push({ uniqueKey: "k" });
    const other = h.push({ queue: "other", uniqueKey: "k" });
    expect(h.state(other)).toBe("waiting");
  });

  test("the key is free again after completion", () => {
    const h = new Harness();
    const id = h.push({ uniqueKey: "k" });
    h.pullOne();
    h.engine.complete(id, undefined, null);
    const again = h.push({ uniqueKey: "k" });
    expect(again).not.toBe(id);
    checkInvariants(h.engine);
  });

  test("the key is free again after the job fails for good, but not during a retry", () => {
    const h = new Harness();
    const id = h.push({ uniqueKey: "k", maxAttempts: 2, backoff: 10 });
    h.pullOne();
    h.engine.failAttempt(id, undefined, "x");
    expect(h.state(id)).toBe("delayed");
    expectClientError(() => h.push({ uniqueKey: "k" }), "DUPLICATE");
    h.at(T0 + 10);
    h.pullOne();
    h.engine.failAttempt(id, undefined, "x");
    expect(h.state(id)).toBe("failed");
    h.push({ uniqueKey: "k" });
    checkInvariants(h.engine);
  });

  test("the key is free again after cancel, discard and a ttl expiry", () => {
    const h = new Harness();
    const a = h.push({ uniqueKey: "k" });
    h.engine.cancel(a);
    const b = h.push({ uniqueKey: "k" });
    h.engine.fail(h.job(b), "Discarded");
    h.push({ uniqueKey: "k", ttl: 10 });
    h.t += 10;
    expect(h.pullIds()).toEqual([]);
    h.push({ uniqueKey: "k" });
    checkInvariants(h.engine);
  });

  test("retryFailed re-takes the key, and is refused when a newer job holds it", () => {
    const h = new Harness();
    const old = h.push({ uniqueKey: "k", maxAttempts: 1 });
    h.pullOne();
    h.engine.failAttempt(old, undefined, "x");
    const newer = h.push({ uniqueKey: "k" });
    expectClientError(() => h.engine.retryFailed(h.job(old)), "DUPLICATE");
    expect(h.state(old)).toBe("failed");
    h.engine.cancel(newer);
    h.engine.retryFailed(h.job(old));
    expect(h.q().uniqueKeys.get("k")).toBe(old);
    expectClientError(() => h.push({ uniqueKey: "k" }), "DUPLICATE");
    checkInvariants(h.engine);
  });
});

describe("custom id (job_id)", () => {
  test("a push with an existing custom id returns the existing id and creates nothing", () => {
    const h = new Harness();
    const id = h.push({ customId: "order-1" });
    const count = h.engine.jobs.size;
    const writes = h.journal.entries.length;
    expect(h.push({ customId: "order-1", priority: 9 })).toBe(id);
    expect(h.engine.jobs.size).toBe(count);
    expect(h.journal.entries.length).toBe(writes);
    expect(h.job(id).priority).toBe(0);
  });

  test("several duplicates inside one batch of pushes all return the first id", () => {
    const h = new Harness();
    // A PUSHB is a sequence of pushes in one turn (dispatch/job-commands.ts).
    const ids = ["a", "b", "a", "c", "a", "b"].map((c) => h.push({ customId: c }));
    expect(ids[2]).toBe(ids[0]);
    expect(ids[4]).toBe(ids[0]);
    expect(ids[5]).toBe(ids[1]);
    expect(new Set(ids).size).toBe(3);
    expect(h.engine.jobs.size).toBe(3);
    expect(h.pullIds()).toEqual([ids[0]!, ids[1]!, ids[3]!]);
  });

  test("the custom id is kept while the record exists (active, completed, failed)", () => {
    const h = new Harness({ keepFinished: 10 });
    const id = h.push({ customId: "x", maxAttempts: 1 });
    h.pullOne();
    expect(h.push({ customId: "x" })).toBe(id);
    h.engine.failAttempt(id, undefined, "no");
    expect(h.state(id)).toBe("failed");
    expect(h.push({ customId: "x" })).toBe(id);
    const done = h.push({ customId: "y" });
    h.pullOne();
    h.engine.complete(done, undefined, null);
    expect(h.push({ customId: "y" })).toBe(done);
    checkInvariants(h.engine);
  });

  test("the custom id is free once the record is gone (cancel, remove_on_complete, pruning)", () => {
    const h = new Harness({ keepFinishedAgeMs: 1000 });
    const a = h.push({ customId: "x" });
    h.engine.cancel(a);
    const b = h.push({ customId: "x" });
    expect(b).not.toBe(a);
    h.engine.cancel(b);
    const c = h.push({ customId: "x", removeOnComplete: true });
    h.pullOne();
    h.engine.complete(c, undefined, null);
    const d = h.push({ customId: "x" });
    expect(d).not.toBe(c);
    h.pullOne();
    h.engine.complete(d, undefined, null);
    expect(h.push({ customId: "x" })).toBe(d);
    h.advance(1000); // completed record pruned by age
    expect(h.engine.getJob(d)).toBeUndefined();
    const e = h.push({ customId: "x" });
    expect(e).toBeGreaterThan(d);
    checkInvariants(h.engine);
  });
});

describe("ttl", () => {
  test("an expired job is never delivered and ends failed with a reason", () => {
    const h = new Harness();
    const expired = h.push({ ttl: 1000 });
    const fresh = h.push({ ttl: 5000 });
    h.t = T0 + 1000;
    expect(h.pullIds()).toEqual([fresh]);
    expect(h.state(expired)).toBe("failed");
    expect(h.job(expired).x!.error).toMatch(/expired|ttl/i);
    expect(h.job(expired).attempts).toBe(0);
    checkInvariants(h.engine);
  });

  test("a job pulled before its ttl is delivered", () => {
    const h = new Harness();
    const id = h.push({ ttl: 1000 });
    h.t = T0 + 999;
    expect(h.pullIds()).toEqual([id]);
  });

  test("a delayed job whose ttl ends before its run_at is never delivered", () => {
    const h = new Harness();
    const id = h.push({ ttl: 100, delay: 500 });
    h.at(T0 + 500);
    expect(h.pullIds()).toEqual([]);
    expect(h.state(id)).toBe("failed");
  });

  test("an expired job is not handed to a parked puller", () => {
    const h = new Harness();
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 1, 60_000, (jobs) => (got = jobs.map((j) => j.id)));
    const id = h.push({ ttl: 100, delay: 200 });
    h.at(T0 + 200);
    expect(got).toBeNull();
    expect(h.state(id)).toBe("failed");
    const next = h.push();
    expect(got as unknown).toEqual([next]);
  });

  test("WAITJOB on a job that expires reports failure", () => {
    const h = new Harness();
    const id = h.push({ ttl: 100 });
    let kind = "";
    h.engine.waitFinish(id, 60_000, (f) => (kind = f.kind));
    h.t = T0 + 100;
    h.pullIds();
    expect(kind).toBe("failed");
  });

  // Expiry is a timer like any deadline: the job fails at its ttl without a pull, so counts and
  // GETJOB are right the moment it passes (it used to be found lazily at the next pull).
  test("a waiting or delayed job whose ttl has passed is failed by tick without a pull; an active one is not", () => {
    const h = new Harness();
    const waiting = h.push({ ttl: 100 });
    const delayed = h.push({ ttl: 150, delay: 1_000 });
    const later = h.push({ ttl: 300 });
    const active = h.job(h.pullIds("q", 1)[0]!).id;
    expect(active).toBe(waiting);
    const w2 = h.push({ ttl: 100 });
    expect(h.engine.nextDeadline()).toBe(T0 + 100);
    expect(h.at(T0 + 99)).toBe(T0 + 100);
    expect(h.state(w2)).toBe("waiting");
    h.at(T0 + 100);
    expect(h.state(w2)).toBe("failed");
    expect(h.job(w2).x!.error).toMatch(/ttl 100 ms/);
    expect(h.state(active)).toBe("active"); // delivered in time: its ttl no longer applies
    expect(h.q().waitingCount).toBe(1);
    h.at(T0 + 150);
    expect(h.state(delayed)).toBe("failed");
    expect(h.q().delayedCount).toBe(0);
    h.at(T0 + 300);
    expect(h.state(later)).toBe("failed");
    expect(h.q().waitingCount).toBe(0);
    checkInvariants(h.engine);
  });
});

describe("cancel racing pull", () => {
  test("cancel before pull: the job is never delivered", () => {
    const h = new Harness();
    const a = h.push();
    const b = h.push();
    h.engine.cancel(a);
    expect(h.engine.getJob(a)).toBeUndefined();
    expect(h.pullIds()).toEqual([b]);
    expect(h.journal.forJob(a).at(-1)!.kind).toBe("removed");
    checkInvariants(h.engine);
  });

  test("cancel of a delayed job: never promoted, never delivered", () => {
    const h = new Harness();
    const id = h.push({ delay: 100 });
    h.engine.cancel(id);
    expect(h.engine.nextDeadline()).toBe(Infinity);
    h.at(T0 + 100);
    expect(h.pullIds()).toEqual([]);
    checkInvariants(h.engine);
  });

  test("cancel of an active job removes it; its worker's HEARTBEAT, ACK, FAIL and PARTIAL get JOB_CANCELLED", () => {
    const h = new Harness();
    const id = h.push();
    const job = h.pullOne()!;
    h.events = [];
    h.engine.cancel(id);
    expect(h.engine.getJob(id)).toBeUndefined();
    expect(h.events).toEqual([{ event: "cancelled", id }, { event: "removed", id }]);
    expect(h.journal.forJob(id).at(-1)!.kind).toBe("removed");
    expectClientError(() => h.engine.heartbeat(id, job.lockToken), "JOB_CANCELLED");
    expectClientError(() => h.engine.complete(id, job.lockToken, null), "JOB_CANCELLED");
    expectClientError(() => h.engine.failAttempt(id, job.lockToken, "x"), "JOB_CANCELLED");
    expectClientError(() => h.engine.partial(id, job.lockToken, new Uint8Array([1]), 0), "JOB_CANCELLED");
    expect(h.q().active.size).toBe(0);
    checkInvariants(h.engine);
  });

  test("cancel of a finished job removes its record; an unknown id is NOT_FOUND", () => {
    const h = new Harness();
    const id = h.push();
    h.pullOne();
    h.engine.complete(id, undefined, null);
    h.engine.cancel(id);
    expect(h.engine.getJob(id)).toBeUndefined();
    expect(h.q().completedCount).toBe(0);
    checkInvariants(h.engine);
    expectClientError(() => h.engine.cancel(12345), "NOT_FOUND");
  });
});
