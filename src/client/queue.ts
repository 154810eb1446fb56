// Queue: the producer and admin side, shaped like BullMQ's Queue (add, addBulk, getJob, getJobs
// and the per-state getters, counts, pause/resume/drain/obliterate/clean, promoteJobs, close).
// Each method is one or a few pipelined commands on one connection. Does not run jobs
// (worker.ts) or watch events (queue-events.ts); BullMQ methods it lacks are refused by name.

import { Connection, type ConnectionOptions, type Reply } from "./connection.ts";
import { listPageJobsMax, promoteBatchJobsDefault, pushBatchJobsMax } from "./constants.ts";
import { BulkAddError, CommandError, RingqError } from "./errors.ts";
import { Job, type JobState, type WireJob } from "./job.ts";
import { clearConcurrency, concurrencyRequest, queueSettings, rateLimitOf, rateLimitRequest } from "./limits.ts";
import { type JobsOptions, toWireJob, withDefaults } from "./options.ts";
import { type JobSchedulerJson, JobSchedulers, type JobSchedulerTemplate, type RepeatOptions } from "./job-schedulers.ts";
import { allTypes, type JobType, QueueGetters } from "./queue-getters.ts";
import { checkOptions, installMethodRefusals, queueMethodRefusals, queueOptionRefusals } from "./refusals.ts";

export interface QueueOptions {
  /** Server address and auth, or a Connection to share (then close() leaves it open). */
  connection?: ConnectionOptions | Connection;
  /** Options merged under every add/addBulk (BullMQ's defaultJobOptions). */
  defaultJobOptions?: JobsOptions;
  /** Accepted for BullMQ code: ringq makes no server version check. */
  skipVersionCheck?: boolean;
}

export interface JobCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  [state: string]: number;
}

/** Resolve a connection option into a Connection and whether the caller owns (closes) it. */
export function openConnection(option: ConnectionOptions | Connection | undefined): {
  conn: Connection;
  owned: boolean;
} {
  if (option instanceof Connection) return { conn: option, owned: false };
  return { conn: new Connection(option ?? {}), owned: true };
}

export class Queue<DataType = any, ResultType = any, NameType extends string = string> {
  readonly name: string;
  /** The connection this queue talks over (shareable with other Queues via `connection`). */
  readonly connection: Connection;
  private readonly owned: boolean;
  private readonly defaults: JobsOptions | undefined;
  private readonly getters: QueueGetters;
  private readonly schedulers: JobSchedulers;
  private closing: Promise<void> | null = null;

  constructor(name: string, opts: QueueOptions = {}) {
    if (typeof name !== "string" || name === "") {
      throw new RingqError("Queue: a queue name is required", "INVALID");
    }
    checkOptions("Queue", opts, ["connection", "defaultJobOptions", "skipVersionCheck"], queueOptionRefusals);
    // Refuse a bad default now rather than at every add.
    if (opts.defaultJobOptions !== undefined) toWireJob("", null, opts.defaultJobOptions);
    this.name = name;
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    this.defaults = opts.defaultJobOptions;
    this.getters = new QueueGetters(conn, name);
    this.schedulers = new JobSchedulers(conn, name);
  }

  /** Resolves once the server answered a PING (BullMQ's waitUntilReady). */
  async waitUntilReady(): Promise<void> {
    await this.connection.waitUntilReady();
  }

