// Queue: the producer and admin side, shaped like BullMQ's Queue (add, addBulk, getJob,
// getJobCounts, pause/resume/drain/obliterate, close). Each method is one or a few pipelined
// commands on one connection. Does not run jobs (worker.ts) or watch events (queue-events.ts).

import { Connection, type ConnectionOptions } from "./connection.ts";
import { pushBatchJobsMax } from "./constants.ts";
import { BulkAddError, RingqError } from "./errors.ts";
import { Job, type JobState, type WireJob } from "./job.ts";
import { type JobsOptions, toWireJob, withDefaults } from "./options.ts";

export interface QueueOptions {
  /** Server address and auth, or a Connection to share (then close() leaves it open). */
  connection?: ConnectionOptions | Connection;
  /** Options merged under every add/addBulk (BullMQ's defaultJobOptions). */
  defaultJobOptions?: JobsOptions;
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
  private closing: Promise<void> | null = null;

  constructor(name: string, opts: QueueOptions = {}) {
    if (typeof name !== "string" || name === "") {
      throw new RingqError("Queue: a queue name is required", "INVALID");
    }
    this.name = name;
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    this.defaults = opts.defaultJobOptions;
  }

  /** Resolves once the server answered a PING (BullMQ's waitUntilReady). */
  async waitUntilReady(): Promise<void> {
    await this.connection.waitUntilReady();
  }

  /** Add one job; resolves to the Job with its server id. */
  async add(name: NameType, data: DataType, opts?: JobsOptions): Promise<Job<DataType, ResultType>> {
    const merged = withDefaults(this.defaults, opts);
    const req = toWireJob(name, data, merged);
    req.queue = this.name;
    const reply = await this.connection.request("PUSH", req);
    return this.localJob(reply.id, name, data, merged);
  }

  /**
   * Add many jobs: PUSHB in chunks of the server's batch limit, all chunks pipelined in one
   * write. Jobs keep their input order within a chunk and chunks are sent in order. If the
   * server rejects some entries the others stay added and a BulkAddError lists both.
   */
  async addBulk(
    jobs: { name: NameType; data: DataType; opts?: JobsOptions }[],
  ): Promise<Job<DataType, ResultType>[]> {
    const wire = jobs.map((j) => toWireJob(j.name, j.data, withDefaults(this.defaults, j.opts)));
    const replies: Promise<Record<string, any>>[] = [];
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
    return jobs.map((j, i) => this.localJob(ids[i]!, j.name, j.data, withDefaults(this.defaults, j.opts)));
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
    return new Job<DataType, ResultType>(this.connection, wire);
  }

  /** State of a job by id ("unknown" if the server does not know it). */
  async getJobState(id: string | number): Promise<JobState> {
    const reply = await this.connection.request("GETSTATE", { id: Number(id) });
    return (reply.state as JobState) ?? "unknown";
  }

  /** Jobs in the given states (GETJOBS), newest handling as the server orders them. */
  async getJobs(types: JobState | JobState[] = [], start = 0, end = 99): Promise<Job<DataType, ResultType>[]> {
    const states = Array.isArray(types) ? types : [types];
    const limit = Math.max(0, end - start + 1);
    const lists = await Promise.all(
      (states.length === 0 ? [undefined] : states).map((state) => {
        const req: Record<string, unknown> = { queue: this.name, limit, offset: start };
        if (state !== undefined) req.state = state;
        return this.connection.request("GETJOBS", req);
      }),
    );
    const out: Job<DataType, ResultType>[] = [];
    for (const reply of lists) {
      for (const wire of (reply.jobs ?? []) as WireJob[]) out.push(new Job(this.connection, wire));
    }
    return out;
  }

  /** Counts per state (GETJOBCOUNTS). With types, only those (BullMQ's signature). */
  getJobCounts(): Promise<JobCounts>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  async getJobCounts(...types: string[]): Promise<Record<string, number>> {
    const reply = await this.connection.request("GETJOBCOUNTS", { queue: this.name });
    const all: JobCounts = {
      waiting: reply.waiting ?? 0,
      active: reply.active ?? 0,
      delayed: reply.delayed ?? 0,
      completed: reply.completed ?? 0,
      failed: reply.failed ?? 0,
    };
    if (types.length === 0) return all;
    const some: Record<string, number> = {};
    for (const t of types) some[t] = all[t] ?? 0;
    return some;
  }

  /** Waiting + delayed (COUNT). */
  async count(): Promise<number> {
    const reply = await this.connection.request("COUNT", { queue: this.name });
    return reply.count ?? 0;
  }

  async getWaitingCount(): Promise<number> {
    return (await this.getJobCounts()).waiting;
  }
  async getActiveCount(): Promise<number> {
    return (await this.getJobCounts()).active;
  }
  async getDelayedCount(): Promise<number> {
    return (await this.getJobCounts()).delayed;
  }
  async getCompletedCount(): Promise<number> {
    return (await this.getJobCounts()).completed;
  }
  async getFailedCount(): Promise<number> {
    return (await this.getJobCounts()).failed;
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

  /** Remove finished jobs older than `grace` ms (CLEAN); resolves to how many. */
  async clean(grace: number, limit: number, type: "completed" | "failed" | "delayed" | "wait" | "waiting" = "completed"): Promise<number> {
    const state = type === "wait" ? "waiting" : type;
    const reply = await this.connection.request("CLEAN", { queue: this.name, grace, state, limit });
    return reply.count ?? 0;
  }

  /** Jobs in the dead-letter queue (DLQ): failed for good. */
  async getFailed(count = 100): Promise<Job<DataType, ResultType>[]> {
    const reply = await this.connection.request("DLQ", { queue: this.name, count });
    return ((reply.jobs ?? []) as WireJob[]).map((w) => new Job<DataType, ResultType>(this.connection, w));
  }

  /** Move DLQ jobs (one, or all) back to waiting (RETRYDLQ); resolves to how many. */
  async retryJobs(id?: string | number): Promise<number> {
    const req: Record<string, unknown> = { queue: this.name };
    if (id !== undefined) req.id = Number(id);
    const reply = await this.connection.request("RETRYDLQ", req);
    return Array.isArray(reply.ids) ? (reply.ids[0] ?? 0) : (reply.count ?? 0);
  }

  /** Close the connection (if this Queue opened it) after replies in flight arrive. */
  close(): Promise<void> {
    this.closing ??= this.owned ? this.connection.close() : Promise.resolve();
    return this.closing;
  }

  private localJob(
    id: number | string,
    name: string,
    data: DataType,
    opts: JobsOptions | undefined,
  ): Job<DataType, ResultType> {
    const job = new Job<DataType, ResultType>(
      this.connection,
      { id: Number(id), queue: this.name, data, name, created_at: Date.now() },
      { ...opts },
    );
    if (opts?.jobId !== undefined) job.customId = opts.jobId;
    return job;
  }
}
