// Job: a snapshot of one job as the server last described it, plus the BullMQ-shaped methods
// that act on it (progress, log, state, waitUntilFinished, remove, retry, moves, ...). Holds no
// timers and never refreshes itself: fields change only through its own calls or the Worker
// running it. BullMQ Job methods it does not have are refused by name (refusals.ts).

import type { Connection, Reply } from "./connection.ts";
import { waitJobMsMax } from "./constants.ts";
import { CommandError, JobFailedError, RingqError, TimeoutError } from "./errors.ts";
import { fromWirePriority, toWirePriority, type JobsOptions } from "./options.ts";
import { childrenValues, dependencies, dependenciesCount, type Dependencies, dependencyKinds, failedChildrenValues, readChildren } from "./job-flow.ts";
import { installMethodRefusals, jobMethodRefusals } from "./refusals.ts";

/** BullMQ's job states (the server's waitingchildren/waitingparent are "waiting-children";
 *  a waiting job with a priority is "prioritized", as in BullMQ). */
export type JobState = "waiting" | "prioritized" | "delayed" | "active" | "completed" | "failed" | "waiting-children" | "unknown";

/** A state as the server names it -> BullMQ's name, given the job's BullMQ priority. */
export function bullmqState(wire: unknown, priority: number): JobState {
  switch (wire) {
    case "waiting":
      return priority > 0 ? "prioritized" : "waiting";
    case "delayed":
    case "active":
    case "completed":
    case "failed":
      return wire;
    case "waitingchildren":
    case "waitingparent":
      return "waiting-children";
    default:
      return "unknown";
  }
}

