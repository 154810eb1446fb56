// BullMQ's job options (JobsOptions) and their translation to the PUSH fields of docs/protocol.md.
// Every BullMQ option name is either translated here or refused by name with the reason: a
// migrated producer must not lose a behaviour without hearing about it. Values the server also
// checks (ranges, name syntax) are left to the server, whose message reaches the caller; only
// what the client itself must translate (priority, backoff, retention ages, dependency ids) or
// whose server refusal would not name the field (backoff.jitter) is checked here.

import { priorityMax } from "./constants.ts";
import { RingqError } from "./errors.ts";

/** BullMQ's KeepJobs: age in seconds, count of records. */
export interface KeepJobs {
  age?: number;
  count?: number;
}

export interface BackoffOptions {
  type: "fixed" | "exponential";
  /** Base delay, ms. */
  delay: number;
  /** 0 to 1: each retry's delay is drawn from [delay x (1 - jitter), delay] (BullMQ's meaning). */
  jitter?: number;
}

/** Options of `queue.add` (BullMQ's JobsOptions, plus ringq extensions marked EXT). */
export interface JobsOptions {
  /** Total attempts including the first (wire: max_attempts). Default 1, as in BullMQ. */
  attempts?: number;
  /** Retry delay: a number is a fixed delay in ms (as in BullMQ), or {type, delay}. */
  backoff?: number | BackoffOptions;
  /** Ms before the job becomes ready. */
  delay?: number;
  /**
   * BullMQ's order: 1 runs before 10, and jobs without a priority (or 0) before every
   * prioritized one; an integer from 0 to 2,097,151. Sent as `-priority` (the wire runs higher
   * first), see priority.ts.
   */
  priority?: number;
  /** Custom id (wire: job_id): adding a live custom id again returns the existing job. */
  jobId?: string;
  lifo?: boolean;
  /**
   * true removes the record on completion; a number n keeps the queue's last n completed;
   * {age (seconds, as in BullMQ), count} keeps them that long and/or that many.
   */
  removeOnComplete?: boolean | number | KeepJobs;
  /** The same for jobs that failed for good (the dead-letter queue). */
  removeOnFail?: boolean | number | KeepJobs;
  /** Largest JSON size of `data` in bytes; a bigger job is refused before it is sent. */
  sizeLimit?: number;
  /**
   * BullMQ deduplication: an add with the id of a standing window makes no job and returns the
   * job that opened it. Without ttl the window lasts while that job is unfinished; with ttl
   * (ms) it lasts that long (BullMQ's debounce mode).
   */
  deduplication?: { id: string; ttl?: number };
  /** Ids of jobs that must complete first (wire: depends_on): the job waits in waiting-children. */
  dependsOn?: (string | number)[];
  /** EXT: processing time limit, ms; running longer is a failed attempt. */
  timeout?: number;
  /** EXT: ms from creation after which an undelivered job expires. */
  ttl?: number;
  /** EXT: reject a duplicate while the first is unfinished (wire: unique_key). */
  uniqueKey?: string;
  /** EXT: at most one active job per group (wire: group_id). */
  groupId?: string;
  /** EXT: lease of a pulled job, ms (wire: stall_timeout); the Worker heartbeats well inside it. */
  stallTimeout?: number;
  /** How many of the job's log lines are kept, the last ones (wire: keep_logs, 1 to 1,000). */
  keepLogs?: number;
  /** EXT: free-form tags. */
  tags?: string[];
}

const flowChildOnly = "applies to a child of a flow: give it in the child's opts in FlowProducer.add (PUSH takes no parent)";

/**
 * BullMQ job options the client refuses, each with the reason given in the error (what to use
 * instead, where there is something); docs/migrating-from-bullmq.md lists the same names.
 */
