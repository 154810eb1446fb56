// BullMQ's job options (JobsOptions) and their translation to the PUSH fields of PROTOCOL.md.
// Every BullMQ option name is either translated here or refused by name with the reason: a
// migrated producer must not lose a behaviour without hearing about it. Values the server also
// checks (ranges, name syntax) are left to the server, whose message reaches the caller; only
// what the client itself must translate (priority, backoff) is checked here.

import { priorityMax } from "./constants.ts";
import { RingqError } from "./errors.ts";

export interface BackoffOptions {
  type: "fixed" | "exponential";
  /** Base delay, ms. */
  delay: number;
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
  /** true removes the record on completion (counts and {age, count} are not supported yet). */
  removeOnComplete?: boolean;
  /** true removes the record when the job fails for good (counts and {age, count}: not yet). */
  removeOnFail?: boolean;
  /** Largest JSON size of `data` in bytes; a bigger job is refused before it is sent. */
  sizeLimit?: number;
  /** BullMQ deduplication without ttl: a duplicate add returns the job that holds the id. */
  deduplication?: { id: string };
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
  /** EXT: free-form tags. */
  tags?: string[];
}

const notYet = "not supported by ringq's client yet";

/**
 * BullMQ job options the client refuses, each with the reason given in the error. Options that
 * arrive with the server features being added (flows, schedulers, retention counts, debounce)
 * say so; docs/migrating-from-bullmq.md lists the same names.
 */
export const jobOptionRefusals: Readonly<Record<string, string>> = {
  repeat: `${notYet} (job schedulers / repeatable jobs)`,
  repeatJobKey: `${notYet} (job schedulers / repeatable jobs)`,
  prevMillis: `${notYet} (job schedulers / repeatable jobs)`,
  parent: `${notYet} (flows)`,
  failParentOnFailure: `${notYet} (flows)`,
  continueParentOnFailure: `${notYet} (flows)`,
  ignoreDependencyOnFailure: `${notYet} (flows)`,
  removeDependencyOnFailure: `${notYet} (flows)`,
  dependsOn: `${notYet} (depends_on)`,
  keepLogs: "the server keeps the last 1,000 log lines of a job; a per-job count is not supported",
  stackTraceLimit: `${notYet} (stack traces are not stored)`,
  timestamp: "the server sets the creation time itself",
  telemetry: "ringq's client has no OpenTelemetry integration",
};

/** Refusals of parts of an option value (the option itself is supported). */
const notYetValue = {
  removeOnComplete: `removeOnComplete: only true/false; a count or {age, count} is ${notYet}`,
  removeOnFail: `removeOnFail: only true/false; a count or {age, count} is ${notYet}`,
  deduplicationTtl: `deduplication.ttl: ${notYet} (debounce); without ttl the id is held until the job finishes`,
  backoffJitter: `backoff.jitter: ${notYet}`,
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
        if (typeof value !== "boolean") throw invalid(notYetValue.removeOnComplete);
        job.remove_on_complete = value;
        break;
      case "removeOnFail":
        if (typeof value !== "boolean") throw invalid(notYetValue.removeOnFail);
        job.remove_on_fail = value;
        break;
      case "sizeLimit":
        checkSizeLimit(data, value);
        break;
      case "deduplication":
        job.unique_key = dedupId(value);
        break;
      default:
        if (key in jobOptionRefusals) throw invalid(`${key}: ${jobOptionRefusals[key]}`);
        throw invalid(`unknown job option "${key}"`);
    }
  }
  return job;
}

/** BullMQ: a number is a fixed delay; {type, delay} as given. Custom strategies need the server. */
function toWireBackoff(value: unknown): unknown {
  if (typeof value === "number") return { type: "fixed", delay: value };
  if (value === null || typeof value !== "object") throw invalid("backoff: expected a number (ms) or {type, delay}");
  const b = value as { type?: unknown; delay?: unknown; jitter?: unknown };
  for (const k in b) {
    if (k === "jitter") {
      if (b.jitter !== undefined && b.jitter !== 0) throw invalid(notYetValue.backoffJitter);
    } else if (k !== "type" && k !== "delay") throw invalid(`backoff: unknown field "${k}"`);
  }
  if (b.type !== "fixed" && b.type !== "exponential") {
    throw invalid(`backoff.type: "fixed" or "exponential" (custom strategies are not supported), got ${JSON.stringify(b.type)}`);
  }
  return { type: b.type, delay: b.delay ?? 0 };
}

function dedupId(value: unknown): string {
  if (value === null || typeof value !== "object" || typeof (value as { id?: unknown }).id !== "string") {
    throw invalid("deduplication: expected {id: string}");
  }
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    if (k === "id" || v === undefined) continue;
    if (k === "ttl") throw invalid(notYetValue.deduplicationTtl);
    throw invalid(`deduplication.${k}: ${notYet}`);
  }
  return (value as { id: string }).id;
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
