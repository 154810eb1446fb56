// Failed attempts: exponential and fixed backoff, max_attempts -> the DLQ, the finite default,
// retryFailed (RETRYDLQ) resetting attempts, remove_on_fail, and the backoff ceiling.

import { describe, expect, test } from "bun:test";
import { backoffMsMax, maxAttemptsDefault } from "../../src/constants.ts";
import { Harness, T0, checkInvariants, expectClientError } from "./engine-harness.ts";

/** Pulls the one job of queue q, asserting it is `id`, and fails the attempt. */
function pullAndFail(h: Harness, id: number, error = "boom"): void {
  const job = h.pullOne();
  expect(job?.id).toBe(id);
  h.engine.failAttempt(id, job!.lockToken, error);
}

describe("retry and backoff", () => {
  test("exponential backoff waits base * 2^(attempt-1) before each retry", () => {
    const h = new Harness();
    const id = h.push({ backoff: 100, maxAttempts: 5 });
    const expected = [100, 200, 400, 800];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const failedAt = h.t;
      pullAndFail(h, id);
      expect(h.job(id).attempts).toBe(attempt);
      expect(h.state(id)).toBe("delayed");
      expect(h.job(id).runAt).toBe(failedAt + expected[attempt - 1]!);
      expect(h.engine.nextDeadline()).toBe(failedAt + expected[attempt - 1]!);
      h.at(failedAt + expected[attempt - 1]! - 1);
      expect(h.pullIds()).toEqual([]);
      h.at(failedAt + expected[attempt - 1]!);
      expect(h.state(id)).toBe("waiting");
      checkInvariants(h.engine);
    }
    pullAndFail(h, id);
    expect(h.state(id)).toBe("failed");
  });

  test("fixed backoff waits the same delay every time", () => {
    const h = new Harness();
    const id = h.push({ backoff: 250, backoffFixed: true, maxAttempts: 4 });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const failedAt = h.t;
      pullAndFail(h, id);
      expect(h.job(id).runAt).toBe(failedAt + 250);
      h.at(failedAt + 250);
    }
    expect(h.job(id).attempts).toBe(3);
  });

  test("jitter draws each retry's delay from [delay x (1 - jitter), delay], not always the same", () => {
    const h = new Harness();
    const id = h.push({ backoff: 10_000, backoffFixed: true, backoffJitter: 0.5, maxAttempts: 41 });
    const delays = new Set<number>();
    for (let attempt = 1; attempt <= 40; attempt++) {
      const failedAt = h.t;
      pullAndFail(h, id);
      const delay = h.job(id).runAt - failedAt;
      expect(delay).toBeGreaterThanOrEqual(5_000);
      expect(delay).toBeLessThanOrEqual(10_000);
      delays.add(delay);
      h.at(h.job(id).runAt);
    }
    // 40 draws from 5,001 values: all the same would mean the jitter was ignored.
    expect(delays.size).toBeGreaterThan(30);
  });

  test("no backoff retries at once, behind jobs already waiting", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 3 });
    const other = h.push();
    pullAndFail(h, id);
    expect(h.state(id)).toBe("waiting");
    expect(h.pullIds()).toEqual([other, id]);
  });

  test("exponential backoff is capped at backoffMsMax", () => {
    const h = new Harness();
    const id = h.push({ backoff: backoffMsMax / 2, maxAttempts: 10 });
    pullAndFail(h, id);
    expect(h.job(id).runAt - h.t).toBe(backoffMsMax / 2);
    h.at(h.job(id).runAt);
    pullAndFail(h, id);
    expect(h.job(id).runAt - h.t).toBe(backoffMsMax);
    h.at(h.job(id).runAt);
    pullAndFail(h, id); // 2x the cap uncapped
    expect(h.job(id).runAt - h.t).toBe(backoffMsMax);
  });

  test("reaching max_attempts moves the job to the failed state (DLQ) with its error", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 2 });
    pullAndFail(h, id, "first");
    expect(h.state(id)).toBe("waiting");
    pullAndFail(h, id, "second");
    expect(h.state(id)).toBe("failed");
    const job = h.job(id);
    expect(job.attempts).toBe(2);
    expect(job.x!.error).toBe("second");
    expect(job.finishedAt).toBe(h.t);
    expect(h.q().failed.has(h.job(id))).toBe(true);
    expect(h.q().counters.failed).toBe(1);
    checkInvariants(h.engine);
    // A failed job is not active any more: another FAIL is refused.
    expectClientError(() => h.engine.failAttempt(id, undefined, "again"), "INVALID_STATE");
  });

  test("the default max_attempts is finite: a poison job ends in the DLQ", () => {
    expect(Number.isFinite(maxAttemptsDefault)).toBe(true);
    expect(maxAttemptsDefault).toBeGreaterThanOrEqual(1);
    const h = new Harness();
    const id = h.push();
    expect(h.job(id).maxAttempts).toBe(maxAttemptsDefault);
    for (let i = 0; i < maxAttemptsDefault; i++) {
      expect(h.state(id)).toBe("waiting");
      pullAndFail(h, id);
    }
    expect(h.state(id)).toBe("failed");
    expect(h.pullIds()).toEqual([]);
  });

  test("retryFailed resets attempts and stalls and delivers the job again", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 1 });
    pullAndFail(h, id);
    h.job(id).stallCount = 2;
    expect(h.state(id)).toBe("failed");
    h.engine.retryFailed(h.job(id));
    expect(h.state(id)).toBe("waiting");
    expect(h.job(id).attempts).toBe(0);
    expect(h.job(id).stallCount).toBe(0);
    expect(h.job(id).finishedAt).toBe(0);
    expect(h.q().failed.size).toBe(0);
    checkInvariants(h.engine);
    // A fresh budget: the job fails once more (max 1) before it is back in the DLQ.
    pullAndFail(h, id);
    expect(h.state(id)).toBe("failed");
  });

  test("retryFailed of a job that is not failed is refused", () => {
    const h = new Harness();
    const id = h.push();
    expectClientError(() => h.engine.retryFailed(h.job(id)), "INVALID_STATE");
    h.pullOne();
    expectClientError(() => h.engine.retryFailed(h.job(id)), "INVALID_STATE");
  });

  test("remove_on_fail drops the record when the job fails for good, not on a retry", () => {
    const h = new Harness();
    const id = h.push({ maxAttempts: 2, removeOnFail: true, customId: "c1" });
    pullAndFail(h, id);
    expect(h.state(id)).toBe("waiting");
    pullAndFail(h, id);
    expect(h.engine.getJob(id)).toBeUndefined();
    expect(h.q().failed.size).toBe(0);
    expect(h.engine.customIds.has("c1")).toBe(false);
    expect(h.journal.forJob(id).at(-1)).toEqual({ kind: "removed", id, state: "failed" });
    checkInvariants(h.engine);
  });

  test("the DLQ is bounded per queue: the oldest failed record goes first", () => {
    const h = new Harness({ keepFinished: 2 });
    const ids = [h.push({ maxAttempts: 1 }), h.push({ maxAttempts: 1 }), h.push({ maxAttempts: 1 })];
    for (const id of ids) pullAndFail(h, id);
    expect([...h.q().failed.values()].map((j) => j.id)).toEqual([ids[1]!, ids[2]!]);
    expect(h.engine.getJob(ids[0]!)).toBeUndefined();
    checkInvariants(h.engine);
  });

  test("failAttempt of a waiting job is refused; of an unknown job is NOT_FOUND", () => {
    const h = new Harness();
    const id = h.push();
    expectClientError(() => h.engine.failAttempt(id, undefined, "x"), "INVALID_STATE");
    expectClientError(() => h.engine.failAttempt(999, undefined, "x"), "NOT_FOUND");
    expect(h.job(id).attempts).toBe(0);
  });
});

describe("retry timing with the clock", () => {
  test("a retried job is delivered by a parked pull the moment its backoff ends", () => {
    const h = new Harness();
    const id = h.push({ backoff: 1000 });
    pullAndFail(h, id);
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 1, 60_000, (jobs) => (got = jobs.map((j) => j.id)));
    h.at(T0 + 999);
    expect(got).toBeNull();
    h.at(T0 + 1000);
    expect(got as unknown).toEqual([id]);
    expect(h.state(id)).toBe("active");
  });
});
