// Job: a snapshot of one job as the server last described it, plus the BullMQ-shaped methods
// that act on it (progress, log, state, waitUntilFinished, remove, ...). Holds no timers and
// never refreshes itself: fields change only through its own calls or the Worker running it.

import type { Connection, Reply } from "./connection.ts";
import { waitJobMsMax } from "./constants.ts";
import { CommandError, JobFailedError, RingqError, TimeoutError } from "./errors.ts";
import type { JobsOptions } from "./options.ts";

/** Job states of PROTOCOL.md (a closed set). */
export type JobState =
  | "waiting"
  | "delayed"
  | "active"
  | "completed"
  | "failed"
  | "waitingchildren"
  | "waitingparent"
  | "unknown";

/** The job object of PROTOCOL.md, as decoded (snake_case, absent optionals null). */
export interface WireJob {
  id: number;
  queue: string;
  data: unknown;
  name?: string | null;
  priority?: number;
  created_at?: number;
  run_at?: number;
  started_at?: number | null;
  completed_at?: number | null;
  attempts?: number;
  max_attempts?: number;
  backoff?: number | { type: string; delay: number } | null;
  ttl?: number | null;
  timeout?: number | null;
  progress?: number | null;
  progress_msg?: string | null;
  stall_timeout?: number | null;
  custom_id?: string | null;
  lifo?: boolean;
  tags?: string[] | null;
  lock_token?: number | string | null;
  result?: unknown;
  error?: string | null;
  state?: string;
  [field: string]: unknown;
}

/** LOG is a later addition to the server: remember per connection that it is missing. */
const logUnsupported = new WeakSet<Connection>();

export class Job<DataType = any, ResultType = any> {
  /** Server id, as a string like BullMQ's (the wire uses the integer). */
  readonly id: string;
  name: string;
  data: DataType;
  readonly queueName: string;
  /** Options the job was added with (from the server's record, computed on first use). */
  get opts(): JobsOptions {
    if (this.optsCached === undefined) this.optsCached = optsFromWire(this.wire!);
    return this.optsCached;
  }
  set opts(value: JobsOptions) {
    this.optsCached = value;
  }
  private optsCached: JobsOptions | undefined;
  /** The wire record, kept until opts are first read (a Worker's jobs mostly never read them). */
  private wire: WireJob | undefined;
  /** Failed attempts so far. */
  attemptsMade: number;
  progress: number;
  returnvalue: ResultType | undefined = undefined;
  failedReason: string | undefined = undefined;
  /** Creation time, ms since the epoch. */
  timestamp: number;
  processedOn: number | undefined;
  finishedOn: number | undefined;
  /** Custom id given as `jobId` when added, if any. */
  customId: string | undefined;
  /** Token of the current delivery (set when a Worker pulled the job). */
  lockToken: number | string | undefined;
  /** Lease of a pulled job, ms: the Worker heartbeats within it. */
  readonly leaseMs: number | undefined;
  /** Last known state, when the server said (GETJOB, getJobs). */
  state: JobState | undefined;

  /** @internal the Worker listens to progress of jobs it runs. */
  onProgress: ((job: Job<DataType, ResultType>, progress: number) => void) | null = null;

  constructor(
    private readonly conn: Connection,
    wire: WireJob,
    opts?: JobsOptions,
  ) {
    this.id = String(wire.id);
    this.queueName = wire.queue;
    this.name = typeof wire.name === "string" ? wire.name : "";
    this.data = wire.data as DataType;
    this.attemptsMade = wire.attempts ?? 0;
    this.progress = wire.progress ?? 0;
    this.timestamp = wire.created_at ?? Date.now();
    this.processedOn = wire.started_at ?? undefined;
    this.finishedOn = wire.completed_at ?? undefined;
    this.customId = wire.custom_id ?? undefined;
    this.lockToken = wire.lock_token ?? undefined;
    this.leaseMs = wire.stall_timeout ?? undefined;
    this.state = typeof wire.state === "string" ? (wire.state as JobState) : undefined;
    if (wire.result !== undefined) this.returnvalue = wire.result as ResultType;
    if (typeof wire.error === "string") this.failedReason = wire.error;
    if (opts !== undefined) this.optsCached = opts;
    else this.wire = wire;
  }

  private get wireId(): number {
    return Number(this.id);
  }

  /** Report progress 0-100 (PROGRESS); `message` is the optional flashQ progress text. */
  async updateProgress(progress: number, message?: string): Promise<void> {
    if (typeof progress !== "number" || !Number.isFinite(progress)) {
      throw new RingqError("updateProgress: progress must be a number from 0 to 100", "INVALID", "PROGRESS");
    }
    const req: Record<string, unknown> = { id: this.wireId, progress };
    if (message !== undefined) req.message = message;
    await this.conn.request("PROGRESS", req);
    this.progress = progress;
    this.onProgress?.(this, progress);
  }

