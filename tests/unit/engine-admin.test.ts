// Retention of completed records (by count and by age, via tick; remove_on_complete), the queue
// operations of queries.ts (drain, obliterate, purgeDlq, retryDlq, counts) and the journal: every
// transition writes the job's new state, every removal writes a removal.

import { describe, expect, test } from "bun:test";
import { drain, jobCounts, obliterate, purgeDlq, retryDlq, runAll, stats } from "../../src/engine/queries.ts";
import { Harness, T0, checkInvariants } from "./engine-harness.ts";

function completeOne(h: Harness, queue = "q"): number {
  const job = h.engine.pull(queue, 1)[0]!;
  h.engine.complete(job.id, job.lockToken, null);
  return job.id;
}

function failOne(h: Harness, queue = "q"): number {
  const job = h.engine.pull(queue, 1)[0]!;
  job.maxAttempts = 1;
  h.engine.failAttempt(job.id, job.lockToken, "x");
  return job.id;
}

describe("retention of completed records", () => {
  test("records beyond the count are pruned by tick, oldest first", () => {
    const h = new Harness({ keepFinished: 3 });
    const ids = Array.from({ length: 5 }, () => h.push());
    for (let i = 0; i < 5; i++) completeOne(h);
    expect(h.engine.completedCount).toBe(5); // pruning is tick's work
    h.engine.tick(h.t);
    expect([...h.q().completed.values()].map((j) => j.id)).toEqual(ids.slice(2));
    expect(h.engine.getJob(ids[0]!)).toBeUndefined();
    expect(h.q().completedCount).toBe(3);
    checkInvariants(h.engine);
  });

  test("the count bound is across queues", () => {
    const h = new Harness({ keepFinished: 2 });
    const a = h.push({ queue: "a" });
    h.push({ queue: "b" });
    h.push({ queue: "b" });
    completeOne(h, "a");
    completeOne(h, "b");
    completeOne(h, "b");
    h.engine.tick(h.t);
    expect(h.engine.getJob(a)).toBeUndefined();
    expect(h.q("a").completedCount).toBe(0);
    expect(h.q("b").completedCount).toBe(2);
    checkInvariants(h.engine);
  });

  test("records are pruned by age at exactly finished_at + age, and tick names that deadline", () => {
    const h = new Harness({ keepFinishedAgeMs: 1000 });
    const a = h.push();
    const b = h.push();
    completeOne(h);
    h.t = T0 + 300;
    completeOne(h);
    expect(h.engine.nextDeadline()).toBe(T0 + 1000);
    expect(h.at(T0 + 999)).toBe(T0 + 1000);
    expect(h.engine.getJob(a)).toBeDefined();
    expect(h.at(T0 + 1000)).toBe(T0 + 1300);
    expect(h.engine.getJob(a)).toBeUndefined();
    expect(h.engine.getJob(b)).toBeDefined();
    expect(h.at(T0 + 1300)).toBe(Infinity);
    expect(h.engine.getJob(b)).toBeUndefined();
    expect(h.journal.forJob(b).at(-1)).toEqual({ kind: "removed", id: b, state: "completed" });
  });

  test("remove_on_complete drops the record at once", () => {
    const h = new Harness();
    const id = h.push({ removeOnComplete: true });
    completeOne(h);
    expect(h.engine.getJob(id)).toBeUndefined();
    expect(h.engine.completedCount).toBe(0);
    expect(h.q().completedCount).toBe(0);
    expect(h.q().counters.completed).toBe(1);
    const kinds = h.journal.forJob(id).map((e) => `${e.kind}:${e.state}`);
    expect(kinds.slice(-2)).toEqual(["changed:completed", "removed:completed"]);
  });
});

