// The job record and its closed set of states. A Job holds its payload as the MessagePack bytes
// it arrived in (the server never needs to understand `data`); rarely used fields live in a
// lazily created `x` so a plain waiting job stays small. No behaviour here: see engine.ts.

import { maxAttemptsDefault, stallTimeoutMsDefault } from "../constants.ts";
import type { HeapItem } from "./heap.ts";
import type { QueueState } from "./queue.ts";

/**
 * Job states. Who moves a job out of each:
 * - Waiting: pull (-> Active), cancel/discard/drain, change of group/pause does not move it.
 * - Delayed: tick when run-at passes or PROMOTE (-> Waiting), cancel/discard/drain.
 * - Active: ACK (-> Completed), FAIL/timeout (-> Delayed/Waiting for retry, or Failed),
 *   lease expiry (-> Waiting as a stall, or Failed after stallsMax), DISCARD, MOVETODELAYED.
 * - Completed: retention pruning only (record and result removed).
 * - Failed: the DLQ. RETRYDLQ (-> Waiting), PURGEDLQ, retention.
 * - WaitingChildren / WaitingParent: dependency and flow states (dependencies complete -> Waiting).
 */
export const enum JobState {
  Waiting = 0,
  Delayed = 1,
  Active = 2,
  Completed = 3,
  Failed = 4,
  WaitingChildren = 5,
  WaitingParent = 6,
}

export const stateNames = [
  "waiting",
  "delayed",
  "active",
  "completed",
  "failed",
  "waitingchildren",
  "waitingparent",
] as const;
export type StateName = (typeof stateNames)[number] | "unknown";

export interface LogEntry {
  timestamp: number;
  message: string;
  level: string;
}

/** Fields most jobs never use; allocated only when one is set. */
export class JobExtra {
  /** Options that keep their defaults for most jobs: read through Job's accessors. */
  maxAttempts = maxAttemptsDefault;
  backoff = 0;
  stallTimeout = stallTimeoutMsDefault;
  stallCount = 0;
  ttl = 0;
  timeout = 0;
  backoffFixed = false;
  uniqueKey: string | null = null;
  customId: string | null = null;
  groupId: string | null = null;
  tags: string[] | null = null;
  lifo = false;
  removeOnComplete = false;
  removeOnFail = false;
  progress = 0;
  progressMsg: string | null = null;
  result: Uint8Array | null = null;
  error: string | null = null;
  logs: LogEntry[] | null = null;
  dependsOn: number[] | null = null;
  /** Dependencies not yet completed (WaitingChildren). */
  pendingDeps = 0;
  /** Jobs waiting on this one's completion. */
  dependents: number[] | null = null;
}

export class Job implements HeapItem {
  // At most 16 own fields: JSC sizes objects in steps (12 fields: 112 bytes, 16: 160, 20: 224;
  // measured with bun:jsc heapStats), and a waiting job is most of the server's memory. Fields
  // that usually keep a default (max attempts, backoff, stall timeout, stall count) live in `x`
  // behind accessors, so call sites read and write them as plain properties.
  /** Index in whichever heap holds the job (ready, delay or lease), or -1. */
  hi = -1;
  state: JobState = JobState.Waiting;
  /** Order inside a priority level: FIFO ascending; LIFO jobs take negative values. */
  seq = 0;
  /** Key of the time heap holding the job: run-at when delayed, lease/timeout end when active. */
  deadline = 0;
  startedAt = 0;
  /** Failed attempts so far (FAIL and processing timeouts; stalls are counted apart). */
  attempts = 0;
  /** Token of the current delivery; 0 when not active. */
  lockToken = 0;
  lastHeartbeat = 0;
  x: JobExtra | null = null;
  /** The producer's name for the job (BullMQ's job.name; a ringq extension of the wire). */
  name: string | null = null;

  constructor(
    readonly id: number,
    readonly queue: QueueState,
    public data: Uint8Array,
    public priority: number,
    readonly createdAt: number,
    public runAt: number,
    maxAttempts: number,
    /** Base backoff ms (exponential unless x.backoffFixed). */
    backoff: number,
    stallTimeout: number,
  ) {
    if (maxAttempts !== maxAttemptsDefault) this.extra().maxAttempts = maxAttempts;
    if (backoff !== 0) this.extra().backoff = backoff;
    if (stallTimeout !== stallTimeoutMsDefault) this.extra().stallTimeout = stallTimeout;
  }

  /**
   * When the job completed or failed for good, else 0. It shares `deadline`: a finished job is
   * in no time heap, so the slot is free (and the Job keeps 16 own fields). Set it only on a job
   * that no time heap holds (after detach, or in recovery before attach).
   */
  get finishedAt(): number {
    return this.state === JobState.Completed || this.state === JobState.Failed ? this.deadline : 0;
  }
  set finishedAt(v: number) {
    this.deadline = v;
  }

  get maxAttempts(): number {
    return this.x === null ? maxAttemptsDefault : this.x.maxAttempts;
  }
  set maxAttempts(v: number) {
    if (this.x !== null || v !== maxAttemptsDefault) this.extra().maxAttempts = v;
  }
  /** Base backoff ms (exponential unless x.backoffFixed). */
  get backoff(): number {
    return this.x === null ? 0 : this.x.backoff;
  }
  set backoff(v: number) {
    if (this.x !== null || v !== 0) this.extra().backoff = v;
  }
  get stallTimeout(): number {
    return this.x === null ? stallTimeoutMsDefault : this.x.stallTimeout;
  }
  set stallTimeout(v: number) {
    if (this.x !== null || v !== stallTimeoutMsDefault) this.extra().stallTimeout = v;
  }
  /** Lease expiries so far (stallsMax of them send the job to the DLQ). */
  get stallCount(): number {
    return this.x === null ? 0 : this.x.stallCount;
  }
  set stallCount(v: number) {
    if (this.x !== null || v !== 0) this.extra().stallCount = v;
  }

  extra(): JobExtra {
    return (this.x ??= new JobExtra());
  }

  get groupId(): string | null {
    return this.x === null ? null : this.x.groupId;
  }
}

export function stateName(job: Job | undefined): StateName {
  return job === undefined ? "unknown" : stateNames[job.state]!;
}
