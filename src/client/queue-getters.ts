// Queue listings and counts under BullMQ's state names and paging (getJobs(types, start, end,
// asc): an inclusive range over each state's jobs, negative indexes from the end, newest first
// unless asc), mapped onto the server's GETJOBS pages (limit/offset/total/truncated).
// Orders: waiting jobs in the order they will run, completed and failed ones in the order they
// finished, delayed and active ones in the server's order (when they became so). ringq has one
// waiting state: a prioritized job is a waiting job with a priority, so "waiting" lists and
// counts it too and "prioritized" is the part of the waiting list that has a priority.

import type { Connection, Reply } from "./connection.ts";
import { listPageJobsMax } from "./constants.ts";
import { RingqError } from "./errors.ts";
import type { WireJob } from "./job.ts";

/** BullMQ's job types (JobType), as getJobs and getJobCounts take them. */
export type JobType =
  | "wait"
  | "waiting"
  | "prioritized"
  | "paused"
  | "active"
  | "delayed"
  | "completed"
  | "failed"
  | "waiting-children"
  | "repeat";

/** The server's state names a listing walks (docs/protocol.md). */
type ServerState = "waiting" | "delayed" | "active" | "completed" | "failed" | "waitingchildren" | "waitingparent";

/** One type as the server holds it: the states to walk in order, and which of their jobs count. */
interface Source {
  states: ServerState[];
  /** Only the jobs that pass (prioritized: a priority, i.e. a negative wire priority). */
  filter?: (job: WireJob) => boolean;
  /** paused: the waiting jobs, but only while the queue is paused. */
  ifPaused?: true;
}

const sources: Readonly<Record<string, Source>> = {
  wait: { states: ["waiting"] },
  waiting: { states: ["waiting"] },
  prioritized: { states: ["waiting"], filter: (j) => typeof j.priority === "number" && j.priority < 0 },
  paused: { states: ["waiting"], ifPaused: true },
  active: { states: ["active"] },
  delayed: { states: ["delayed"] },
  completed: { states: ["completed"] },
  failed: { states: ["failed"] },
  "waiting-children": { states: ["waitingchildren", "waitingparent"] },
};

/** BullMQ's default types for getJobs() with none (BullMQ 6's list). */
export const allTypes: readonly JobType[] = ["active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"];

function sourceOf(type: string): Source {
  const s = sources[type];
  if (s !== undefined) return s;
  if (type === "repeat") throw new RingqError('job type "repeat": a schedule is not a job here; list schedules with getJobSchedulers (their jobs are delayed or waiting like any other)', "NOT_SUPPORTED");
  throw new RingqError(`unknown job type "${type}" (types: ${Object.keys(sources).join(", ")})`, "INVALID");
}

/** Check every type before any request is made: a typo fails the call, not half of it. */
export function checkTypes(types: readonly string[]): void {
  for (const t of types) sourceOf(t);
}

export class QueueGetters {
  constructor(
    private readonly conn: Connection,
    private readonly queue: string,
  ) {}

  /** The jobs of each type in [start, end] (BullMQ's getJobs), each job once, in type order. */
  async jobs(types: readonly string[], start: number, end: number, asc: boolean): Promise<WireJob[]> {
    checkTypes(types);
    const lists = await Promise.all(types.map((t) => this.range(sourceOf(t), start, end, asc)));
    const seen = new Set<number>();
    const out: WireJob[] = [];
    for (const list of lists) {
      for (const job of list) {
        if (seen.has(job.id)) continue;
        seen.add(job.id);
        out.push(job);
      }
    }
    return out;
  }

  /** How many jobs of each type (BullMQ's getJobCounts(...types)). */
  async counts(types: readonly string[]): Promise<Record<string, number>> {
    checkTypes(types);
    const server = await this.conn.request("GETJOBCOUNTS", { queue: this.queue });
    const out: Record<string, number> = {};
    await Promise.all(
      types.map(async (t) => {
        out[t] = await this.count(sourceOf(t), server);
      }),
    );
    return out;
  }