  /**
   * Add one job; resolves to the Job with its server id. With `deduplication` and a standing
   * window for that id, no job is made and it resolves to the job that opened the window (the
   * server's reply names it, as BullMQ does).
   */
  add(name: NameType, data: DataType, opts?: JobsOptions): Promise<Job<DataType, ResultType>> {
    const merged = withDefaults(this.defaults, opts);
    let req: Record<string, unknown>;
    try {
      req = toWireJob(name, data, merged, this.name);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.connection.call("PUSH", req, (reply: Reply) => this.localJob(reply.id, name, data, merged));
  }

  /**
   * Add many jobs: PUSHB in chunks of the server's batch limit, all chunks pipelined in one
   * write. Jobs keep their input order within a chunk and chunks are sent in order. If the
   * server rejects some entries the others stay added and a BulkAddError lists both (an add
   * that a `deduplication` window stood for is not a rejection: its entry is the standing job).
   */
  async addBulk(
    jobs: { name: NameType; data: DataType; opts?: JobsOptions }[],
  ): Promise<Job<DataType, ResultType>[]> {
    const merged = jobs.map((j) => withDefaults(this.defaults, j.opts));
    const wire = jobs.map((j, i) => toWireJob(j.name, j.data, merged[i]));
    const replies: Promise<Reply>[] = [];
    for (let at = 0; at < wire.length; at += pushBatchJobsMax) {
      const chunk = wire.slice(at, at + pushBatchJobsMax);
      replies.push(this.connection.request("PUSHB", { queue: this.name, jobs: chunk }));
    }
    const settled = await Promise.all(replies);
    const ids: (string | null)[] = [];
    const errors: (string | null)[] = [];
    let rejected = 0;
    settled.forEach((reply, chunkIndex) => {
      const base = chunkIndex * pushBatchJobsMax;
      const size = Math.min(pushBatchJobsMax, wire.length - base);
      const chunkIds = (reply.ids ?? []) as (number | null)[];
      // ringq EXT: errors as [{index, error, code}] for the rejected entries of this chunk.
      const reasons = new Map<number, string>();
      for (const e of (reply.errors ?? []) as { index?: number; error?: string }[]) {
        if (typeof e?.index === "number") reasons.set(e.index, String(e.error ?? "rejected"));
      }
      for (let i = 0; i < size; i++) {
        const id = chunkIds[i];
        if (id === null || id === undefined) {
          ids.push(null);
          errors.push(reasons.get(i) ?? "rejected by the server");
          rejected++;
        } else {
          ids.push(String(id));
          errors.push(null);
        }
      }
    });
    if (rejected > 0) {
      const first = errors.find((e) => e !== null);
      throw new BulkAddError(`PUSHB: ${rejected} of ${jobs.length} jobs rejected (first: ${first})`, ids, errors);
    }
    return jobs.map((j, i) => this.localJob(ids[i]!, j.name, j.data, merged[i]));
  }

  /** A job by id (number or numeric string) or by custom id; null if unknown. */
  async getJob(id: string | number): Promise<Job<DataType, ResultType> | null> {
    const numeric = typeof id === "number" || /^\d+$/.test(id);
    const reply = numeric
      ? await this.connection.request("GETJOB", { id: Number(id) })
      : await this.connection.request("GETJOBBYCUSTOMID", { job_id: id });
    const wire = reply.job as WireJob | null | undefined;
    if (wire === null || wire === undefined) return null;
    if (typeof reply.state === "string") wire.state = reply.state;
    return Job.fromWire<DataType, ResultType>(this.connection, wire);
  }

  /** State of a job by id, in BullMQ's names ("unknown" if the server does not know it). */
  async getJobState(id: string | number): Promise<JobState> {
    const job = await this.getJob(id);
    return job?.state ?? "unknown";
  }

  /**
   * Jobs of the given types (BullMQ's names; all of them when none), in the inclusive range
   * [start, end] of each type (end -1: to the last), newest first unless `asc`; each job once.
   * See queue-getters.ts for the orders.
   */
  async getJobs(types: JobType | JobType[] = [], start = 0, end = -1, asc = false): Promise<Job<DataType, ResultType>[]> {
    const list = Array.isArray(types) ? types : [types];
    const wires = await this.getters.jobs(list.length === 0 ? allTypes : list, start, end, asc);
    return wires.map((w) => Job.fromWire<DataType, ResultType>(this.connection, w));
  }

  /** Waiting jobs in the order they will run (prioritized ones included: queue-getters.ts). */
  getWaiting(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["waiting"], start, end, true);
  }
  /** Waiting jobs that have a priority, in the order they will run. */
  getPrioritized(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["prioritized"], start, end, true);
  }
  getActive(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["active"], start, end, true);
  }
  getDelayed(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["delayed"], start, end, true);
  }
  getWaitingChildren(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["waiting-children"], start, end, true);
  }
  /** Completed jobs, the last finished first. */
  getCompleted(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["completed"], start, end, false);
  }
  /** Failed jobs (the dead-letter queue), the last failed first. */
  getFailed(start = 0, end = -1): Promise<Job<DataType, ResultType>[]> {
    return this.getJobs(["failed"], start, end, false);
  }

  /**
   * Counts per type. Without types: waiting, active, delayed, completed and failed (one
   * GETJOBCOUNTS; waiting includes prioritized jobs). Asked by name, also prioritized (a walk of
   * the waiting list), paused and waiting-children.
   */
  getJobCounts(): Promise<JobCounts>;
  getJobCounts(...types: JobType[]): Promise<Record<string, number>>;
  async getJobCounts(...types: JobType[]): Promise<Record<string, number>> {
    return this.getters.counts(types.length === 0 ? ["waiting", "active", "delayed", "completed", "failed"] : types);
  }

  /** The sum of the counts of these types (BullMQ's getJobCountByTypes). */
  async getJobCountByTypes(...types: JobType[]): Promise<number> {
    const counts = await this.getters.counts(types);
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  /** Waiting + delayed (COUNT). */
  async count(): Promise<number> {
    const reply = await this.connection.request("COUNT", { queue: this.name });
    return reply.count ?? 0;
  }

  getWaitingCount(): Promise<number> {
    return this.getJobCountByTypes("waiting");
  }
  getPrioritizedCount(): Promise<number> {
    return this.getJobCountByTypes("prioritized");
  }
  getActiveCount(): Promise<number> {
    return this.getJobCountByTypes("active");
  }
  getDelayedCount(): Promise<number> {
    return this.getJobCountByTypes("delayed");
  }
  getCompletedCount(): Promise<number> {
    return this.getJobCountByTypes("completed");
  }
  getFailedCount(): Promise<number> {
    return this.getJobCountByTypes("failed");
  }
  getWaitingChildrenCount(): Promise<number> {
    return this.getJobCountByTypes("waiting-children");
  }

  async pause(): Promise<void> {
    await this.connection.request("PAUSE", { queue: this.name });
  }

  async resume(): Promise<void> {
    await this.connection.request("RESUME", { queue: this.name });
  }

  async isPaused(): Promise<boolean> {
    const reply = await this.connection.request("ISPAUSED", { queue: this.name });
    return reply.paused === true;
  }

  /**
   * At most `max` jobs per `duration` ms across all workers (RATELIMIT: max * 1000 / duration
   * jobs a second, `max` at once; limits.ts says how that differs from BullMQ's windows).
   */
  async setGlobalRateLimit(max: number, duration: number): Promise<void> {
    await this.connection.request("RATELIMIT", rateLimitRequest("setGlobalRateLimit", this.name, max, duration));
  }

  async removeGlobalRateLimit(): Promise<void> {
    await this.connection.request("RATELIMITCLEAR", { queue: this.name });
  }

  /** The rate limit as {max, duration} (from its rate and bucket), or null. */
  async getGlobalRateLimit(): Promise<{ max: number; duration: number } | null> {
    const row = await queueSettings(this.connection, this.name);
    return row === null ? null : rateLimitOf(row);
  }

  /** Active jobs of this queue across all workers at most (SETCONCURRENCY). */
  async setGlobalConcurrency(concurrency: number): Promise<void> {
    await this.connection.request("SETCONCURRENCY", concurrencyRequest("setGlobalConcurrency", this.name, concurrency));
  }

  /** No global concurrency (CLEARCONCURRENCY; a per-group limit is kept). */
  async removeGlobalConcurrency(): Promise<void> {
    await clearConcurrency(this.connection, this.name);
  }

  async getGlobalConcurrency(): Promise<number | null> {
    return (await queueSettings(this.connection, this.name))?.concurrency_limit ?? null;
  }

  /**
   * Whether the global concurrency is reached (active jobs >= the limit). Refused on a queue with
   * a rate limit: the server does not say whether its tokens are used up.
   */
  async isMaxed(): Promise<boolean> {
    const row = await queueSettings(this.connection, this.name);
    if (row === null) return false;
    if (row.rate_limit !== null) {
      throw new RingqError("isMaxed: this queue has a rate limit, and the server does not say whether it holds the queue now", "NOT_SUPPORTED", "LISTQUEUES");
    }
    return row.concurrency_limit !== null && row.processing >= row.concurrency_limit;
  }

  /** Remove waiting (and delayed) jobs; resolves to how many (DRAIN). */
  async drain(): Promise<number> {
    const reply = await this.connection.request("DRAIN", { queue: this.name });
    return reply.count ?? 0;
  }

  /** Remove everything of the queue; resolves to how many jobs (OBLITERATE). */
  async obliterate(): Promise<number> {
    const reply = await this.connection.request("OBLITERATE", { queue: this.name });
    return reply.count ?? 0;
  }

  /** Remove up to `limit` jobs of a state older than `grace` ms (CLEAN); resolves to how many. */
  async clean(grace: number, limit: number, type: "completed" | "failed" | "delayed" | "wait" | "waiting" = "completed"): Promise<number> {
    const state = type === "wait" ? "waiting" : type;
    if (!["completed", "failed", "delayed", "waiting"].includes(state)) {
      throw new RingqError(`clean: type "${type}" is not supported (completed, failed, delayed, wait)`, "INVALID", "CLEAN");
    }
    const req: Record<string, unknown> = { queue: this.name, grace, state };
    if (limit > 0) req.limit = limit;
    const reply = await this.connection.request("CLEAN", req);
    return reply.count ?? 0;
  }

  /** Remove a job by id or custom id, in any state (CANCEL); 1 if removed, 0 if unknown. */
  async remove(jobId: string | number): Promise<number> {
    const job = typeof jobId === "number" || /^\d+$/.test(jobId) ? { id: Number(jobId) } : await this.getJob(jobId);
    if (job === null) return 0;
    try {
      await this.connection.request("CANCEL", { id: Number(job.id) });
      return 1;
    } catch (err) {
      if (err instanceof CommandError && err.code === "NOT_FOUND") return 0;
      throw err;
    }
  }

  /**
   * Make every delayed job waiting now: a page of `count` delayed jobs at a time (GETJOBS),
   * each PROMOTEd, pipelined. Resolves to how many were promoted.
   */
  async promoteJobs(opts: { count?: number } = {}): Promise<number> {
    const count = Math.min(opts.count ?? promoteBatchJobsDefault, listPageJobsMax);
    let promoted = 0;
    for (;;) {
      const reply = await this.connection.request("GETJOBS", { queue: this.name, state: "delayed", limit: count, offset: 0 });
      const jobs = (reply.jobs ?? []) as WireJob[];
      if (jobs.length === 0) return promoted;
      // A job that ran or went meanwhile is not an error: it is no longer delayed.
      const results = await Promise.all(jobs.map((j) => this.connection.request("PROMOTE", { id: j.id }).then(() => 1, () => 0)));
      const n = results.reduce<number>((a, b) => a + b, 0);
      if (n === 0) return promoted; // nothing moved: the listing would come back the same
      promoted += n;
    }
  }

  /** Move failed jobs (one, or all) back to waiting (RETRYDLQ); resolves to how many. */
  async retryJobs(opts: { state?: "failed" | "completed"; count?: number; timestamp?: number } = {}): Promise<number> {
    // `count` is BullMQ's batch size per step; the server works in steps of its own.
    if (typeof opts !== "object") throw new RingqError("retryJobs: expected {state?}; to retry one job use job.retry()", "INVALID", "RETRYDLQ");
    if (opts.state !== undefined && opts.state !== "failed") throw new RingqError(`retryJobs: state "${opts.state}" is not supported (only failed jobs can be retried)`, "NOT_SUPPORTED", "RETRYDLQ");
    if (opts.timestamp !== undefined) throw new RingqError("retryJobs: timestamp is not supported (every failed job is retried)", "NOT_SUPPORTED", "RETRYDLQ");
    const reply = await this.connection.request("RETRYDLQ", { queue: this.name });
    return Array.isArray(reply.ids) ? (reply.ids[0] ?? 0) : (reply.count ?? 0);
  }

  /**
   * Create or replace the job scheduler `id` (CRON): a job named `id` with the template's data
   * and options (over defaultJobOptions) at each run of `repeat.pattern` or every
   * `repeat.every` ms. Resolves to undefined: the server makes each run's job when it is due
   * (custom id `cron:<id>:<slot ms>`), so there is no first job to return yet.
   */
  async upsertJobScheduler(id: string, repeat: RepeatOptions, template?: JobSchedulerTemplate<DataType>): Promise<undefined> {
    await this.schedulers.upsert(id, repeat, template, this.defaults);
    return undefined;
  }

  /** The scheduler `id` of this queue (CRONLIST), or undefined. */
  getJobScheduler(id: string): Promise<JobSchedulerJson<DataType> | undefined> {
    return this.schedulers.get(id);
  }

  /** This queue's schedulers by next run (latest first unless `asc`), inclusive [start, end]. */
  getJobSchedulers(start = 0, end = -1, asc = false): Promise<JobSchedulerJson<DataType>[]> {
    return this.schedulers.list(start, end, asc);
  }

  getJobSchedulersCount(): Promise<number> {
    return this.schedulers.count();
  }

  /** Delete the scheduler (its jobs stay); false if this queue has none by that id. */
  removeJobScheduler(id: string): Promise<boolean> {
    return this.schedulers.remove(id);
  }

  /** Report a job's progress by id (PROGRESS). */
  async updateJobProgress(jobId: string | number, progress: number): Promise<void> {
    await this.connection.request("PROGRESS", { id: Number(jobId), progress });
  }

  /** Append a log line to a job by id (LOG), then keep only the newest `keepLogs` (CLEARLOGS);
   *  resolves to 1. The two requests are pipelined, not atomic. */
  async addJobLog(jobId: string | number, logRow: string, keepLogs?: number): Promise<number> {
    const logged = this.connection.request("LOG", { id: Number(jobId), message: logRow });
    const trimmed = keepLogs === undefined ? null : this.connection.request("CLEARLOGS", { id: Number(jobId), keep: keepLogs });
    await logged;
    if (trimmed !== null) await trimmed;
    return 1;
  }

  /** A job's log lines in [start, end] (oldest first unless !asc), and how many it has. */
  async getJobLogs(jobId: string | number, start = 0, end = -1, asc = true): Promise<{ logs: string[]; count: number }> {
    const reply = await this.connection.request("GETLOGS", { id: Number(jobId) });
    const lines = ((reply.logs ?? []) as { message: string }[]).map((l) => l.message);
    const ordered = asc ? lines : lines.reverse();
    const n = ordered.length;
    const a = Math.max(0, start < 0 ? n + start : start);
    const b = Math.min(n - 1, end < 0 ? n + end : end);
    return { logs: ordered.slice(a, b + 1), count: n };
  }

  /** Close the connection (if this Queue opened it) after replies in flight arrive. */
  close(): Promise<void> {
    this.closing ??= this.owned ? this.connection.close() : Promise.resolve();
    return this.closing;
  }

  private localJob(id: number | string, name: string, data: DataType, opts: JobsOptions | undefined): Job<DataType, ResultType> {
    // The reply's arrival time, read once per received chunk, stands for the time of the add.
    return new Job<DataType, ResultType>(this.connection, String(id), this.name, name, data, opts, this.connection.receivedAt);
  }
}
installMethodRefusals(Queue.prototype, "Queue", queueMethodRefusals);
