// Per-job retention of finished records: keep_completed_count trims the queue's completed list
// as the job enters it (the last n stay), keep_completed_age removes the record that long after
// it completed (a timer, not a scan), remove_on_fail {age, count} does the same for the DLQ, and
// a job cannot ask for more than the server keeps.

import { describe, expect, test } from "bun:test";
import { Harness, checkInvariants, expectClientError } from "./engine-harness.ts";

function completeAll(h: Harness): void {
  for (const j of h.engine.pull("q", 1000)) h.engine.complete(j.id, j.lockToken, null);
}

describe("per-job retention", () => {
  test("keep_completed_count: the queue keeps its last n completed when such a job completes", () => {
    const h = new Harness();
    const plain = [h.push(), h.push(), h.push()];
    completeAll(h);
    expect(h.q().completedCount).toBe(3);
    const kept = h.push({ keepCompletedCount: 2 });
    completeAll(h);
    expect([...h.q().completed.values()].map((j) => j.id)).toEqual([plain[2], kept]);
    checkInvariants(h.engine);
  });

  test("keep_completed_age: the record goes that long after completing, through the timer", () => {
    const h = new Harness();
    const short = h.push({ keepCompletedAge: 1000 });
    const plain = h.push();
    completeAll(h);
    expect(h.engine.nextDeadline()).toBe(h.t + 1000);
    h.advance(999);
    expect(h.state(short)).toBe("completed");
    h.advance(1);
    expect(h.state(short)).toBe("unknown");
    expect(h.state(plain)).toBe("completed");
    checkInvariants(h.engine);
  });

  test("a record removed before its age is up leaves the timer", () => {
    const h = new Harness();
    const id = h.push({ keepCompletedAge: 5000 });
    completeAll(h);
    h.engine.remove(h.job(id));
    expect(h.engine.nextDeadline()).toBe(Infinity); // nothing left to time
    checkInvariants(h.engine);
  });

  test("remove_on_fail {age, count}: the DLQ keeps the last n, each for the age", () => {
    const h = new Harness();
    const ids = [1, 2, 3].map(() => h.push({ maxAttempts: 1, keepFailedCount: 2, keepFailedAge: 10_000 }));
    for (const j of h.engine.pull("q", 10)) h.engine.failAttempt(j.id, j.lockToken, "x");
    expect([...h.q().failed.values()].map((j) => j.id)).toEqual([ids[1], ids[2]]);
    h.advance(10_000);
    expect(h.q().failed.size).toBe(0);
    checkInvariants(h.engine);
  });

  test("a job cannot keep more, or longer, than the server", () => {
    const h = new Harness({ keepFinished: 10, keepFinishedAgeMs: 60_000 });
    expectClientError(() => h.push({ keepCompletedCount: 11 }), "INVALID");
    expectClientError(() => h.push({ keepCompletedAge: 60_001 }), "INVALID");
    expectClientError(() => h.push({ keepFailedCount: 11 }), "INVALID");
    expect(h.engine.jobs.size).toBe(0);
    h.push({ keepCompletedCount: 10, keepCompletedAge: 60_000, keepFailedAge: 10 * 86_400_000 });
  });
});