describe("queue operations", () => {
  test("drain removes waiting, held and delayed jobs and counts them; active and finished stay", () => {
    const h = new Harness();
    const active = h.push({ groupId: "g" });
    const held = h.push({ groupId: "g" });
    expect(h.pullIds()).toEqual([active]); // `held` now waits behind its busy group
    expect(h.q().groupPending).toBe(1);
    const done = h.push({ priority: 9 });
    completeOne(h);
    const dead = h.push({ priority: 9 });
    failOne(h);
    const waiting = [h.push(), h.push({ priority: 3 })];
    const delayed = h.push({ delay: 100 });
    expect(runAll(drain(h.engine, h.q()))).toBe(4);
    for (const id of [held, ...waiting, delayed]) expect(h.engine.getJob(id)).toBeUndefined();
    expect(h.state(active)).toBe("active");
    expect(h.state(done)).toBe("completed");
    expect(h.state(dead)).toBe("failed");
    expect(h.q().waitingCount).toBe(0);
    expect(h.q().delayedCount).toBe(0);
    expect(h.engine.nextDeadline()).not.toBe(T0 + 100);
    checkInvariants(h.engine);
    // The held group job is gone: completing the active one delivers nothing.
    h.engine.complete(active, undefined, null);
    expect(h.pullIds()).toEqual([]);
  });

  test("drain of an empty queue counts 0", () => {
    const h = new Harness();
    expect(runAll(drain(h.engine, h.q()))).toBe(0);
  });

  test("obliterate removes every job of the queue, active included, answers parked pullers and forgets the queue", () => {
    const h = new Harness();
    h.push();
    h.pullOne();
    h.push();
    h.push({ delay: 50 });
    h.push({ customId: "c", uniqueKey: "u" });
    completeOne(h);
    h.push();
    failOne(h);
    const other = h.push({ queue: "other" });
    expect(runAll(obliterate(h.engine, h.q()))).toBe(5);
    expect(h.engine.queues.has("q")).toBe(false);
    expect([...h.engine.jobs.keys()]).toEqual([other]);
    expect(h.engine.customIds.size).toBe(0);
    expect(h.engine.nextDeadline()).toBe(Infinity);
    checkInvariants(h.engine);
    // The name can be used again from scratch, unique key and custom id free.
    h.push({ customId: "c", uniqueKey: "u" });
    checkInvariants(h.engine);
  });

  test("obliterate answers parked pullers with []", () => {
    const h = new Harness();
    let got: unknown = null;
    h.engine.pullOrPark("q", 1, 60_000, (jobs) => (got = jobs));
    expect(runAll(obliterate(h.engine, h.q()))).toBe(0);
    expect(got as unknown).toEqual([]);
    expect(h.engine.nextDeadline()).toBe(Infinity);
  });

  test("obliterate never hands a parked puller a job it is about to remove", () => {
    // An active group job whose removal releases its group would otherwise serve the held job
    // to the parked puller in the middle of the obliteration.
    const h = new Harness();
    h.push({ groupId: "g" });
    h.push({ groupId: "g" });
    expect(h.pullIds().length).toBe(1);
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 1, 60_000, (jobs) => (got = jobs.map((j) => j.id)));
    expect(got).toBeNull();
    expect(runAll(obliterate(h.engine, h.q()))).toBe(2);
    expect(got as unknown).toEqual([]);
    expect(h.engine.jobs.size).toBe(0);
  });

  test("purgeDlq removes every failed job of the queue and counts them", () => {
    const h = new Harness();
    for (let i = 0; i < 3; i++) h.push();
    const w = h.push();
    failOne(h);
    failOne(h);
    failOne(h);
    h.push({ queue: "other" });
    failOne(h, "other");
    expect(runAll(purgeDlq(h.engine, h.q()))).toBe(3);
    expect(h.q().failed.size).toBe(0);
    expect(h.q("other").failed.size).toBe(1);
    expect(h.state(w)).toBe("waiting");
    expect(runAll(purgeDlq(h.engine, h.q()))).toBe(0);
    checkInvariants(h.engine);
  });

  test("retryDlq moves the whole DLQ back to waiting and counts it, skipping duplicates", () => {
    const h = new Harness();
    h.push({ uniqueKey: "k" });
    h.push();
    h.push();
    const [k] = [failOne(h), failOne(h), failOne(h)];
    h.push({ uniqueKey: "k" }); // a newer job holds the key again
    expect(runAll(retryDlq(h.engine, h.q()))).toBe(2);
    expect(h.q().failed.size).toBe(1);
    expect(h.state(k!)).toBe("failed");
    expect(h.q().waitingCount).toBe(3);
    checkInvariants(h.engine);
  });

  test("retrying one id of the DLQ moves only that job", () => {
    const h = new Harness();
    h.push();
    h.push();
    const a = failOne(h);
    const b = failOne(h);
    h.engine.retryFailed(h.job(b));
    expect(h.state(a)).toBe("failed");
    expect(h.state(b)).toBe("waiting");
  });

  test("jobCounts and stats agree with the states of the jobs", () => {
    const h = new Harness();
    h.push({ delay: 10 });
    h.push({ groupId: "g" });
    h.push({ groupId: "g" });
    h.push();
    h.push();
    h.pullIds("q", 2); // g1 active, g2 held, then the plain one
    completeOne(h);
    h.push();
    failOne(h);
    expect(jobCounts(h.q())).toEqual({ waiting: 1, active: 2, delayed: 1, completed: 1, failed: 1 });
    expect(stats(h.engine)).toEqual({ queued: 1, processing: 2, delayed: 1, dlq: 1, completed: 1 });
    checkInvariants(h.engine);
  });
});

