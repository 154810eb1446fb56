// BullMQ's job schedulers (Queue.upsertJobScheduler and friends) on the server's CRON,
// CRONLIST and CRONDELETE. A schedule pushes one job per run, named after the schedule, with
// the template's data and options. Schedule names are server-wide while BullMQ's scheduler ids
// are per queue: an id already used by another queue's schedule is refused, not taken over.
// RepeatOptions the server has no equivalent for are refused by name.

import type { Connection } from "./connection.ts";
import { CommandError, RingqError } from "./errors.ts";
import { type JobsOptions, toWireJob } from "./options.ts";

/** BullMQ's RepeatOptions, the parts the server honours. */
export interface RepeatOptions {
  /** A cron pattern: 5 fields, or 6 with seconds first. */
  pattern?: string;
  /** Ms between runs (at least 100); the first run is one interval after the upsert. */
  every?: number;
  /** Runs before the schedule is deleted. */
  limit?: number;
  /** IANA time zone of the pattern (default UTC). */
  tz?: string;
  /** true: the pattern is read in UTC (the default). */
  utc?: boolean;
}

/** What each run's job gets: the schedule's name (BullMQ's default), data and options. */
export interface JobSchedulerTemplate<DataType = any> {
  name?: string;
  data?: DataType;
  opts?: JobsOptions;
}

/** A schedule as BullMQ's getJobScheduler returns it. */
export interface JobSchedulerJson<DataType = any> {
  key: string;
  id: string;
  name: string;
  pattern?: string;
  every?: number;
  tz?: string;
  limit?: number;
  /** Ms epoch of the next run. */
  next: number;
  /** Runs made so far. */
  iterationCount: number;
  template: { data: DataType };
  /** EXT: why the last run made no job (its push was refused), if it did not. */
  lastError?: string;
}

/** A CRONLIST entry (src/dispatch/commands/cron.ts). */
interface CronEntry {
  name: string;
  queue: string;
  data: unknown;
  schedule: string | null;
  repeat_every: number | null;
  next_run: number;
  executions: number;
  limit: number | null;
  tz: string;
  last_error: string | null;
}

const repeatRefusals: Record<string, string> = {
  startDate: "the server's schedules have no start date (upsert the scheduler when it should start)",
  endDate: "the server's schedules have no end date; use limit, or removeJobScheduler",
  immediately: "the server makes a schedule's first job at its first slot (for every: one interval after the upsert)",
  offset: "the server runs `every` at a fixed rate from the upsert; there is no offset",
  count: "an internal of BullMQ's repeatable jobs",
  prevMillis: "an internal of BullMQ's repeatable jobs",
  millis: "an internal of BullMQ's repeatable jobs",
  key: "the scheduler id is the key",
  jobId: "each run's job gets the custom id cron:<scheduler id>:<slot ms>",
  currentDate: "the server computes runs from the current time",
  nthDayOfWeek: "use the pattern's day-of-week field (for example 1#2)",
};
const repeatFields = ["pattern", "every", "limit", "tz", "utc"];
/** Template options a schedule's jobs cannot have. */
const templateOptionRefusals: Record<string, string> = {
  jobId: "each run's job gets the custom id cron:<scheduler id>:<slot ms>",
  dependsOn: "a schedule's jobs cannot wait on fixed ids",
};

function invalid(message: string): RingqError {
  return new RingqError(message, "INVALID", "CRON");
}