  private async count(src: Source, server: Reply): Promise<number> {
    if (src.ifPaused && !(await this.isPaused())) return 0;
    if (src.filter !== undefined) return (await this.scan(src, Infinity)).length;
    let n = 0;
    for (const s of src.states) n += s in server ? (server[s] as number) : await this.total(s);
    return n;
  }

  private async isPaused(): Promise<boolean> {
    return (await this.conn.request("ISPAUSED", { queue: this.queue })).paused === true;
  }

  /** Jobs of one source in the inclusive range [start, end] of the asc or desc order. */
  private async range(src: Source, start: number, end: number, asc: boolean): Promise<WireJob[]> {
    if (src.ifPaused && !(await this.isPaused())) return [];
    if (src.filter !== undefined) {
      // Filtered: walk the list in order, keep the jobs that pass, cut the range from those.
      // A walk from the front can stop once the range is complete.
      const stopAfter = asc && start >= 0 && end >= 0 ? end + 1 : Infinity;
      const all = await this.scan(src, stopAfter);
      const ordered = asc ? all : all.reverse();
      const [a, b] = resolve(start, end, ordered.length);
      return ordered.slice(a, b + 1);
    }
    if (asc && start >= 0 && (end >= 0 || end === -1)) {
      return this.read(src.states, start, end === -1 ? Infinity : end - start + 1);
    }
    // Indexes from the end, or newest first: the totals turn them into a range from the front.
    let n = 0;
    for (const s of src.states) n += await this.total(s);
    const [a, b] = resolve(start, end, n);
    if (a > b) return [];
    const from = asc ? a : n - 1 - b;
    const jobs = await this.read(src.states, from, b - a + 1);
    return asc ? jobs : jobs.reverse();
  }

  /** `count` jobs from position `skip` of the states' lists taken one after the other. */
  private async read(states: ServerState[], skip: number, count: number): Promise<WireJob[]> {
    const out: WireJob[] = [];
    for (const state of states) {
      let offset = skip;
      for (;;) {
        if (out.length >= count) return out;
        const limit = Math.min(listPageJobsMax, count - out.length);
        const reply = await this.conn.request("GETJOBS", { queue: this.queue, state, limit, offset });
        const jobs = (reply.jobs ?? []) as WireJob[];
        const total = typeof reply.total === "number" ? reply.total : offset + jobs.length;
        if (offset >= total) {
          skip = offset - total;
          break;
        }
        for (const j of jobs) out.push(j);
        offset += jobs.length;
        skip = 0;
        // A page cut short to fit one reply frame (truncated) is read on from where it stopped.
        if (jobs.length === 0 || offset >= total) break;
      }
    }
    return out;
  }

  /** The jobs of a filtered source, front to back, stopping after `stopAfter` matches. */
  private async scan(src: Source, stopAfter: number): Promise<WireJob[]> {
    const out: WireJob[] = [];
    for (const state of src.states) {
      let offset = 0;
      for (;;) {
        const reply = await this.conn.request("GETJOBS", { queue: this.queue, state, limit: listPageJobsMax, offset });
        const jobs = (reply.jobs ?? []) as WireJob[];
        for (const j of jobs) {
          if (!src.filter!(j)) continue;
          out.push(j);
          if (out.length >= stopAfter) return out;
        }
        offset += jobs.length;
        if (jobs.length === 0 || offset >= (reply.total ?? 0)) break;
      }
    }
    return out;
  }

  private async total(state: ServerState): Promise<number> {
    const reply = await this.conn.request("GETJOBS", { queue: this.queue, state, limit: 1, offset: 0 });
    return typeof reply.total === "number" ? reply.total : 0;
  }
}

/** Redis-style inclusive range over n items (negative = from the end) -> clamped [a, b]. */
function resolve(start: number, end: number, n: number): [number, number] {
  const a = Math.max(0, start < 0 ? n + start : start);
  const b = Math.min(n - 1, end < 0 ? n + end : end);
  return [a, b];
}
