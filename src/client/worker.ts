// Worker: pulls jobs in batches (PULLB) and runs up to `concurrency` at once; their leases are
// kept by worker-leases.ts and their confirmations sent by worker-confirm.ts, which emit BullMQ's
// per-job events. close() finishes the jobs it holds (including any a parked pull still
// delivers) before it lets go of the connection. Does not retry or schedule: a thrown error is a
// FAIL, the server decides. A processor that takes a third parameter gets an AbortSignal, fired
// when the job is cancelled (on the server, or by cancelJob), its lease is lost, or the worker
// is force-closed. `limiter` sets the queue's rate limit (limits.ts); rateLimit(ms) holds this
// worker. BullMQ options, methods and events it lacks are refused by name.

import type { Connection, ConnectionOptions } from "./connection.ts";
import {
  concurrencyDefault,
  concurrencyMax,
  drainDelaySecondsDefault,
  pullBatchJobsMax,
  pullsInFlightMax,
  pullRetryMsMax,
  pullRetryMsMin,
  workerHoldMsMax,
} from "./constants.ts";
import { ClosedError, DelayedError, RateLimitError, RingqError, WaitingError } from "./errors.ts";
import { Job, type WireJob } from "./job.ts";
import { queueSettings, rateLimitRequest } from "./limits.ts";
import { openConnection } from "./queue.ts";
import { CheckedEmitter, checkOptions, installMethodRefusals, workerEventRefusals, workerMethodRefusals, workerOptionRefusals } from "./refusals.ts";
import { Confirmations } from "./worker-confirm.ts";
import { RunningJobs } from "./worker-leases.ts";

export type Processor<DataType = any, ResultType = any> = (
  job: Job<DataType, ResultType>,
  token?: string,
  /** Made when the processor declares a third parameter, or with the Worker option `signal`. */
  signal?: AbortSignal,
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
  /**
   * BullMQ's limiter: at most `max` jobs per `duration` ms across the queue's workers. Set on the
   * queue (RATELIMIT `limit` max per `per_ms` duration, a burst of `max`) when the queue has no
   * rate limit; one already set (setGlobalRateLimit, another worker) wins, as BullMQ's global
   * limit does.
   */
  limiter?: { max: number; duration: number };
  /**
   * Give the processor an AbortSignal (its third argument). Default: when the processor declares
   * three parameters (processor.length >= 3); a processor that reads it otherwise (rest
   * parameters, a wrapper) says `signal: true`. Off, no AbortController is made per job.
   */
  signal?: boolean;
  /** BullMQ's maxStalledCount: only 2, what the server does (a job's third stall fails it). */
  maxStalledCount?: number;
}

const workerOptionNames = [
  "connection", "concurrency", "autorun", "drainDelay", "lockRenewTime", "skipLockRenewal", "skipVersionCheck", "limiter", "signal", "maxStalledCount",
];
/** Stalls the server recovers a job from before the next one fails it (src/engine stallsMax - 1). */
const serverStallsRecovered = 2;
/** Cancelled on the server: a `cancelled` event for a running job (SUBSCRIBE, owned connection;
 *  `removed` from a server that has no `cancelled` event). */
