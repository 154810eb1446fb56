// Worker: pulls jobs in batches (PULLB), runs up to `concurrency` at once (their leases are kept
// by worker-leases.ts), and acknowledges in batches, emitting BullMQ's events per job. close()
// finishes the jobs it holds (including any a parked pull still delivers) before it lets go of
// the connection. Does not retry or schedule: a thrown error is a FAIL, the server decides.

import { EventEmitter } from "node:events";
import type { Connection, ConnectionOptions } from "./connection.ts";
import {
  ackBatchIdsMax,
  concurrencyDefault,
  concurrencyMax,
  drainDelaySecondsDefault,
  failErrorCharsMax,
  pullBatchJobsMax,
  pullsInFlightMax,
  pullRetryMsMax,
  pullRetryMsMin,
} from "./constants.ts";
import { ClosedError, RingqError } from "./errors.ts";
import { Job, type WireJob } from "./job.ts";
import { openConnection } from "./queue.ts";
import { RunningJobs } from "./worker-leases.ts";

export type Processor<DataType = any, ResultType = any> = (
  job: Job<DataType, ResultType>,
  token?: string,
) => Promise<ResultType> | ResultType;

export interface WorkerOptions {
  connection?: ConnectionOptions | Connection;
  /** Jobs run at once (default 1). Also the largest batch one PULLB asks for (capped at 1000). */
  concurrency?: number;
  /** Start pulling in the constructor (default true); otherwise call run(). */
  autorun?: boolean;
  /** Seconds an idle worker's pull waits on the server before asking again (default 1). */
  drainDelay?: number;
}

/**
 * Why ACKB and ACK both: a job whose processor returned nothing (undefined/null) is confirmed in
 * one ACKB with the others of its turn, the cheapest form for the server; a job with a result
 * gets its own ACK frame (flashQ's ACKB has no per-id results), carrying its lock token, but the
 * frames of one turn still leave in one write. FAILs are per job (each has its own error text).
 * ACKB carries no lock tokens, so a job that ran long enough to need a HEARTBEAT (the only kind
 * whose lease could have expired and been handed to another worker) is confirmed by ACK with
 * its token instead: a stale confirmation is then refused rather than completing the job twice.
 */
interface Finished {
  job: Job;
  result: unknown;
}

export class Worker<DataType = any, ResultType = any> extends EventEmitter {
  readonly name: string;
  readonly concurrency: number;
  readonly connection: Connection;
  private readonly owned: boolean;
  private readonly processor: Processor<DataType, ResultType>;
  private readonly drainDelayMs: number;

  private started = false;
  private stopping = false;
  private paused = false;
  private closing: Promise<void> | null = null;
  private closedResolve!: () => void;
  private readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  /** Jobs whose processor is running, and their leases (worker-leases.ts). */
  private readonly running: RunningJobs<Job<DataType, ResultType>>;
  /** PULLBs in flight, and the jobs they asked for (counted against concurrency). */
  private pullsInFlight = 0;
  private requested = 0;
  /**
   * Batches delivered and not started yet (counted against concurrency), and their job count.
   * One batch starts per tick, after the previous batch's ACKB and next PULLB were written, so
   * the server works on those while this process runs the batch: both sides busy at once
   * instead of taking turns (a reply often brings two batches in one read).
   */
  private arrived: WireJob[][] = [];
  private arrivedJobs = 0;
  private pullFailures = 0;
  private pullRetryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Last pull found nothing; `drained` fires once per busy -> empty transition. */
  private drained = false;

  private ackNoResult: Job<DataType, ResultType>[] = [];
  private ackWithResult: Finished[] = [];
  private failures: { job: Job<DataType, ResultType>; err: Error }[] = [];
  private tickScheduled = false;
  /** ACK/ACKB/FAIL requests sent and not yet answered. */
  private outstanding = 0;
  private idleWaiters: (() => void)[] = [];

  private readonly progressHook = (job: Job, progress: number) => this.emit("progress", job, progress);