export const jobOptionRefusals: Readonly<Record<string, string>> = {
  repeat:
    "queue.add does not schedule: the server makes each run's job when it is due, so there is no first job to return; use queue.upsertJobScheduler(id, {pattern | every}, {name, data, opts})",
  repeatJobKey: "an internal of BullMQ's repeatable jobs; use queue.upsertJobScheduler",
  prevMillis: "an internal of BullMQ's repeatable jobs; use queue.upsertJobScheduler",
  parent: "the server creates a child only together with its parent (FLOW); PUSH takes no parent: use FlowProducer.add",
  failParentOnFailure: flowChildOnly,
  continueParentOnFailure: flowChildOnly,
  ignoreDependencyOnFailure: flowChildOnly,
  removeDependencyOnFailure:
    "the server has no mode that forgets a failed child; ignoreDependencyOnFailure lets the parent run the same way but keeps the failure listed",
  stackTraceLimit:
    "the server stores no per-job stack trace limit, so the Worker that fails the job (maybe in another process) cannot apply it; the server keeps each job's last 10 stack traces",
  timestamp: "the server sets the creation time itself",
  telemetry: "ringq's client has no OpenTelemetry integration",
};

function invalid(message: string): RingqError {
  return new RingqError(message, "INVALID");
}

/** BullMQ priority (1 first, 0 = none) -> the wire's "higher first"; undefined for none. */
export function toWirePriority(priority: unknown): number | undefined {
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 0 || priority > priorityMax) {
    throw invalid(`priority: expected an integer from 0 to ${priorityMax} (BullMQ's range), got ${JSON.stringify(priority)}`);
  }
  return priority === 0 ? undefined : -priority;
}

/**
 * The wire priority back in BullMQ's terms: 0 for none. A positive wire priority (pushed by a
 * flashQ client: it runs before every job this client adds) has no BullMQ equivalent: 0.
 */
export function fromWirePriority(wire: number | null | undefined): number {
  return typeof wire === "number" && wire < 0 ? -wire : 0;
}

/**
 * Wire fields of one job: one entry of PUSHB `jobs`, or with `queue` the fields of a PUSH (in
 * the literal, so the object is built in one shape).
 */
export function toWireJob(name: string, data: unknown, opts: JobsOptions | undefined, queue?: string): Record<string, unknown> {
  // `name` is a ringq extension (flashQ servers ignore it): ringq keeps it and returns it.
  // BullMQ's default is one attempt; the server's is three, so the default is always sent.
  const job: Record<string, unknown> =
    queue === undefined ? { name, data: data === undefined ? null : data, max_attempts: 1 } : { queue, name, data: data === undefined ? null : data, max_attempts: 1 };
  if (opts === undefined) return job;
  for (const key in opts) {
    const value = (opts as Record<string, unknown>)[key];
    if (value === undefined) continue;
    switch (key) {
      case "attempts":
        job.max_attempts = value;
        break;
      case "backoff":
        job.backoff = toWireBackoff(value);
        break;
      case "delay":
        job.delay = value;
        break;
      case "priority": {
        const wire = toWirePriority(value);
        if (wire !== undefined) job.priority = wire;
        break;
      }
      case "jobId":
        job.job_id = value;
        break;
      case "lifo":
        job.lifo = value;
        break;
      case "timeout":
        job.timeout = value;
        break;
      case "ttl":
        job.ttl = value;
        break;
      case "uniqueKey":
        job.unique_key = value;
        break;
      case "groupId":
        job.group_id = value;
        break;
      case "stallTimeout":
        job.stall_timeout = value;
        break;
      case "tags":
        job.tags = value;
        break;
      case "removeOnComplete":
        job.remove_on_complete = toWireKeep(key, value);
        break;
      case "removeOnFail":
        job.remove_on_fail = toWireKeep(key, value);
        break;
      case "dependsOn":
        job.depends_on = toWireIds(value);
        break;
      case "keepLogs":
        job.keep_logs = value;
        break;
      case "sizeLimit":
        checkSizeLimit(data, value);
        break;
      case "deduplication":
        job.deduplication = toWireDedup(value);
        break;
      default:
        if (key in jobOptionRefusals) throw invalid(`${key}: ${jobOptionRefusals[key]}`);
        throw invalid(`unknown job option "${key}"`);
    }
  }
  return job;
}

