// The confirmations of a Worker: what its processors finished, sent once per event-loop turn as
// one ACKB for the jobs without a result, an ACK (with the lock token) for each job with one,
// and a FAIL (or, for a discarded job, a DISCARD) for each failure; then BullMQ's per-job
// events once the server has answered. A FAIL carries the error's stack, and `unrecoverable`
// for an UnrecoverableError (no retry). A confirmation refused because the job was cancelled on
// the server (JOB_CANCELLED) is no error: the job is gone, nothing is reported or emitted.
// Does not pull or run jobs (worker.ts).
//
// Why ACKB and ACK both: a job whose processor returned nothing (undefined/null) is confirmed in
// one ACKB with the others of its turn, the cheapest form for the server; a job with a result
// gets its own ACK frame (flashQ's ACKB has no per-id results), but the frames of one turn still
// leave in one write. ACKB carries no lock tokens, so a job that ran long enough to need a
// HEARTBEAT (the only kind whose lease could have expired and been handed to another worker) is
// confirmed by ACK with its token instead: a stale confirmation is then refused rather than
// completing the job twice.

import type { Connection } from "./connection.ts";
import { ackBatchIdsMax, failErrorCharsMax } from "./constants.ts";
import { RingqError, UnrecoverableError } from "./errors.ts";
import type { Job } from "./job.ts";

/** The server's code for a job cancelled while active (CANCEL). */
const cancelledCode = "JOB_CANCELLED";

export interface ConfirmEvents<J> {
  completed(job: J, result: unknown): void;
  failed(job: J, err: Error): void;
  report(err: Error): void;
  /** A confirmation was answered (or failed): the Worker may have become idle. */
  settled(): void;
}

export class Confirmations<J extends Job> {
  private ackNoResult: J[] = [];
  private ackWithResult: { job: J; result: unknown }[] = [];
  private failures: { job: J; err: Error }[] = [];
  /** ACK/ACKB/FAIL/DISCARD requests sent and not yet answered. */
  private outstanding = 0;

  constructor(
    private readonly conn: Connection,
    private readonly on: ConfirmEvents<J>,
  ) {}

  /** Nothing queued and nothing unanswered. */
  get idle(): boolean {
    return this.outstanding === 0 && this.ackNoResult.length === 0 && this.ackWithResult.length === 0 && this.failures.length === 0;
  }

  /** The processor returned `result`; `renewed`: its lease was renewed (ACK with the token). */
  succeeded(job: J, result: unknown, renewed: boolean): void {
    if ((result === undefined || result === null) && !renewed) this.ackNoResult.push(job);
    else this.ackWithResult.push({ job, result });
  }

  threw(job: J, err: Error): void {
    this.failures.push({ job, err });
  }

  /** Send what was queued this turn (the caller flushes the connection once after). */
  send(): void {
    if (this.ackNoResult.length > 0) {
      const jobs = this.ackNoResult;
      this.ackNoResult = [];
      for (let at = 0; at < jobs.length; at += ackBatchIdsMax) this.sendAckBatch(jobs.slice(at, at + ackBatchIdsMax));
    }
    if (this.ackWithResult.length > 0) {
      const done = this.ackWithResult;
      this.ackWithResult = [];
      for (const f of done) this.sendAck(f.job, f.result);
    }
    if (this.failures.length > 0) {
      const failed = this.failures;
      this.failures = [];
      for (const f of failed) this.sendFail(f.job, f.err);
    }
  }

  private sendAckBatch(jobs: J[]): void {
    this.outstanding++;
    const ids = jobs.map((j) => Number(j.id));
    this.conn.request("ACKB", { ids }).then(
      (reply) => {
        // ringq EXT: `failed: [{id, error, code}]` names the ids it could not complete (a lease
        // expired and the job moved on); flashQ only sends the count.
        const failed = new Map<string, { error?: string; code?: string }>();
        for (const f of (reply.failed ?? []) as { id: number; error?: string; code?: string }[]) {
          failed.set(String(f.id), f);
        }
        const count = typeof reply.count === "number" ? reply.count : Array.isArray(reply.ids) ? reply.ids[0] : jobs.length;
        if (failed.size === 0 && count !== jobs.length) {
          for (const job of jobs) {
            this.on.report(new RingqError(`job ${job.id}: ACKB completed ${count} of ${jobs.length} jobs; which ones is unknown`, "ACK", "ACKB"));
          }
        } else {
          for (const job of jobs) {
            const f = failed.get(job.id);
            if (f === undefined) this.completed(job, undefined);
            else if (f.code !== cancelledCode) this.on.report(new RingqError(`job ${job.id}: result not confirmed: ${f.error}`, f.code ?? "ACK", "ACKB"));
          }
        }
        this.answered();
      },
      (err) => {
        for (const job of jobs) this.notConfirmed(job, err);
        this.answered();
      },
    );
  }

  private sendAck(job: J, result: unknown): void {
    this.outstanding++;
    const req: Record<string, unknown> = { id: Number(job.id) };
    if (result !== undefined && result !== null) req.result = result;
    if (job.lockToken !== undefined) req.lock_token = job.lockToken;
    this.conn.request("ACK", req).then(
      () => {
        this.completed(job, result);
        this.answered();
      },
      (err) => {
        this.notConfirmed(job, err);
        this.answered();
      },
    );
  }

  private sendFail(job: J, err: Error): void {
    this.outstanding++;
    const message = (err.message || String(err)).slice(0, failErrorCharsMax);
    // A discarded job (job.discard() in its processor) goes to the DLQ with no further attempt.
    const discard = job.discarded;
    const req: Record<string, unknown> = discard ? { id: Number(job.id) } : { id: Number(job.id), error: message };
    if (!discard) {
      if (job.lockToken !== undefined) req.lock_token = job.lockToken;
      if (typeof err.stack === "string" && err.stack !== "") req.stack = err.stack.slice(0, failErrorCharsMax);
      if (err instanceof UnrecoverableError || err.name === "UnrecoverableError") req.unrecoverable = true;
    }
    this.conn.request(discard ? "DISCARD" : "FAIL", req).then(
      () => {
        job.failedReason = message;
        job.attemptsMade++;
        job.finishedOn = Date.now();
        this.on.failed(job, err);
        this.answered();
      },
      (failErr) => {
        this.notConfirmed(job, failErr);
        this.answered();
      },
    );
  }

  private completed(job: J, result: unknown): void {
    job.returnvalue = result;
    job.finishedOn = Date.now();
    this.on.completed(job, result);
  }

  private notConfirmed(job: J, err: unknown): void {
    const e = err as RingqError;
    if (e.code === cancelledCode) return;
    this.on.report(new RingqError(`job ${job.id}: result not confirmed: ${e.message}`, e.code ?? "ACK", e.command));
  }

  private answered(): void {
    this.outstanding--;
    this.on.settled();
  }
}