  constructor(name: string, processor: Processor<DataType, ResultType>, opts: WorkerOptions = {}) {
    super();
    if (typeof name !== "string" || name === "") throw new RingqError("Worker: a queue name is required", "INVALID");
    if (typeof processor !== "function") throw new RingqError("Worker: a processor function is required", "INVALID");
    const concurrency = opts.concurrency ?? concurrencyDefault;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > concurrencyMax) {
      throw new RingqError(`Worker: concurrency must be an integer from 1 to ${concurrencyMax}`, "INVALID");
    }
    this.name = name;
    this.concurrency = concurrency;
    this.processor = processor;
    this.drainDelayMs = Math.max(1, Math.round((opts.drainDelay ?? drainDelaySecondsDefault) * 1000));
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    this.running = new RunningJobs(conn, (err) => this.report(err));
    if (opts.autorun !== false) void this.run();
  }

  /** Start pulling (autorun does this); resolves when the worker is closed. */
  run(): Promise<void> {
    if (this.stopping) throw new ClosedError("Worker.run: the worker is closing");
    if (!this.started) {
      this.started = true;
      this.pump();
    }
    return this.closed;
  }

  isRunning(): boolean {
    return this.started && !this.stopping;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Stop taking new jobs; resolves once the running ones are finished and confirmed. */
  async pause(): Promise<void> {
    if (this.paused) return this.whenIdle();
    this.paused = true;
    await this.whenIdle();
    this.emit("paused");
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.emit("resumed");
    this.pump();
  }

  /**
   * Finish the jobs in hand (a parked pull may still deliver some: they run too), send and await
   * their ACK/FAIL, then close the connection. With `force`, do not wait for running processors:
   * their jobs are handed back to the queue at once (MOVETODELAYED with delay 0 and the job's
   * lock token: no attempt is counted) and whatever those processors return later is dropped.
   * Jobs a pull delivers in the instant of closing come back when their leases expire (nothing
   * is lost, but they wait a lease). Resolves once closed.
   */
  close(force = false): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.stopping = true;
    if (this.pullRetryTimer !== null) clearTimeout(this.pullRetryTimer);
    this.pullRetryTimer = null;
    this.closing = (async () => {
      if (force) await this.returnRunning();
      else await this.whenIdle();
      this.running.stop();
      if (this.owned) await this.connection.close();
      this.emit("closed");
      this.closedResolve();
    })();
    return this.closing;
  }

  // ---- pulling ----

  private pump(): void {
    if (!this.started || this.stopping || this.paused || this.pullRetryTimer !== null) return;
    // Up to two PULLBs in flight, each for at most half the slots: while the client runs one
    // batch the server is already preparing the next, so client and server work in parallel
    // instead of taking turns, and the worker never holds more than `concurrency` jobs.
    while (this.pullsInFlight < pullsInFlightMax) {
      const free = this.concurrency - this.running.size - this.requested - this.arrivedJobs;
      if (free <= 0) return;
      const count = Math.min(free, pullBatchJobsMax, Math.ceil(this.concurrency / pullsInFlightMax));
      this.pullsInFlight++;
      this.requested += count;
      // With a backlog the server answers at once; when idle the pull parks for drainDelay.
      // `sparse` (ringq EXT) leaves null and false fields out of each job: about half the bytes
      // to decode; a server without it sends whole jobs, which read the same.
      const timeout = this.drainDelayMs;
      this.connection.request("PULLB", { queue: this.name, count, timeout, sparse: true }, timeout).then(
        (reply) => this.onPulled(count, (reply.jobs ?? []) as WireJob[]),
        (err) => this.onPullFailed(count, err as Error),
      );
    }
  }

  private onPulled(count: number, wires: WireJob[]): void {
    this.pullsInFlight--;
    this.requested -= count;
    this.pullFailures = 0;
    if (wires.length === 0) {
      if (!this.drained && this.running.size === 0 && this.arrivedJobs === 0) {
        this.drained = true;
        this.emit("drained");
      }
    } else {
      this.drained = false;
      this.arrived.push(wires);
      this.arrivedJobs += wires.length;
      this.scheduleTick();
    }
    // Ask for the slots still free right away (the jobs just delivered count as taken): that
    // PULLB reaches the server while this batch runs. Slots these jobs free are pulled for in
    // tick(), together with their ACKs.
    this.pump();
    this.checkIdle();
  }

  /** Start the oldest delivered batch (called by tick, after its writes went out). */
  private startArrived(): void {
    const wires = this.arrived.shift();
    if (wires === undefined) return;
    this.arrivedJobs -= wires.length;
    const now = Date.now();
    for (const wire of wires) this.start(new Job<DataType, ResultType>(this.connection, wire), now);
    // More batches wait: start the next one on the next turn even if nothing finishes meanwhile.
    if (this.arrived.length > 0) this.scheduleTick();
  }

  private onPullFailed(count: number, err: Error): void {
    this.pullsInFlight--;
    this.requested -= count;
    if (this.stopping) {
      this.checkIdle();
      return;
    }
    this.report(err);
    const delayMs = Math.min(pullRetryMsMax, pullRetryMsMin * 2 ** this.pullFailures);
    this.pullFailures++;
    if (this.pullRetryTimer !== null) return; // the other pull already scheduled the retry
    this.pullRetryTimer = setTimeout(() => {
      this.pullRetryTimer = null;
      this.pump();
    }, delayMs);
  }

  // ---- running ----

  private start(job: Job<DataType, ResultType>, now: number): void {
    this.running.add(job, now);
    job.onProgress = this.progressHook;
    if (this.listenerCount("active") > 0) this.emit("active", job, "waiting");
    let ret: Promise<ResultType> | ResultType;
    try {
      ret = this.processor(job, job.lockToken === undefined ? undefined : String(job.lockToken));
    } catch (err) {
      this.finish(job, undefined, err);
      return;
    }
    if (ret !== null && typeof ret === "object" && typeof (ret as Promise<ResultType>).then === "function") {
      (ret as Promise<ResultType>).then(
        (result) => this.finish(job, result, undefined),
        (err) => this.finish(job, undefined, err ?? new Error("job failed")),
      );
    } else this.finish(job, ret as ResultType, undefined);
  }

  private finish(job: Job<DataType, ResultType>, result: unknown, err: unknown): void {
    // Not running any more: close(true) handed it back, its outcome is no longer ours to report.
    const was = this.running.remove(job);
    if (was === null) return;
    job.onProgress = null;
    const renewed = was.renewed;
    if (err !== undefined) {
      this.failures.push({ job, err: err instanceof Error ? err : new Error(String(err)) });
    } else if ((result === undefined || result === null) && !renewed) {
      this.ackNoResult.push(job);
    } else {
      this.ackWithResult.push({ job, result });
    }
    this.scheduleTick();
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => this.tick());
  }

  /** Once per event-loop turn: confirm what finished, pull for the free slots, write once. */
  private tick(): void {
    this.tickScheduled = false;
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
    this.pump();
    // Write the confirmations and pulls now, before the next batch runs in this same turn.
    this.connection.flush();
    this.startArrived();
    this.checkIdle();
  }

  private sendAckBatch(jobs: Job<DataType, ResultType>[]): void {
    this.outstanding++;
    const ids = jobs.map((j) => Number(j.id));
    this.connection.request("ACKB", { ids }).then(
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
            this.report(new RingqError(`job ${job.id}: ACKB completed ${count} of ${jobs.length} jobs; which ones is unknown`, "ACK", "ACKB"));
          }
        } else {
          for (const job of jobs) {
            const f = failed.get(job.id);
            if (f === undefined) this.completed(job, undefined);
            else this.report(new RingqError(`job ${job.id}: result not confirmed: ${f.error}`, f.code ?? "ACK", "ACKB"));
          }
        }
        this.settled();
      },
      (err) => {
        for (const job of jobs) this.report(ackError(job, err));
        this.settled();
      },
    );
  }

  private sendAck(job: Job<DataType, ResultType>, result: unknown): void {
    this.outstanding++;
    const req: Record<string, unknown> = { id: Number(job.id) };
    if (result !== undefined && result !== null) req.result = result;
    if (job.lockToken !== undefined) req.lock_token = job.lockToken;
    this.connection.request("ACK", req).then(
      () => {
        this.completed(job, result);
        this.settled();
      },
      (err) => {
        this.report(ackError(job, err));
        this.settled();
      },
    );
  }

  private sendFail(job: Job<DataType, ResultType>, err: Error): void {
    this.outstanding++;
    const message = (err.message || String(err)).slice(0, failErrorCharsMax);
    const req: Record<string, unknown> = { id: Number(job.id), error: message };
    if (job.lockToken !== undefined) req.lock_token = job.lockToken;
    this.connection.request("FAIL", req).then(
      () => {
        job.failedReason = message;
        job.attemptsMade++;
        job.finishedOn = Date.now();
        this.emit("failed", job, err, "active");
        this.settled();
      },
      (failErr) => {
        this.report(ackError(job, failErr));
        this.settled();
      },
    );
  }

  private completed(job: Job<DataType, ResultType>, result: unknown): void {
    job.returnvalue = result as ResultType;
    job.finishedOn = Date.now();
    this.emit("completed", job, result, "active");
  }

  private settled(): void {
    this.outstanding--;
    this.checkIdle();
  }

  /** close(true): give every running job back to the queue without counting an attempt. */
  private async returnRunning(): Promise<void> {
    const jobs = this.running.takeAll();
    // Delivered but never started: hand those back too.
    for (const wires of this.arrived) for (const wire of wires) jobs.push(new Job<DataType, ResultType>(this.connection, wire));
    this.arrived = [];
    this.arrivedJobs = 0;
    await Promise.all(
      jobs.map((job) => {
        job.onProgress = null;
        const req: Record<string, unknown> = { id: Number(job.id), delay: 0 };
        if (job.lockToken !== undefined) req.lock_token = job.lockToken;
        return this.connection.request("MOVETODELAYED", req).then(
          () => undefined,
          (err) => this.report(new RingqError(`job ${job.id}: not handed back on close (its lease will return it): ${(err as Error).message}`, (err as RingqError).code ?? "CLOSE", "MOVETODELAYED")),
        );
      }),
    );
  }

  // ---- idle and errors ----

  /** Resolves when nothing runs, nothing is being pulled and every ACK/FAIL was answered. */
  private whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return (
      this.running.size === 0 &&
      this.arrivedJobs === 0 &&
      this.pullsInFlight === 0 &&
      this.outstanding === 0 &&
      !this.tickScheduled &&
      this.ackNoResult.length === 0 &&
      this.ackWithResult.length === 0 &&
      this.failures.length === 0
    );
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private report(err: Error): void {
    // After close(true) the connection is gone on purpose: the leases will return those jobs.
    if (this.stopping && (err as RingqError).code === "CLOSED") return;
    if (this.listenerCount("error") > 0) this.emit("error", err);
    // An unhandled 'error' event would kill the process; a worker should outlive an outage.
    else console.error(`ringq worker "${this.name}": ${err.message}`);
  }
}

function ackError(job: Job, err: unknown): RingqError {
  const e = err as RingqError;
  return new RingqError(`job ${job.id}: result not confirmed: ${e.message}`, e.code ?? "ACK", e.command);
}