interface CancelEvent {
  event: string;
  queue: string;
  id: number;
}
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

  /** Running jobs by id and their AbortControllers; null when the processor takes no signal. */
  private readonly signals: Map<string, { job: Job<DataType, ResultType>; controller: AbortController }> | null;
  /** Running jobs no longer this worker's (cancelled on the server, lease lost): what their
   *  processors return is not confirmed. */
  private readonly lost = new Set<Job<DataType, ResultType>>();
  /** The RATELIMIT request of the `limiter` option; null without one. */
  private readonly limiterRequest: Record<string, unknown> | null;
  /** The limiter was checked (and set if the queue had none) on this connection. */
  private limiterApplied = false;
  private limiterApplying = false;
  /** rateLimit(ms): nothing is pulled or started before this time (ms); 0: no hold. */
  private holdUntil = 0;
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  /** MOVETODELAYED requests handing jobs back (rate limit hold) not yet answered. */
  private handingBack = 0;

  private readonly progressHook = (job: Job, progress: number) => this.emit("progress", job, progress);
  private readonly onReady = () => {
    // A new connection (first or after a reconnect): the queue may have lost the limit (a server
    // without persistence restarted) and this connection has no event subscription.
    this.limiterApplied = false;
    if (this.signals !== null && this.owned) {
      // `cancelled` only: `removed` also comes for every record retention drops (one event per
      // job on a removeOnComplete queue). A server that does not know `cancelled` refuses it:
      // then `removed`. Without SUBSCRIBE, cancellations are still learned from HEARTBEAT and ACK.
      const subscribe = (event: string) => this.connection.request("SUBSCRIBE", { queue: this.name, events: [event] });
      subscribe("cancelled")
        .catch((err) => ((err as RingqError).code === "INVALID" ? subscribe("removed") : Promise.reject(err)))
        .catch((err) => {
          if ((err as RingqError).code !== "UNKNOWN_COMMAND") this.report(err as Error);
        });
    }
    this.emit("ready");
    this.pump();
  };
  private readonly onEvent = (m: CancelEvent) => {
    if ((m.event !== "cancelled" && m.event !== "removed") || m.queue !== this.name) return;
    const s = this.signals!.get(String(m.id));
    if (s !== undefined) this.onLost(s.job, new RingqError(`job ${m.id} was cancelled on the server`, "JOB_CANCELLED"));
  };

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
    if (opts.maxStalledCount !== undefined && opts.maxStalledCount !== serverStallsRecovered) {
      throw new RingqError(
        `Worker: option "maxStalledCount": the server recovers a job from ${serverStallsRecovered} stalls and fails it at the next (maxStalledCount ${serverStallsRecovered}); not configurable`,
        "INVALID",
      );
    }
    if (opts.signal !== undefined && typeof opts.signal !== "boolean") throw new RingqError("Worker: signal must be true or false", "INVALID");
    this.limiterRequest = opts.limiter === undefined ? null : limiterToRequest(name, opts.limiter);
    this.name = name;
    this.concurrency = concurrency;
    this.processor = processor;
    this.drainDelayMs = Math.max(1, Math.round((opts.drainDelay ?? drainDelaySecondsDefault) * 1000));
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    this.signals = opts.signal ?? processor.length >= 3 ? new Map() : null;
    this.running = new RunningJobs(
      conn,
      (err) => this.report(err),
      { renewEveryMs: opts.lockRenewTime, skip: opts.skipLockRenewal === true },
      (job, why) => this.onLost(job, why),
    );
    this.confirmations = new Confirmations<Job<DataType, ResultType>>(conn, {
      completed: (job, result) => this.emit("completed", job, result, "active"),
      failed: (job, err) => this.emit("failed", job, err, "active"),
      report: (err) => this.report(err),
      settled: () => this.checkIdle(),
    });
    conn.on("ready", this.onReady);
    if (this.signals !== null && owned) conn.on("event", this.onEvent);
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
   * Abort the signal of a job this worker runs (BullMQ's cancelJob); true if it was running and
   * not aborted yet. The processor decides what follows: what it throws fails the attempt as
   * usual (an UnrecoverableError with no retry), what it returns completes the job.
   */
  cancelJob(jobId: string, reason?: string): boolean {
    const s = this.signalsFor("cancelJob").get(String(jobId));
    if (s === undefined || s.controller.signal.aborted) return false;
    s.controller.abort(reason);
    return true;
  }

  /** cancelJob for every job this worker runs. */
  cancelAllJobs(reason?: string): void {
    for (const s of this.signalsFor("cancelAllJobs").values()) if (!s.controller.signal.aborted) s.controller.abort(reason);
  }

  /**
   * Hold this worker for `ms`: no pulls and no new jobs until then; jobs a pull already in flight
   * delivers go back to the queue to run after the hold. BullMQ holds the whole queue; ringq's
   * server cannot hold a queue for a time, so this holds this worker only (the queue's own limit
   * is setGlobalRateLimit). Throw Worker.RateLimitError() from the processor to hand its job
   * back too (no attempt counted).
   */
  async rateLimit(ms: number): Promise<void> {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > workerHoldMsMax) {
      throw new RingqError(`Worker.rateLimit: ms must be a number from 0 to ${workerHoldMsMax}`, "INVALID");
    }
    if (ms === 0) return;
    const until = Date.now() + ms;
    if (until <= this.holdUntil) return;
    this.holdUntil = until;
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.holdUntil = 0;
      this.pump();
    }, ms);
  }

  /** BullMQ's Worker.RateLimitError(): throw it after rateLimit(ms) to hand the job back. */
  static RateLimitError(): RateLimitError {
    return new RateLimitError();
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
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    this.closing = (async () => {
      if (force) await this.returnRunning();
      else await this.whenIdle();
      this.running.stop();
      this.connection.off("ready", this.onReady);
      this.connection.off("event", this.onEvent);
      if (this.owned) await this.connection.close();
      this.emit("closed");
      this.closedResolve();
    })();
    return this.closing;
  }

  // ---- pulling ----

  private pump(): void {
    if (!this.started || this.stopping || this.paused || this.pullRetryTimer !== null) return;
    if (this.holdUntil !== 0) return; // rateLimit: the hold's timer pumps when it ends
    if (this.limiterRequest !== null && !this.limiterApplied) return this.applyLimiter();
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
    if (this.holdUntil > now) {
      // Pulled before rateLimit() held the worker: back to the queue, to run after the hold.
      for (const wire of wires) this.handBack(Job.fromWire<DataType, ResultType>(this.connection, wire), this.holdUntil - now);
      if (this.arrived.length > 0) this.scheduleTick();
      return;
    }
    for (const wire of wires) this.start(Job.fromWire<DataType, ResultType>(this.connection, wire), now);
    // More batches wait: start the next one on the next turn even if nothing finishes meanwhile.
    if (this.arrived.length > 0) this.scheduleTick();
  }

  private onPullFailed(count: number, err: Error, wasPull = true): void {
    if (wasPull) this.pullsInFlight--;
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
    let signal: AbortSignal | undefined;
    if (this.signals !== null) {
      const controller = new AbortController();
      this.signals.set(job.id, { job, controller });
      signal = controller.signal;
    }
    let ret: Promise<ResultType> | ResultType;
    try {
      ret = this.processor(job, job.lockToken === undefined ? undefined : String(job.lockToken), signal);
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
    // Only this run's entry: after a lost lease the job may run here again under the same id.
    if (this.signals !== null && this.signals.get(job.id)?.job === job) this.signals.delete(job.id);
    // The processor moved the job itself (moveToDelayed + DelayedError, moveToFailed, ...).
    const moved = job.movedByProcessor || err instanceof DelayedError || err instanceof WaitingError;
    if (this.lost.size > 0 && this.lost.delete(job)) {
      // Cancelled on the server or its lease is gone: nothing of ours to confirm.
    } else if (moved) {
      // Nothing to confirm; the tick pulls for the freed slot.
    } else if (err !== undefined) {
      if (err instanceof RateLimitError) this.handBack(job, Math.max(0, this.holdUntil - Date.now()));
      else this.confirmations.threw(job, err instanceof Error ? err : new Error(String(err)));
    } else this.confirmations.succeeded(job, result, was.renewed);
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

  /** The job is no longer this worker's: its signal fires; its outcome will not be confirmed. */
  private onLost(job: Job<DataType, ResultType>, why: RingqError): void {
    if (!this.running.has(job) || this.lost.has(job)) return;
    this.lost.add(job);
    const s = this.signals?.get(job.id);
    if (s !== undefined && !s.controller.signal.aborted) s.controller.abort(why);
  }

  private signalsFor(method: string): NonNullable<typeof this.signals> {
    if (this.signals === null) {
      throw new RingqError(`Worker.${method}: this worker's processor takes no AbortSignal (it declares fewer than 3 parameters); pass the Worker option signal: true`, "INVALID");
    }
    return this.signals;
  }

  /** The `limiter` option: set the queue's rate limit unless it has one (which then wins). */
  private applyLimiter(): void {
    if (this.limiterApplying) return;
    this.limiterApplying = true;
    const req = this.limiterRequest!;
    queueSettings(this.connection, this.name)
      .then((row) => (row !== null && row.rate_limit !== null ? undefined : this.connection.request("RATELIMIT", req)))
      .then(
        () => {
          this.limiterApplying = false;
          this.limiterApplied = true;
          this.pump();
        },
        (err) => {
          this.limiterApplying = false;
          // No pulls without the limit the user asked for: report and try again with back-off.
          this.onPullFailed(0, new RingqError(`Worker: limiter not set: ${(err as Error).message}`, (err as RingqError).code ?? "RATELIMIT", "RATELIMIT"), false);
        },
      );
  }

  /** Give a job back to the queue, to run in `delayMs` (MOVETODELAYED: no attempt counted). */
  private handBack(job: Job<DataType, ResultType>, delayMs: number): void {
    this.handingBack++;
    const req: Record<string, unknown> = { id: Number(job.id), delay: Math.ceil(delayMs) };
    if (job.lockToken !== undefined) req.lock_token = job.lockToken;
    this.connection.request("MOVETODELAYED", req).then(
      () => this.handedBack(),
      (err) => {
        this.report(new RingqError(`job ${job.id}: not handed back (its lease will return it): ${(err as Error).message}`, (err as RingqError).code ?? "MOVETODELAYED", "MOVETODELAYED"));
        this.handedBack();
      },
    );
  }

  private handedBack(): void {
    this.handingBack--;
    this.checkIdle();
  }

  /** close(true): give every running job back to the queue without counting an attempt. */
  private async returnRunning(): Promise<void> {
    const jobs = this.running.takeAll();
    if (this.signals !== null) {
      const why = new ClosedError("the worker was force-closed: the job goes back to the queue");
      for (const s of this.signals.values()) if (!s.controller.signal.aborted) s.controller.abort(why);
      this.signals.clear();
    }
    this.lost.clear();
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
    return (
      this.running.size === 0 && this.arrivedJobs === 0 && this.pullsInFlight === 0 && !this.tickScheduled && this.confirmations.idle &&
      this.handingBack === 0 && !this.limiterApplying
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
installMethodRefusals(Worker.prototype, "Worker", workerMethodRefusals);

/** The `limiter` option, checked, as its RATELIMIT request. */
function limiterToRequest(queue: string, limiter: unknown): Record<string, unknown> {
  if (limiter === null || typeof limiter !== "object") throw new RingqError("Worker: limiter must be {max, duration}", "INVALID");
  for (const key of Object.keys(limiter)) {
    if (key === "max" || key === "duration") continue;
    const why = key === "groupKey" ? "per-group rate limits are not supported (the rate limit is the queue's)" : "unknown (supported: max, duration)";
    throw new RingqError(`Worker: limiter.${key}: ${why}`, "INVALID");
  }
  const l = limiter as { max: unknown; duration: unknown };
  return rateLimitRequest("Worker: limiter", queue, l.max, l.duration);
}