describe("journal", () => {
  test("every transition writes one entry with the job's new state", () => {
    const h = new Harness();
    const id = h.push({ delay: 100, maxAttempts: 2, stallTimeout: 1000 });
    const log = () => h.journal.forJob(id).map((e) => (e.kind === "removed" ? "removed" : e.state));
    expect(log()).toEqual(["delayed"]);
    h.at(T0 + 100); // promote
    expect(log()).toEqual(["delayed", "waiting"]);
    h.pullOne(); // activate
    h.at(T0 + 1100); // stall
    h.pullOne();
    h.engine.failAttempt(id, undefined, "x"); // retry
    h.pullOne();
    h.engine.failAttempt(id, undefined, "y"); // DLQ
    h.engine.retryFailed(h.job(id));
    h.engine.moveToDelayed(h.job(id), 10, undefined);
    h.engine.promote(h.job(id));
    h.engine.changePriority(h.job(id), 5);
    h.pullOne();
    h.engine.complete(id, undefined, null);
    expect(log()).toEqual([
      "delayed",
      "waiting",
      "active",
      "waiting", // stalled
      "active",
      "waiting", // retried (no backoff)
      "active",
      "failed",
      "waiting", // retryFailed
      "delayed",
      "waiting", // promote
      "waiting", // changePriority
      "active",
      "completed",
    ]);
  });

  test("removals write a removal entry: cancel, discard+purge, drain, retention", () => {
    const h = new Harness({ keepFinished: 0 });
    const a = h.push();
    const b = h.push();
    const c = h.push({ delay: 5 });
    const d = h.push();
    h.engine.cancel(a);
    h.engine.fail(h.job(b), "Discarded");
    runAll(purgeDlq(h.engine, h.q()));
    runAll(drain(h.engine, h.q()));
    h.push();
    const e = completeOne(h);
    h.engine.tick(h.t);
    for (const id of [a, b, c, d, e]) expect(h.journal.forJob(id).at(-1)!.kind).toBe("removed");
    expect(h.journal.forJob(b).map((x) => x.state)).toEqual(["waiting", "failed", "failed"]);
  });

  test("a ttl expiry at pull writes the failure", () => {
    const h = new Harness();
    const id = h.push({ ttl: 5 });
    h.t += 5;
    h.pullIds();
    expect(h.journal.forJob(id).map((e) => e.state)).toEqual(["waiting", "failed"]);
  });

  test("a processing timeout writes the retry", () => {
    const h = new Harness();
    const id = h.push({ timeout: 10, backoff: 10 });
    h.pullOne();
    h.at(T0 + 10);
    expect(h.journal.forJob(id).map((e) => e.state)).toEqual(["waiting", "active", "delayed"]);
  });

  test("a push returning an existing custom id, and a rejected duplicate, write nothing", () => {
    const h = new Harness();
    h.push({ customId: "c", uniqueKey: "u" });
    h.journal.take();
    h.push({ customId: "c" });
    try {
      h.push({ uniqueKey: "u" });
    } catch {}
    expect(h.journal.entries).toEqual([]);
  });
});