/** BullMQ: a number is a fixed delay; {type, delay, jitter?} as given. Custom strategies need the server. */
function toWireBackoff(value: unknown): unknown {
  if (typeof value === "number") return { type: "fixed", delay: value };
  if (value === null || typeof value !== "object") throw invalid("backoff: expected a number (ms) or {type, delay}");
  const b = value as { type?: unknown; delay?: unknown; jitter?: unknown };
  for (const k in b) {
    if (k !== "type" && k !== "delay" && k !== "jitter") throw invalid(`backoff: unknown field "${k}"`);
  }
  if (b.type !== "fixed" && b.type !== "exponential") {
    throw invalid(`backoff.type: "fixed" or "exponential" (custom strategies are not supported), got ${JSON.stringify(b.type)}`);
  }
  // Checked here: the server's refusal of a bad one names only `backoff`.
  if (b.jitter !== undefined && !(typeof b.jitter === "number" && b.jitter >= 0 && b.jitter <= 1)) {
    throw invalid(`backoff.jitter: expected a number from 0 to 1, got ${JSON.stringify(b.jitter)}`);
  }
  return b.jitter === undefined ? { type: b.type, delay: b.delay ?? 0 } : { type: b.type, delay: b.delay ?? 0, jitter: b.jitter };
}

/** BullMQ's {id, ttl?} as the server takes it; its other modes are refused by name. */
function toWireDedup(value: unknown): { id: string; ttl?: number } {
  if (value === null || typeof value !== "object" || typeof (value as { id?: unknown }).id !== "string") {
    throw invalid("deduplication: expected {id: string, ttl?: ms}");
  }
  const d = value as { id: string; ttl?: unknown };
  for (const k in d) {
    if (k === "id" || k === "ttl" || (d as Record<string, unknown>)[k] === undefined) continue;
    throw invalid(`deduplication.${k}: ${dedupModeRefusals[k] ?? "unknown field"}`);
  }
  return d.ttl === undefined ? { id: d.id } : { id: d.id, ttl: d.ttl as number };
}

const dedupModeRefusals: Record<string, string> = {
  extend: "the server does not extend a window on a duplicate (it lasts ttl from the first add)",
  replace: "the server does not replace the standing job's data on a duplicate",
  reschedule: "the server does not reschedule the standing job on a duplicate",
  keepLastIfActive: "the server does not keep a duplicate of an active job",
};

/**
 * BullMQ's KeepJobs -> the wire: a boolean or a count as given; {age, count} with the age in
 * ms (BullMQ's is seconds). `limit` (how many BullMQ removes per call) is the server's own.
 */
function toWireKeep(option: string, value: unknown): unknown {
  if (typeof value === "boolean" || typeof value === "number") return value;
  if (value === null || typeof value !== "object") throw invalid(`${option}: expected true/false, a count, or {age (seconds), count}`);
  const out: { age?: number; count?: number } = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (k === "age") {
      if (typeof v !== "number" || !(v > 0)) throw invalid(`${option}.age: expected seconds > 0, got ${JSON.stringify(v)}`);
      out.age = Math.ceil(v * 1000);
    } else if (k === "count") out.count = v as number;
    else if (k === "limit") throw invalid(`${option}.limit: the server removes old records in batches of its own`);
    else throw invalid(`${option}.${k}: unknown field (age, count)`);
  }
  return out;
}

/** dependsOn: server ids (numbers or numeric strings; a custom id is not an id). */
function toWireIds(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalid("dependsOn: expected an array of job ids");
  return value.map((id) => {
    if (typeof id === "number" && Number.isInteger(id) && id >= 0) return id;
    if (typeof id === "string" && /^\d+$/.test(id)) return Number(id);
    throw invalid(`dependsOn: ${JSON.stringify(id)} is not a job id (the server's numeric id; custom ids are not accepted)`);
  });
}

function checkSizeLimit(data: unknown, limit: unknown): void {
  if (typeof limit !== "number" || !(limit >= 0)) throw invalid("sizeLimit: expected a number of bytes");
  const bytes = new TextEncoder().encode(JSON.stringify(data ?? null)).length;
  if (bytes > limit) throw invalid(`sizeLimit: the job's data is ${bytes} bytes as JSON, over its sizeLimit of ${limit}`);
}

/** Merge defaults under per-job options (BullMQ's defaultJobOptions). */
export function withDefaults(defaults: JobsOptions | undefined, opts: JobsOptions | undefined): JobsOptions | undefined {
  if (defaults === undefined) return opts;
  if (opts === undefined) return defaults;
  return { ...defaults, ...opts };
}