/** The job object of docs/protocol.md, as decoded (snake_case, absent optionals null). */
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
  /** BullMQ's priority: 0 for none, else 1 (first) to 2,097,151. */
  priority: number;
  /** Creation time, ms since the epoch. */
  timestamp: number;
  /** Options the job was added with (from the server's record, computed on first use). */
  get opts(): JobsOptions {
    if (this.optsCached === undefined) this.optsCached = this.wire === undefined ? {} : optsFromWire(this.wire);
    return this.optsCached;
  }
  set opts(value: JobsOptions) {
    this.optsCached = value;
  }
  // The fields below start at the defaults set on the prototype (after the class): a job made
  // by queue.add sets none of them, so making one costs a handful of stores (bench/README.md).
  declare private optsCached: JobsOptions | undefined;
  /** The wire record, kept until opts are first read (a Worker's jobs mostly never read them). */
  declare private wire: WireJob | undefined;
  /** Failed attempts so far. */
  declare attemptsMade: number;
  declare progress: number;
  declare returnvalue: ResultType | undefined;
  declare failedReason: string | undefined;
  /** Stack traces of the failed attempts whose processor threw an Error (FAIL `stack`), oldest first. */
  declare stacktrace: string[];
  declare processedOn: number | undefined;
  declare finishedOn: number | undefined;
  /** Custom id given as `jobId` when added, if any. */
  declare customId: string | undefined;
  /** Token of the current delivery (set when a Worker pulled the job). */
  declare lockToken: number | string | undefined;
  /** Lease of a pulled job, ms: the Worker heartbeats within it. */
  declare leaseMs: number | undefined;
  /** EXT: a flow child's parent id (BullMQ's job.parent has the parent's queue too). */
  declare parentId: string | undefined;
  /** @internal a flow parent's children ids, when known. */
  declare childrenIds: number[] | undefined;
  /** Last known state, when the server said (GETJOB, getJobs). */
  declare state: JobState | undefined;
  /** @internal the Worker listens to progress of jobs it runs. */
  declare onProgress: ((job: Job<DataType, ResultType>, progress: number) => void) | null;
  /** @internal a Worker of this process runs it (discard then waits for its outcome). */
  declare held: boolean;
  /** @internal discard() was called while held: a failure goes to the DLQ without retry. */
  declare discarded: boolean;
  /** @internal the processor moved the job itself (moveToDelayed, moveToFailed, ...): the
   *  Worker sends nothing for it. */
  declare movedByProcessor: boolean;

  /** A job as queue.add made it: what the producer said, and the server's id. */
  constructor(
    private readonly conn: Connection,
    id: string,
    queueName: string,
    name: string,
    data: DataType,
    opts: JobsOptions | undefined,
    timestamp: number,
  ) {
    this.id = id;
    this.queueName = queueName;
    this.name = name;
    this.data = data;
    this.priority = opts?.priority ?? 0;
    this.timestamp = timestamp;
    if (opts !== undefined) {
      this.optsCached = opts;
      if (opts.jobId !== undefined) this.customId = opts.jobId;
    }
  }

  /** A job as the server described it (GETJOB, GETJOBS, PULLB). */
  static fromWire<D = any, R = any>(conn: Connection, wire: WireJob): Job<D, R> {
    const job = new Job<D, R>(conn, String(wire.id), wire.queue, typeof wire.name === "string" ? wire.name : "", wire.data as D, undefined, wire.created_at ?? Date.now());
    job.wire = wire;
    job.priority = fromWirePriority(wire.priority);
    if (wire.attempts) job.attemptsMade = wire.attempts;
    if (wire.progress) job.progress = wire.progress;
    if (wire.started_at != null) job.processedOn = wire.started_at;
    if (wire.completed_at != null) job.finishedOn = wire.completed_at;
    if (wire.custom_id != null) job.customId = wire.custom_id;
    if (wire.lock_token != null) job.lockToken = wire.lock_token;
    if (wire.stall_timeout != null) job.leaseMs = wire.stall_timeout;
    if (typeof wire.state === "string") job.state = bullmqState(wire.state, job.priority);
    if (wire.result !== undefined) job.returnvalue = wire.result as R;
    // `failed_reason` in ringq's job object; `error` where a flashQ reply names it so.
    if (typeof wire.failed_reason === "string") job.failedReason = wire.failed_reason;
    else if (typeof wire.error === "string") job.failedReason = wire.error;
    if (Array.isArray(wire.stacktrace)) job.stacktrace = wire.stacktrace as string[];
    if (wire.parent_id != null) job.parentId = String(wire.parent_id);
    if (wire.children_ids != null) job.childrenIds = wire.children_ids as number[];
    return job;
  }

  private get wireId(): number {
    return Number(this.id);
  }

  /** Report progress 0-100 (PROGRESS); `message` is the optional flashQ progress text. */
  async updateProgress(progress: number, message?: string): Promise<void> {
    if (typeof progress !== "number" || !Number.isFinite(progress)) {
      throw new RingqError("updateProgress: progress must be a number from 0 to 100 (objects are not supported)", "INVALID", "PROGRESS");
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

  /** Drop the job's log lines but the newest `keepLogs` (CLEARLOGS; default 0: all of them). */
  async clearLogs(keepLogs?: number): Promise<void> {
    await this.conn.request("CLEARLOGS", keepLogs === undefined ? { id: this.wireId } : { id: this.wireId, keep: keepLogs });
  }

  /** BullMQ's state name (GETSTATE): "prioritized" for a waiting job with a priority. */
  async getState(): Promise<JobState> {
    const reply = await this.conn.request("GETSTATE", { id: this.wireId });
    this.state = bullmqState(reply.state, this.priority);
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
  async isWaitingChildren(): Promise<boolean> {
    return (await this.getState()) === "waiting-children";
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

  /**
   * A flow parent's completed children's results, keyed `bull:<queue>:<id>` (GETCHILDREN; the
   * results and queues are kept on the parent after a child's record is gone).
   */
  async getChildrenValues<CT = any>(): Promise<Record<string, CT>> {
    return childrenValues(await readChildren(this.conn, this.id)) as Record<string, CT>;
  }

  /** {key: failedReason} of the children that failed for good and whose records remain. */
  async getFailedChildrenValues(): Promise<Record<string, string>> {
    return failedChildrenValues(await readChildren(this.conn, this.id));
  }

  /** The children by kind: processed ({key: result}), unprocessed and failed (keys). */
  async getDependencies(opts?: Record<string, unknown>): Promise<Dependencies> {
    const asked = dependencyKinds(opts, "getDependencies");
    return dependencies(await readChildren(this.conn, this.id), asked);
  }

  /** How many children of each kind (see getDependencies). */
  async getDependenciesCount(opts?: Record<string, unknown>): Promise<{ processed?: number; unprocessed?: number; failed?: number }> {
    const asked = dependencyKinds(opts, "getDependenciesCount");
    return dependenciesCount(await readChildren(this.conn, this.id), asked);
  }

  /** Remove the job, in any state (CANCEL); an active job's worker gets JOB_CANCELLED. */
  async remove(): Promise<void> {
    await this.conn.request("CANCEL", { id: this.wireId });
  }

  /** Delayed -> waiting now (PROMOTE). */
  async promote(): Promise<void> {
    await this.conn.request("PROMOTE", { id: this.wireId });
  }

  /** BullMQ's priority (1 first, 0 none), sent as the wire's "higher first" (CHANGEPRIORITY). */
  async changePriority(opts: { priority?: number; lifo?: boolean }): Promise<void> {
    if (opts.lifo !== undefined) throw new RingqError("changePriority: lifo cannot be changed after the job was added", "INVALID", "CHANGEPRIORITY");
    const priority = opts.priority ?? 0;
    await this.conn.request("CHANGEPRIORITY", { id: this.wireId, priority: toWirePriority(priority) ?? 0 });
    this.priority = priority;
    // A copy: the options object may be the Queue's defaults, shared by other jobs.
    this.opts = { ...this.opts, priority };
  }

  async updateData(data: DataType): Promise<void> {
    await this.conn.request("UPDATEJOB", { id: this.wireId, data });
    this.data = data;
  }

  /**
   * Failed -> waiting again (RETRYDLQ of this id). The server resets the attempts, so
   * `resetAttemptsMade: false` cannot be honoured; only failed jobs can be retried.
   */
  async retry(state: "failed" | "completed" = "failed", opts: { resetAttemptsMade?: boolean; resetAttemptsStarted?: boolean } = {}): Promise<void> {
    if (state !== "failed") throw new RingqError(`retry: only failed jobs can be retried (state "${state}" is not supported)`, "NOT_SUPPORTED", "RETRYDLQ");
    for (const k of ["resetAttemptsMade", "resetAttemptsStarted"] as const) {
      if (opts[k] === false) throw new RingqError(`retry: ${k}: false is not supported (the server always resets the attempts)`, "NOT_SUPPORTED", "RETRYDLQ");
    }
    await this.conn.request("RETRYDLQ", { queue: this.queueName, id: this.wireId });
    this.attemptsMade = 0;
    this.failedReason = undefined;
    this.finishedOn = undefined;
    this.processedOn = undefined;
    this.returnvalue = undefined;
  }

  /**
   * Run a delayed job `delay` ms from now instead (MOVETODELAYED). As in BullMQ, an active job
   * is refused: its worker owns it (the check and the move are two requests).
   */
  async changeDelay(delay: number): Promise<void> {
    const state = await this.getState();
    if (state === "active" || state === "completed" || state === "failed" || state === "unknown") {
      throw new RingqError(`changeDelay: job ${this.id} is ${state}; only a job that has not started can be delayed`, "INVALID_STATE", "MOVETODELAYED");
    }
    await this.conn.request("MOVETODELAYED", { id: this.wireId, delay: Math.max(0, Math.round(delay)) });
  }

  /**
   * A job this process's Worker runs: a failure goes to the DLQ without further attempts
   * (BullMQ's discard; the Worker sends DISCARD instead of FAIL). Any other job: moved to the
   * DLQ now (DISCARD).
   */
  async discard(): Promise<void> {
    if (this.held) {
      this.discarded = true;
      return;
    }
    await this.conn.request("DISCARD", { id: this.wireId });
  }

  /** From a processor: give the job back delayed until `timestamp` (ms); then throw DelayedError. */
  async moveToDelayed(timestamp: number, token?: string): Promise<void> {
    await this.conn.request("MOVETODELAYED", this.withToken({ id: this.wireId, delay: Math.max(0, Math.round(timestamp - Date.now())) }, token));
    this.movedByProcessor = true;
  }

  /** From a processor: give the job back to the queue now (no attempt counted); then throw WaitingError. */
  async moveToWait(token?: string): Promise<void> {
    await this.conn.request("MOVETODELAYED", this.withToken({ id: this.wireId, delay: 0 }, token));
    this.movedByProcessor = true;
  }

  /** Fail this attempt with `err` (FAIL, with the lock token): retried while attempts remain. */
  async moveToFailed(err: Error, token?: string, fetchNext = false): Promise<void> {
    if (fetchNext) throw new RingqError("moveToFailed: fetchNext is not supported (manual processing)", "NOT_SUPPORTED", "FAIL");
    await this.conn.request("FAIL", this.withToken({ id: this.wireId, error: String(err?.message ?? err) }, token));
    this.movedByProcessor = true;
    this.failedReason = String(err?.message ?? err);
  }

  /** Complete the job with `returnValue` (ACK, with the lock token). */
  async moveToCompleted(returnValue: ResultType, token?: string, fetchNext = false): Promise<void> {
    if (fetchNext) throw new RingqError("moveToCompleted: fetchNext is not supported (manual processing)", "NOT_SUPPORTED", "ACK");
    const req: Record<string, unknown> = { id: this.wireId };
    if (returnValue !== undefined && returnValue !== null) req.result = returnValue;
    await this.conn.request("ACK", this.withToken(req, token));
    this.movedByProcessor = true;
    this.returnvalue = returnValue;
  }

  private withToken(req: Record<string, unknown>, token: string | undefined): Record<string, unknown> {
    const t = token ?? this.lockToken;
    if (t !== undefined) req.lock_token = typeof t === "string" && /^\d+$/.test(t) ? Number(t) : t;
    return req;
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id, name: this.name, data: this.data, opts: this.opts, queueName: this.queueName, priority: this.priority,
      progress: this.progress, returnvalue: this.returnvalue, failedReason: this.failedReason, stacktrace: this.stacktrace, attemptsMade: this.attemptsMade,
      timestamp: this.timestamp, processedOn: this.processedOn, finishedOn: this.finishedOn, customId: this.customId,
      lockToken: this.lockToken, leaseMs: this.leaseMs, state: this.state, parentId: this.parentId,
    };
  }
}
Object.assign(Job.prototype, {
  optsCached: undefined, wire: undefined, attemptsMade: 0, progress: 0, returnvalue: undefined, failedReason: undefined, stacktrace: Object.freeze([]),
  processedOn: undefined, finishedOn: undefined, customId: undefined, lockToken: undefined, leaseMs: undefined,
  state: undefined, parentId: undefined, childrenIds: undefined, onProgress: null, held: false, discarded: false, movedByProcessor: false,
});
installMethodRefusals(Job.prototype, "Job", jobMethodRefusals);

function optsFromWire(wire: WireJob): JobsOptions {
  const opts: JobsOptions = {};
  if (wire.max_attempts != null) opts.attempts = wire.max_attempts;
  const priority = fromWirePriority(wire.priority);
  if (priority !== 0) opts.priority = priority;
  // The wire job says the backoff delay but not whether it is fixed or exponential: left out.
  if (wire.custom_id != null) opts.jobId = wire.custom_id;
  if (wire.lifo === true) opts.lifo = true;
  if (wire.timeout != null && wire.timeout !== 0) opts.timeout = wire.timeout;
  if (wire.ttl != null && wire.ttl !== 0) opts.ttl = wire.ttl;
  if (wire.stall_timeout != null) opts.stallTimeout = wire.stall_timeout;
  if (wire.remove_on_complete === true) opts.removeOnComplete = true;
  if (wire.remove_on_fail === true) opts.removeOnFail = true;
  if (typeof wire.unique_key === "string") opts.uniqueKey = wire.unique_key;
  if (typeof wire.group_id === "string") opts.groupId = wire.group_id;
  if (Array.isArray(wire.tags)) opts.tags = wire.tags as string[];
  if (Array.isArray(wire.depends_on)) opts.dependsOn = wire.depends_on as number[];
  return opts;
}