/** The CRON request for a scheduler (everything checked before anything is sent). */
export function cronRequest(queue: string, id: string, repeat: RepeatOptions, template: JobSchedulerTemplate | undefined, defaults: JobsOptions | undefined): Record<string, unknown> {
  if (typeof id !== "string" || id === "") throw invalid("upsertJobScheduler: a scheduler id is required");
  if (repeat === null || typeof repeat !== "object") throw invalid("upsertJobScheduler: expected repeat options {pattern | every, limit?, tz?}");
  for (const [k, v] of Object.entries(repeat)) {
    if (v === undefined || repeatFields.includes(k)) continue;
    throw invalid(`upsertJobScheduler: repeat.${k}: ${repeatRefusals[k] ?? `unknown option (${repeatFields.join(", ")})`}`);
  }
  if ((repeat.pattern === undefined) === (repeat.every === undefined)) throw invalid("upsertJobScheduler: give repeat.pattern or repeat.every (one of them)");
  if (repeat.utc === false) throw invalid("upsertJobScheduler: repeat.utc: false (the process's local time) is not supported: give repeat.tz");
  if (repeat.utc === true && repeat.tz !== undefined && repeat.tz !== "UTC") throw invalid("upsertJobScheduler: repeat.utc and repeat.tz disagree");
  if (repeat.tz !== undefined && repeat.pattern === undefined) throw invalid("upsertJobScheduler: repeat.tz applies to a pattern, not to every");
  for (const k of Object.keys(template ?? {})) {
    if (k !== "name" && k !== "data" && k !== "opts") throw invalid(`upsertJobScheduler: template.${k}: unknown field (name, data, opts)`);
  }
  if (template?.name !== undefined && template.name !== id) {
    throw invalid(`upsertJobScheduler: template.name "${template.name}": the server names a schedule's jobs after the schedule (its id "${id}")`);
  }
  const opts = { ...defaults, ...template?.opts };
  for (const [k, v] of Object.entries(opts)) {
    if (v !== undefined && k in templateOptionRefusals) throw invalid(`upsertJobScheduler: template.opts.${k}: ${templateOptionRefusals[k]}`);
  }
  const req = toWireJob(id, template?.data ?? {}, opts, queue);
  // `name` is the schedule's: the server gives it to every job of the schedule.
  req.name = id;
  if (repeat.pattern !== undefined) req.schedule = repeat.pattern;
  if (repeat.every !== undefined) req.repeat_every = repeat.every;
  if (repeat.limit !== undefined) req.limit = repeat.limit;
  if (repeat.tz !== undefined) req.tz = repeat.tz;
  return req;
}

function fromEntry(e: CronEntry): JobSchedulerJson {
  const json: JobSchedulerJson = { key: e.name, id: e.name, name: e.name, next: e.next_run, iterationCount: e.executions, template: { data: e.data } };
  if (e.schedule !== null) {
    json.pattern = e.schedule;
    json.tz = e.tz;
  }
  if (e.repeat_every !== null) json.every = e.repeat_every;
  if (e.limit !== null) json.limit = e.limit;
  if (e.last_error !== null) json.lastError = e.last_error;
  return json;
}

/** The schedules of one queue, over the queue's connection. */
export class JobSchedulers {
  constructor(
    private readonly conn: Connection,
    private readonly queue: string,
  ) {}

  private async entries(): Promise<CronEntry[]> {
    const reply = await this.conn.request("CRONLIST", {});
    return (reply.crons ?? []) as CronEntry[];
  }

  /** Create or replace a schedule (CRON); resolves to the ms epoch of its first run. */
  async upsert(id: string, repeat: RepeatOptions, template: JobSchedulerTemplate | undefined, defaults: JobsOptions | undefined): Promise<number> {
    const req = cronRequest(this.queue, id, repeat, template, defaults);
    const other = (await this.entries()).find((e) => e.name === id && e.queue !== this.queue);
    if (other !== undefined) {
      throw new RingqError(`upsertJobScheduler: scheduler id "${id}" is used by queue "${other.queue}" (schedule names are server-wide)`, "DUPLICATE", "CRON");
    }
    const reply = await this.conn.request("CRON", req);
    return reply.next_run as number;
  }

  async get(id: string): Promise<JobSchedulerJson | undefined> {
    const e = (await this.entries()).find((x) => x.name === id && x.queue === this.queue);
    return e === undefined ? undefined : fromEntry(e);
  }

  /** The queue's schedules by next run (soonest first unless !asc), inclusive [start, end]. */
  async list(start: number, end: number, asc: boolean): Promise<JobSchedulerJson[]> {
    const mine = (await this.entries()).filter((e) => e.queue === this.queue).map(fromEntry);
    mine.sort((a, b) => (asc ? a.next - b.next : b.next - a.next));
    const n = mine.length;
    const a = Math.max(0, start < 0 ? n + start : start);
    const b = Math.min(n - 1, end < 0 ? n + end : end);
    return mine.slice(a, b + 1);
  }

  async count(): Promise<number> {
    return (await this.entries()).filter((e) => e.queue === this.queue).length;
  }

  /** Delete the schedule (CRONDELETE); false when the queue has none by that id. */
  async remove(id: string): Promise<boolean> {
    if ((await this.get(id)) === undefined) return false;
    try {
      await this.conn.request("CRONDELETE", { name: id });
      return true;
    } catch (err) {
      if (err instanceof CommandError && err.code === "NOT_FOUND") return false;
      throw err;
    }
  }
}
