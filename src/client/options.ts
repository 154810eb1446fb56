// BullMQ-style job options and their translation to the PUSH fields of PROTOCOL.md.
// An option the server cannot honour is an error here, never silently dropped: a migrated
// producer must not lose a behaviour without hearing about it. No validation the server also
// does (ranges, name syntax): the server's message is the authority and reaches the caller.

import { RingqError } from "./errors.ts";

export interface BackoffOptions {
  type: "fixed" | "exponential";
  /** Base delay, ms. */
  delay: number;
}

/** Options of `queue.add` (BullMQ's JobsOptions, plus ringq extensions marked EXT). */
export interface JobsOptions {
  /** Total attempts including the first (wire: max_attempts). */
  attempts?: number;
  /** Retry delay: ms (exponential) or {type, delay}. */
  backoff?: number | BackoffOptions;
  /** Ms before the job becomes ready. */
  delay?: number;
  /**
   * Higher runs first (ringq/flashQ semantics). NOTE: BullMQ is the opposite (1 is highest);
   * see README. Sent as-is.
   */
  priority?: number;
  /** Custom id (wire: job_id): adding a live custom id again returns the existing job. */
  jobId?: string;
  lifo?: boolean;
  /** true removes the record on completion; a number keeps that many; {age (s), count}. */
  removeOnComplete?: boolean | number | { age?: number; count?: number };
  /** Only true/false: the server has no count/age retention for failed jobs. */
  removeOnFail?: boolean;
  /** Processing time limit, ms; running longer is a failed attempt. */
  timeout?: number;
  /** EXT: ms from creation after which an undelivered job expires. */
  ttl?: number;
  /** BullMQ deduplication: with ttl -> debounce, without -> unique key while unfinished. */
  deduplication?: { id: string; ttl?: number };
  /** EXT: reject a duplicate while the first is unfinished (wire: unique_key). */
  uniqueKey?: string;
  /** EXT: ids that must complete first (wire: depends_on). */
  dependsOn?: (number | string)[];
  /** EXT: at most one active job per group (wire: group_id). */
  groupId?: string;
  /** EXT: lease of a pulled job, ms (wire: stall_timeout); the Worker heartbeats well inside it. */
  stallTimeout?: number;
  /** EXT: free-form tags. */
  tags?: string[];
}

/** BullMQ options with no effect on ringq that are safe to ignore (they only shape Redis keys/logs). */
const ignored = new Set(["stackTraceLimit", "keepLogs", "sizeLimit", "timestamp", "prevMillis", "telemetry"]);
/** BullMQ options ringq cannot honour, with what to use instead. */
const unsupported: Record<string, string> = {
  repeat: "use a CRON command for repeatable jobs",
  parent: "use the dependsOn option (depends_on) or a FLOW",
  failParentOnFailure: "parent/child flows are not supported by this client yet",
  onChildFailure: "parent/child flows are not supported by this client yet",
};

/** Wire fields of one job (PUSH minus cmd/queue, or one entry of PUSHB `jobs`). */
export function toWireJob(name: string, data: unknown, opts: JobsOptions | undefined): Record<string, unknown> {
  // `name` is a ringq extension (flashQ servers ignore it): ringq keeps it and returns it.
  const job: Record<string, unknown> = { name, data: data === undefined ? null : data };
  if (opts === undefined) return job;
  for (const key in opts) {
    const value = (opts as Record<string, unknown>)[key];
    if (value === undefined) continue;
    switch (key) {
      case "attempts":
        job.max_attempts = value;
        break;
      case "backoff":
        job.backoff = value;
        break;
      case "delay":
        job.delay = value;
        break;
      case "priority":
        job.priority = value;
        break;
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
      case "dependsOn":
        job.depends_on = (value as (number | string)[]).map(Number);
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
        mapRemoveOnComplete(job, value as JobsOptions["removeOnComplete"]);
        break;
      case "removeOnFail":
        if (typeof value !== "boolean") {
          throw new RingqError(
            "removeOnFail: only true/false is supported (the server keeps failed jobs in the DLQ until PURGEDLQ)",
            "INVALID",
          );
        }
        job.remove_on_fail = value;
        break;
      case "deduplication": {
        const d = value as { id: string; ttl?: number };
        if (d.ttl !== undefined) {
          job.debounce_id = d.id;
          job.debounce_ttl = d.ttl;
        } else job.unique_key = d.id;
        break;
      }
      default:
        if (ignored.has(key)) break;
        if (key in unsupported) throw new RingqError(`${key}: not supported; ${unsupported[key]}`, "INVALID");
        throw new RingqError(`unknown job option "${key}"`, "INVALID");
    }
  }
  return job;
}

function mapRemoveOnComplete(job: Record<string, unknown>, value: JobsOptions["removeOnComplete"]): void {
  if (typeof value === "boolean") job.remove_on_complete = value;
  else if (typeof value === "number") job.keep_completed_count = value;
  else if (value !== null && typeof value === "object") {
    // BullMQ's age is in seconds; the wire speaks milliseconds.
    if (value.age !== undefined) job.keep_completed_age = value.age * 1000;
    if (value.count !== undefined) job.keep_completed_count = value.count;
  } else throw new RingqError("removeOnComplete: expected a boolean, a count or {age, count}", "INVALID");
}

/** Merge defaults under per-job options (BullMQ's defaultJobOptions). */
export function withDefaults(defaults: JobsOptions | undefined, opts: JobsOptions | undefined): JobsOptions | undefined {
  if (defaults === undefined) return opts;
  if (opts === undefined) return defaults;
  return { ...defaults, ...opts };
}
