// The running jobs of a Worker and their leases: which jobs run, when each lease was last
// renewed, and one timer that sends HEARTBEAT for every job whose lease is a third used up.
// Does not run, confirm or pull jobs (worker.ts). A heartbeat refused because the job was
// cancelled on the server or its lease is gone (redelivered, stalled back, removed) tells the
// Worker the job is lost; any other failed heartbeat is reported, not retried.

import type { Connection } from "./connection.ts";
import { heartbeatMsMin, heartbeatsPerLease, leaseMsDefault } from "./constants.ts";
import { RingqError } from "./errors.ts";
import type { Job } from "./job.ts";

/** HEARTBEAT errors that mean the job is no longer this worker's (src/engine: checkToken,
 *  mustBeActive, mustGet). A connection error is not one: the lease may still hold. */
const leaseGoneCodes = new Set(["STALE_LOCK", "INVALID_STATE", "NOT_FOUND"]);

export class RunningJobs<J extends Job> {
  /** Running jobs -> when their lease was last renewed (ms). */
  private readonly renewedAt = new Map<J, number>();
  /** Running jobs whose lease was renewed at least once. */
  private readonly renewedOnce = new Set<J>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private everyMs = 0;

  constructor(
    private readonly conn: Connection,
    private readonly report: (err: Error) => void,
    /** renewEveryMs: the Worker's lockRenewTime (else a third of each job's lease); skip:
     *  skipLockRenewal (no heartbeats at all). */
    private readonly renewal: { renewEveryMs?: number; skip: boolean } = { skip: false },
    /** The job no longer belongs to this worker: cancelled (JOB_CANCELLED) or its lease is gone. */
    private readonly lost: (job: J, why: RingqError) => void = () => {},
  ) {}

  get size(): number {
    return this.renewedAt.size;
  }

  has(job: J): boolean {
    return this.renewedAt.has(job);
  }

  /** A job starts running now (its lease was granted at delivery, about now). */
  add(job: J, now: number): void {
    this.renewedAt.set(job, now);
    if (this.renewal.skip) return;
    // Half the renewal interval, so a renewal is never more than one tick late.
    const every = Math.max(heartbeatMsMin, Math.floor(this.renewEveryMs(job) / 2));
    if (this.timer !== null && every >= this.everyMs) return;
    this.stop();
    this.everyMs = every;
    this.timer = setInterval(() => this.heartbeat(), every);
    // Heartbeats only matter while jobs run, and running jobs keep the process alive themselves.
    (this.timer as { unref?: () => void }).unref?.();
  }

  /**
   * The job stopped running. Returns null if it was not running (handed back by takeAll), else
   * whether its lease was ever renewed (the only kind of job whose lease could have run out).
   */
  remove(job: J): { renewed: boolean } | null {
    if (!this.renewedAt.delete(job)) return null;
    return { renewed: this.renewedOnce.size > 0 && this.renewedOnce.delete(job) };
  }

  /** Every running job, no longer counted as running (close(true) hands them back). */
  takeAll(): J[] {
    const jobs = [...this.renewedAt.keys()];
    this.renewedAt.clear();
    this.renewedOnce.clear();
    return jobs;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.everyMs = 0;
  }

  private renewEveryMs(job: J): number {
    return this.renewal.renewEveryMs ?? (job.leaseMs ?? leaseMsDefault) / heartbeatsPerLease;
  }

  private heartbeat(): void {
    if (this.renewedAt.size === 0) return;
    const now = Date.now();
    for (const [job, last] of this.renewedAt) {
      if (now - last < this.renewEveryMs(job)) continue;
      this.renewedAt.set(job, now);
      this.renewedOnce.add(job);
      const req: Record<string, unknown> = { id: Number(job.id) };
      if (job.lockToken !== undefined) req.lock_token = job.lockToken;
      this.conn.request("HEARTBEAT", req).catch((err) => {
        // Only while the job still runs: a job that finished meanwhile lost nothing.
        if (!this.renewedAt.has(job)) return;
        const code = (err as RingqError).code;
        if (code === "JOB_CANCELLED") {
          this.lost(job, new RingqError(`job ${job.id} was cancelled on the server`, "JOB_CANCELLED", "HEARTBEAT"));
          return;
        }
        const e = new RingqError(`job ${job.id}: lease not renewed: ${(err as Error).message}`, code ?? "HEARTBEAT", "HEARTBEAT");
        this.report(e);
        if (leaseGoneCodes.has(code)) this.lost(job, new RingqError(`job ${job.id}: lease lost: ${(err as Error).message}`, "LEASE_LOST", "HEARTBEAT"));
      });
    }
  }
}
