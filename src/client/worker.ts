// Worker: pulls jobs in batches (PULLB) and runs up to `concurrency` at once; their leases are
// kept by worker-leases.ts and their confirmations sent by worker-confirm.ts, which emit BullMQ's
// per-job events. close() finishes the jobs it holds (including any a parked pull still
// delivers) before it lets go of the connection. Does not retry or schedule: a thrown error is a
// FAIL, the server decides. BullMQ options, methods and events it lacks are refused by name.

import type { Connection, ConnectionOptions } from "./connection.ts";
import {
  concurrencyDefault,
  concurrencyMax,
  drainDelaySecondsDefault,
  pullBatchJobsMax,
  pullsInFlightMax,
  pullRetryMsMax,
  pullRetryMsMin,
} from "./constants.ts";
import { ClosedError, DelayedError, RingqError, WaitingError } from "./errors.ts";
import { Job, type WireJob } from "./job.ts";
import { openConnection } from "./queue.ts";
import { CheckedEmitter, checkOptions, installMethodRefusals, workerEventRefusals, workerMethodRefusals, workerOptionRefusals } from "./refusals.ts";
import { Confirmations } from "./worker-confirm.ts";
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
  /** Ms between lease renewals (HEARTBEAT) of a running job; default a third of its lease. */
  lockRenewTime?: number;
  /** Never renew leases: a job running past its stallTimeout is then redelivered. */
  skipLockRenewal?: boolean;
  /** Accepted for BullMQ code: ringq makes no server version check. */
  skipVersionCheck?: boolean;
}

const workerOptionNames = ["connection", "concurrency", "autorun", "drainDelay", "lockRenewTime", "skipLockRenewal", "skipVersionCheck"];
const workerEvents = ["active", "closed", "closing", "completed", "drained", "error", "failed", "paused", "progress", "ready", "resumed"];

export class Worker<DataType = any, ResultType = any> extends CheckedEmitter {
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
  /** Finished jobs on their way to the server (worker-confirm.ts). */
  private readonly confirmations: Confirmations<Job<DataType, ResultType>>;
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
  private tickScheduled = false;
  private idleWaiters: (() => void)[] = [];

  private readonly progressHook = (job: Job, progress: number) => this.emit("progress", job, progress);
  private readonly onReady = () => this.emit("ready");

  constructor(name: string, processor: Processor<DataType, ResultType>, opts: WorkerOptions = {}) {
    super("Worker", workerEvents, workerEventRefusals);
    if (typeof name !== "string" || name === "") throw new RingqError("Worker: a queue name is required", "INVALID");
    if (typeof processor === "string" || processor instanceof URL) {
      throw new RingqError("Worker: a processor file (sandboxed processor) is not supported; pass a function", "NOT_SUPPORTED");
    }
    if (typeof processor !== "function") throw new RingqError("Worker: a processor function is required (manual processing is not supported)", "INVALID");
    checkOptions("Worker", opts, workerOptionNames, workerOptionRefusals);
    const concurrency = opts.concurrency ?? concurrencyDefault;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > concurrencyMax) {
      throw new RingqError(`Worker: concurrency must be an integer from 1 to ${concurrencyMax}`, "INVALID");
    }
    if (opts.lockRenewTime !== undefined && !(opts.lockRenewTime > 0)) throw new RingqError("Worker: lockRenewTime must be a number of ms above 0", "INVALID");
    this.name = name;
    this.concurrency = concurrency;
    this.processor = processor;
    this.drainDelayMs = Math.max(1, Math.round((opts.drainDelay ?? drainDelaySecondsDefault) * 1000));
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    this.running = new RunningJobs(conn, (err) => this.report(err), { renewEveryMs: opts.lockRenewTime, skip: opts.skipLockRenewal === true });
    this.confirmations = new Confirmations<Job<DataType, ResultType>>(conn, {
      completed: (job, result) => this.emit("completed", job, result, "active"),
      failed: (job, err) => this.emit("failed", job, err, "active"),
      report: (err) => this.report(err),
      settled: () => this.checkIdle(),
    });
    conn.on("ready", this.onReady);
    if (opts.autorun !== false) void this.run();
  }

  /** Start pulling (autorun does this); resolves when the worker is closed. */
  run(): Promise<void> {
    if (this.stopping) throw new ClosedError("Worker.run: the worker is closing");
    if (!this.started) {
      this.started = true;
      // A shared connection that is already up will not say `ready` again.
      if (this.connection.isReady) setImmediate(this.onReady);
      this.pump();
    }
    return this.closed;
  }

  /** Resolves once the server answered a PING. */
  async waitUntilReady(): Promise<void> {
    await this.connection.waitUntilReady();
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
    this.emit("closing", "closing worker");
    if (this.pullRetryTimer !== null) clearTimeout(this.pullRetryTimer);
    this.pullRetryTimer = null;
    this.closing = (async () => {
      if (force) await this.returnRunning();
      else await this.whenIdle();
      this.running.stop();
      this.connection.off("ready", this.onReady);
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
    for (const wire of wires) this.start(Job.fromWire<DataType, ResultType>(this.connection, wire), now);
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
    job.held = true;
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
    job.held = false;
    // The processor moved the job itself (moveToDelayed + DelayedError, moveToFailed, ...).
    const moved = job.movedByProcessor || err instanceof DelayedError || err instanceof WaitingError;
    if (moved) {
      // Nothing to confirm; the tick pulls for the freed slot.
    } else if (err !== undefined) this.confirmations.threw(job, err instanceof Error ? err : new Error(String(err)));
    else this.confirmations.succeeded(job, result, was.renewed);
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
    this.confirmations.send();
    this.pump();
    // Write the confirmations and pulls now, before the next batch runs in this same turn.
    this.connection.flush();
    this.startArrived();
    this.checkIdle();
  }

  /** close(true): give every running job back to the queue without counting an attempt. */
  private async returnRunning(): Promise<void> {
    const jobs = this.running.takeAll();
    // Delivered but never started: hand those back too.
    for (const wires of this.arrived) for (const wire of wires) jobs.push(Job.fromWire<DataType, ResultType>(this.connection, wire));
    this.arrived = [];
    this.arrivedJobs = 0;
    await Promise.all(
      jobs.map((job) => {
        job.onProgress = null;
        job.held = false;
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
    return this.running.size === 0 && this.arrivedJobs === 0 && this.pullsInFlight === 0 && !this.tickScheduled && this.confirmations.idle;
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
installMethodRefusals(Worker.prototype, "Worker", workerMethodRefusals);