  /**
   * Append a log line (LOG). Resolves to 1 when stored and 0 when the server has no LOG command
   * (older ringq/flashQ builds): a missing log must not fail the job that writes it.
   */
  async log(message: string, level = "info"): Promise<number> {
    if (logUnsupported.has(this.conn)) return 0;
    try {
      await this.conn.request("LOG", { id: this.wireId, message, level });
      return 1;
    } catch (err) {
      if (err instanceof CommandError && err.code === "UNKNOWN_COMMAND") {
        logUnsupported.add(this.conn);
        return 0;
      }
      throw err;
    }
  }

  /** Log lines of the job (GETLOGS); [] when the server has no such command. */
  async getLogs(): Promise<{ timestamp: number; message: string; level: string }[]> {
    try {
      const reply = await this.conn.request("GETLOGS", { id: this.wireId });
      return (reply.logs as { timestamp: number; message: string; level: string }[]) ?? [];
    } catch (err) {
      if (err instanceof CommandError && err.code === "UNKNOWN_COMMAND") return [];
      throw err;
    }
  }

  async getState(): Promise<JobState> {
    const reply = await this.conn.request("GETSTATE", { id: this.wireId });
    this.state = (reply.state as JobState) ?? "unknown";
    return this.state;
  }

  async isCompleted(): Promise<boolean> {
    return (await this.getState()) === "completed";
  }
  async isFailed(): Promise<boolean> {
    return (await this.getState()) === "failed";
  }
  async isActive(): Promise<boolean> {
    return (await this.getState()) === "active";
  }
  async isWaiting(): Promise<boolean> {
    return (await this.getState()) === "waiting";
  }
  async isDelayed(): Promise<boolean> {
    return (await this.getState()) === "delayed";
  }

  /**
   * Resolve with the job's result once it completes; reject with JobFailedError if it fails,
   * TimeoutError after `ttl` ms. Uses WAITJOB, so `queueEvents` (BullMQ's first argument) is
   * accepted for compatibility and not needed.
   */
  async waitUntilFinished(_queueEvents?: unknown, ttl?: number): Promise<ResultType> {
    const deadline = ttl === undefined ? Infinity : Date.now() + ttl;
    for (;;) {
      const waitMs = Math.max(1, Math.min(waitJobMsMax, deadline - Date.now()));
      let reply: Reply;
      try {
        reply = await this.conn.request("WAITJOB", { id: this.wireId, timeout: waitMs }, waitMs);
      } catch (err) {
        if (err instanceof CommandError && (err.code === "JOB_FAILED" || /job failed/i.test(err.message))) {
          const reason = err.message.replace(/^WAITJOB: /, "");
          this.failedReason = reason;
          throw new JobFailedError(reason, this.id);
        }
        const timedOut = err instanceof CommandError && (err.code === "TIMEOUT" || /timeout|timed out/i.test(err.message));
        if (timedOut && Date.now() < deadline) continue;
        if (timedOut) {
          throw new TimeoutError(`waitUntilFinished: job ${this.id} did not finish within ${ttl} ms`, "WAITJOB");
        }
        throw err;
      }
      this.returnvalue = reply.result as ResultType;
      return this.returnvalue;
    }
  }

  /** Remove the job (CANCEL). */
  async remove(): Promise<void> {
    await this.conn.request("CANCEL", { id: this.wireId });
  }

  /** Delayed -> waiting now (PROMOTE). */
  async promote(): Promise<void> {
    await this.conn.request("PROMOTE", { id: this.wireId });
  }

  async changePriority(opts: { priority: number }): Promise<void> {
    await this.conn.request("CHANGEPRIORITY", { id: this.wireId, priority: opts.priority });
    this.opts.priority = opts.priority;
  }

  async updateData(data: DataType): Promise<void> {
    await this.conn.request("UPDATEJOB", { id: this.wireId, data });
    this.data = data;
  }

  toJSON(): Record<string, unknown> {
    const { conn: _c, onProgress: _p, wire: _w, optsCached: _o, ...rest } = this as unknown as Record<string, unknown>;
    return { ...rest, opts: this.opts };
  }
}

function optsFromWire(wire: WireJob): JobsOptions {
  const opts: JobsOptions = {};
  if (wire.max_attempts != null) opts.attempts = wire.max_attempts;
  if (wire.priority != null && wire.priority !== 0) opts.priority = wire.priority;
  if (wire.backoff != null && wire.backoff !== 0) {
    opts.backoff = wire.backoff as JobsOptions["backoff"];
  }
  if (wire.custom_id != null) opts.jobId = wire.custom_id;
  if (wire.lifo === true) opts.lifo = true;
  if (wire.timeout != null && wire.timeout !== 0) opts.timeout = wire.timeout;
  if (wire.ttl != null && wire.ttl !== 0) opts.ttl = wire.ttl;
  if (wire.stall_timeout != null) opts.stallTimeout = wire.stall_timeout;
  return opts;
}
