// At-least-once delivery: lock tokens, leases (stall_timeout), stalls re-queue (not the DLQ) until
// stallsMax, heartbeats extend the lease, stale tokens are refused after a redelivery, and a
// processing `timeout` is a failed attempt.

import { describe, expect, test } from "bun:test";
import { stallTimeoutMsDefault, stallsMax } from "../../src/constants.ts";
import { Harness, T0, checkInvariants, expectClientError } from "./engine-harness.ts";

describe("leases and lock tokens", () => {
  test("a pulled job is active with a fresh lock token and a lease of stall_timeout", () => {
    const h = new Harness();
    const a = h.push();
    const b = h.push({ stallTimeout: 5000 });
    const [ja, jb] = h.engine.pull("q", 2);
    expect(ja!.id).toBe(a);
    expect(jb!.id).toBe(b);
    expect(h.state(a)).toBe("active");
    expect(ja!.lockToken).toBeGreaterThan(0);
    expect(jb!.lockToken).toBeGreaterThan(0);
    expect(jb!.lockToken).not.toBe(ja!.lockToken);
    expect(ja!.startedAt).toBe(T0);
    expect(ja!.deadline).toBe(T0 + stallTimeoutMsDefault);
    expect(jb!.deadline).toBe(T0 + 5000);
    expect(h.engine.nextDeadline()).toBe(T0 + 5000);
    checkInvariants(h.engine);
  });

  test("an expired lease re-queues the job as a stall, not to the DLQ", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 1000, maxAttempts: 1 });
    h.pullOne();
    h.at(T0 + 999);
    expect(h.state(id)).toBe("active");
    h.at(T0 + 1000);
    expect(h.state(id)).toBe("waiting");
    const job = h.job(id);
    expect(job.stallCount).toBe(1);
    expect(job.attempts).toBe(0); // a stall is not a failed attempt (max_attempts 1 untouched)
    expect(job.lockToken).toBe(0);
    expect(h.q().failed.size).toBe(0);
    expect(h.events.at(-1)).toEqual({ event: "stalled", id });
    checkInvariants(h.engine);
    expect(h.pullIds()).toEqual([id]);
  });

  test("heartbeat extends the lease from the time of the heartbeat", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 1000 });
    const job = h.pullOne()!;
    h.at(T0 + 900);
    h.engine.heartbeat(id, job.lockToken);
    expect(job.lastHeartbeat).toBe(T0 + 900);
    expect(h.engine.nextDeadline()).toBe(T0 + 1900);
    h.at(T0 + 1000);
    expect(h.state(id)).toBe("active");
    h.at(T0 + 1899);
    expect(h.state(id)).toBe("active");
    h.at(T0 + 1900);
    expect(h.state(id)).toBe("waiting");
    checkInvariants(h.engine);
  });

  test(`after stallsMax (${stallsMax}) stalls the job goes to the DLQ`, () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 100 });
    for (let i = 1; i < stallsMax; i++) {
      expect(h.pullIds()).toEqual([id]);
      h.advance(100);
      expect(h.state(id)).toBe("waiting");
      expect(h.job(id).stallCount).toBe(i);
    }
    expect(h.pullIds()).toEqual([id]);
    h.advance(100);
    expect(h.state(id)).toBe("failed");
    expect(h.job(id).x!.error).toContain("stalled");
    checkInvariants(h.engine);
  });

  test("a stale token is refused with STALE_LOCK after redelivery; the fresh token works", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 1000 });
    const first = h.pullOne()!;
    const oldToken = first.lockToken;
    h.at(T0 + 1000); // stall
    const second = h.pullOne()!;
    expect(second.id).toBe(id);
    const newToken = second.lockToken;
    expect(newToken).not.toBe(oldToken);
    expectClientError(() => h.engine.heartbeat(id, oldToken), "STALE_LOCK");
    expectClientError(() => h.engine.failAttempt(id, oldToken, "late"), "STALE_LOCK");
    expectClientError(() => h.engine.complete(id, oldToken, null), "STALE_LOCK");
    expectClientError(() => h.engine.moveToDelayed(h.job(id), 100, oldToken), "STALE_LOCK");
    // Nothing changed for the current holder.
    expect(h.state(id)).toBe("active");
    expect(h.job(id).attempts).toBe(0);
    h.engine.heartbeat(id, newToken);
    h.engine.complete(id, newToken, new Uint8Array([1, 2, 3]));
    expect(h.state(id)).toBe("completed");
    expect(h.job(id).x!.result).toEqual(new Uint8Array([1, 2, 3]));
    checkInvariants(h.engine);
  });

  test("an old token after the stall but before redelivery is refused (job not active)", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 1000 });
    const token = h.pullOne()!.lockToken;
    h.at(T0 + 1000);
    expectClientError(() => h.engine.complete(id, token, null), "INVALID_STATE");
    expect(h.state(id)).toBe("waiting");
  });

  test("without a token (flashQ clients) ACK/FAIL/HEARTBEAT are accepted", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 1000 });
    h.pullOne();
    h.engine.heartbeat(id, undefined);
    h.engine.complete(id, undefined, null);
    expect(h.state(id)).toBe("completed");
  });

  test("a processing timeout is a failed attempt (with backoff), not a stall", () => {
    const h = new Harness();
    const id = h.push({ timeout: 500, backoff: 100, maxAttempts: 2 });
    const job = h.pullOne()!;
    expect(job.deadline).toBe(T0 + 500); // the timeout ends before the 30 s lease
    h.at(T0 + 499);
    expect(h.state(id)).toBe("active");
    h.at(T0 + 500);
    expect(h.state(id)).toBe("delayed");
    expect(h.job(id).attempts).toBe(1);
    expect(h.job(id).stallCount).toBe(0);
    expect(h.job(id).x!.error).toContain("timed out");
    expect(h.job(id).runAt).toBe(T0 + 600);
    h.at(T0 + 600);
    h.pullOne();
    h.at(T0 + 1100);
    expect(h.state(id)).toBe("failed");
    checkInvariants(h.engine);
  });

  test("heartbeats do not extend a job past its processing timeout", () => {
    const h = new Harness();
    const id = h.push({ timeout: 1500, stallTimeout: 1000, maxAttempts: 1 });
    const job = h.pullOne()!;
    h.at(T0 + 900);
    h.engine.heartbeat(id, job.lockToken);
    expect(h.engine.nextDeadline()).toBe(T0 + 1500);
    h.at(T0 + 1400);
    h.engine.heartbeat(id, job.lockToken);
    h.at(T0 + 1500);
    expect(h.state(id)).toBe("failed");
    expect(h.job(id).x!.error).toContain("timed out");
  });

  test("a lease expiring before the timeout is a stall", () => {
    const h = new Harness();
    const id = h.push({ timeout: 5000, stallTimeout: 1000 });
    h.pullOne();
    h.at(T0 + 1000);
    expect(h.state(id)).toBe("waiting");
    expect(h.job(id).stallCount).toBe(1);
    expect(h.job(id).attempts).toBe(0);
  });

  test("a stalled job is handed at once to a parked puller", () => {
    const h = new Harness();
    const id = h.push({ stallTimeout: 1000 });
    h.pullOne();
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 1, 10_000, (jobs) => (got = jobs.map((j) => j.id)));
    expect(got).toBeNull();
    h.at(T0 + 1000);
    expect(got as unknown).toEqual([id]);
    expect(h.state(id)).toBe("active");
    expect(h.job(id).deadline).toBe(T0 + 2000);
    checkInvariants(h.engine);
  });

  test("many leases expiring in one tick are all re-queued", () => {
    const h = new Harness();
    const ids = Array.from({ length: 100 }, (_, i) => h.push({ stallTimeout: 1000 + (i % 7) }));
    expect(h.pullIds().length).toBe(100);
    h.at(T0 + 2000);
    for (const id of ids) expect(h.state(id)).toBe("waiting");
    expect(h.q().active.size).toBe(0);
    checkInvariants(h.engine);
  });
});
