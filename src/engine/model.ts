// The engine's data: the job record, the queue that owns it, and the closed set of job states.
// A Job's payload is the MessagePack bytes it arrived in (the server never needs to understand
// `data`), kept in the engine's payload arena (payloads.ts); rarely used fields live in a lazily
// created JobExtra so a plain waiting job stays small. The queue owns one structure per state,
// so per-queue work never scans all jobs. No behaviour here: transitions are in core.ts,
// delivery in delivery.ts.
// (Job and QueueState share this file because each refers to the other.)

import { activeIndexSlotsRetained, jobKindsPerNameMax, jobKindsPerQueueMax, kindPoliciesPerQueueMax, maxAttemptsDefault, stallTimeoutMsDefault } from "../constants.ts";
import { FinishedList } from "./finished-list.ts";
import { IndexedHeap, type HeapItem } from "./heap.ts";
import { IdMap } from "./id-map.ts";
import { PayloadArena } from "./payloads.ts";
import { ReadyQueue } from "./ready-queue.ts";

/**
 * Job states. Who moves a job out of each (core.ts has one function per move):
 * - Waiting: delivery (-> Active), expiry (-> Failed), cancel/discard/drain, MOVETODELAYED.
 *   A waiting job sits in its queue's ready line, or in the held list of its busy group.
 * - Delayed: the delay timer or PROMOTE (-> Waiting), expiry, cancel/discard/drain.
 * - Active: ACK (-> Completed), FAIL/timeout (-> Delayed/Waiting for a retry, or Failed),
 *   lease expiry (-> Waiting as a stall, or Failed after stallsMax), DISCARD, MOVETODELAYED.
 * - Completed: retention only (record and result removed).
 * - Failed: the DLQ. RETRYDLQ (-> Waiting), PURGEDLQ, retention.
 * - WaitingChildren / WaitingParent: blocked on dependencies or a flow's children (-> Waiting
 *   when they complete); held in the queue's `blocked` index.
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

export function isFinished(s: JobState): boolean {
  return s === JobState.Completed || s === JobState.Failed;
}

export interface LogEntry {
  timestamp: number;
  message: string;
  level: string;
}

/** A job's place in the ttl timer (ttl.ts); only jobs with a ttl have one. */
export class TtlEntry implements HeapItem {
  hi = -1;
  constructor(
    readonly job: Job,
    readonly deadline: number,
  ) {}
}

/** A finished record with its own age limit (keep_completed_age): its place in the timer. */
export class KeepEntry implements HeapItem {
  hi = -1;
  constructor(
    readonly job: Job,
    readonly deadline: number,
  ) {}
}

/** A deduplication window of a queue: pushes with `key` collapse into job `jobId` until
 *  `deadline` (Infinity: while that job is unfinished). In the window timer when it has an end. */
export class DedupWindow implements HeapItem {
  hi = -1;
  constructor(
    readonly queue: QueueState,
    readonly key: string,
    readonly jobId: number,
    readonly deadline: number,
  ) {}
}

/** FLOW children's `on_failure` (and what a depends_on dependency's failure does). */
export const enum DependencyFailure {
  Fail = 0,
  Ignore = 1,
  Continue = 2,
}
export const dependencyFailureNames = ["fail_parent", "ignore", "continue"] as const;

/** Fields most jobs never use; allocated only when one is set. The stored form of each is
 *  written out in persistence/codecs.ts (a test checks that every field is there). */
export class JobExtra {
  /** Lease expiries so far: read through Job's accessor. */
  stallCount = 0;
  /** Failed attempts so far: read through Job's accessor. */
  attempts = 0;
  uniqueKey: string | null = null;
  customId: string | null = null;
  groupId: string | null = null;
  /** Order inside the job's group (its seq when it started waiting); Job.seq is its place in
   *  the queue's line, renewed each time the job becomes its group's head (GroupLine). */
  groupSeq = 0;
  tags: string[] | null = null;
  /** Runtime only: the record's place in the retention's per-job age timer. */
  keepEntry: KeepEntry | null = null;
  /** debounce_id / deduplication.id: pushes with it collapse into this job until `dedupUntil`
   *  (ms epoch), or while the job is unfinished when that is 0. */
  dedupKey: string | null = null;
  dedupUntil = 0;
  progress = 0;
  progressMsg: string | null = null;
  result: Uint8Array | null = null;
  /** The last failure's message (failed_reason on the wire). */
  error: string | null = null;
  /** Stack traces of the failures that sent one, newest last (at most stackTracesPerJobMax). */
  stack: string[] | null = null;
  logs: LogEntry[] | null = null;
  dependsOn: number[] | null = null;
  /** Dependencies (or flow children) not yet resolved (WaitingChildren / WaitingParent). */
  pendingDeps = 0;
  /** A flow child: its parent's id (0: none). */
  parentId = 0;
  /** A flow parent: its children's ids, how many completed, and their results as they came. */
  childrenIds: number[] | null = null;
  childrenCompleted = 0;
  childValues: [id: number, result: Uint8Array | null, queue: string | null][] | null = null;
  /** What this job's final failure (or removal before completing) does to the jobs that wait on
   *  it: fail them (default), count as done (ignore), or let them run now (continue). */
  onFailure: DependencyFailure = DependencyFailure.Fail;
  /** Jobs waiting on this one's completion. */
  dependents: number[] | null = null;
  /** Runtime only, never stored: the job's entry in the ttl timer while it waits. */
  ttlEntry: TtlEntry | null = null;
}

/** What a job gets when it first runs, is delayed to a time other than its creation, enters a
 *  time heap or is given a rare option: kept apart so that a job that only waits, most of the
 *  server's memory, has 8 own fields. Read and written through Job's accessors. */
export class JobRun {
  startedAt = 0;
  /** Token of the current delivery; 0 when not active. */
  lockToken = 0;
  lastHeartbeat = 0;
  /** Key of the time heap holding the job: run-at when delayed, lease/timeout end when active,
   *  the finish time when completed or failed (Job.finishedAt). */
  deadline = 0;
  /** The rare fields (Job.x); null while the job has none. */
  x: JobExtra | null = null;
  constructor(public runAt: number) {}
}

/**
 * The options a job shares with the other jobs a producer pushes: its name, priority, retry
 * policy (attempts, backoff), leases and limits (stall timeout, timeout, ttl), order (lifo),
 * logs kept and what happens to its record when it finishes. They are given at the push and do
 * not change, except through CHANGEPRIORITY, which moves the job to another kind.
 */
export interface KindSpec {
  name: string | null;
  priority: number;
  maxAttempts: number;
  /** Base backoff ms (exponential unless backoffFixed). */
  backoff: number;
  backoffFixed: boolean;
  /** 0..1: retry delays drawn from [delay x (1 - jitter), delay]; 0: exact. */
  backoffJitter: number;
  stallTimeout: number;
  /** Processing timeout ms (0: none). */
  timeout: number;
  /** Ms a job may wait before it expires (0: no limit). */
  ttl: number;
  lifo: boolean;
  /** Log lines the job keeps (0: logsPerJobMax). */
  keepLogs: number;
  removeOnComplete: boolean;
  removeOnFail: boolean;
  /** Per-job retention of its finished record (0: the server's bounds): kept at most this long
   *  after finishing, and at most this many of its queue's records of that state are kept. */
  keepCompletedAge: number;
  keepCompletedCount: number;
  keepFailedAge: number;
  keepFailedCount: number;
}

/** The KindSpec fields past the first five: what a job of the plain kind has at its default
 *  (persistence stores them with the rare fields). */
export const kindPolicyFields = [
  "backoffFixed", "backoffJitter", "timeout", "ttl", "lifo", "keepLogs", "removeOnComplete", "removeOnFail",
  "keepCompletedAge", "keepCompletedCount", "keepFailedAge", "keepFailedCount",
] as const satisfies readonly (keyof KindSpec)[];

/** A KindSpec with these values and the defaults for the rest (a fresh object). */
export function kindSpec(o: Partial<KindSpec> = {}): KindSpec {
  return {
    name: null, priority: 0, maxAttempts: maxAttemptsDefault, backoff: 0, backoffFixed: false, backoffJitter: 0,
    stallTimeout: stallTimeoutMsDefault, timeout: 0, ttl: 0, lifo: false, keepLogs: 0, removeOnComplete: false,
    removeOnFail: false, keepCompletedAge: 0, keepCompletedCount: 0, keepFailedAge: 0, keepFailedCount: 0, ...o,
  };
}

/** A job's kind as a KindSpec, into `to` (what setKind starts from). */
export function copyKind(k: JobKind, to: KindSpec): KindSpec {
  to.name = k.name;
  to.priority = k.priority;
  const from = k.p;
  to.maxAttempts = from.maxAttempts;
  to.backoff = from.backoff;
  to.backoffFixed = from.backoffFixed;
  to.backoffJitter = from.backoffJitter;
  to.stallTimeout = from.stallTimeout;
  to.timeout = from.timeout;
  to.ttl = from.ttl;
  to.lifo = from.lifo;
  to.keepLogs = from.keepLogs;
  to.removeOnComplete = from.removeOnComplete;
  to.removeOnFail = from.removeOnFail;
  to.keepCompletedAge = from.keepCompletedAge;
  to.keepCompletedCount = from.keepCompletedCount;
  to.keepFailedAge = from.keepFailedAge;
  to.keepFailedCount = from.keepFailedCount;
  return to;
}

/**
 * The options of a KindSpec past its name and priority, shared by the kinds of one queue that
 * have them (QueueState.policyOf): producers use a few retry and retention policies, while
 * names and priorities may vary much more. Immutable.
 */
export class KindPolicy {
  readonly maxAttempts: number;
  readonly backoff: number;
  readonly backoffFixed: boolean;
  readonly backoffJitter: number;
  readonly stallTimeout: number;
  readonly timeout: number;
  readonly ttl: number;
  readonly lifo: boolean;
  readonly keepLogs: number;
  readonly removeOnComplete: boolean;
  readonly removeOnFail: boolean;
  readonly keepCompletedAge: number;
  readonly keepCompletedCount: number;
  readonly keepFailedAge: number;
  readonly keepFailedCount: number;
  /** Every kindPolicyFields value at its default (persistence writes none of them). */
  readonly plainPolicy: boolean;

  constructor(s: KindSpec) {
    this.maxAttempts = s.maxAttempts;
    this.backoff = s.backoff;
    this.backoffFixed = s.backoffFixed;
    this.backoffJitter = s.backoffJitter;
    this.stallTimeout = s.stallTimeout;
    this.timeout = s.timeout;
    this.ttl = s.ttl;
    this.lifo = s.lifo;
    this.keepLogs = s.keepLogs;
    this.removeOnComplete = s.removeOnComplete;
    this.removeOnFail = s.removeOnFail;
    this.keepCompletedAge = s.keepCompletedAge;
    this.keepCompletedCount = s.keepCompletedCount;
    this.keepFailedAge = s.keepFailedAge;
    this.keepFailedCount = s.keepFailedCount;
    this.plainPolicy =
      !s.backoffFixed && s.backoffJitter === 0 && s.timeout === 0 && s.ttl === 0 && !s.lifo && s.keepLogs === 0 &&
      !s.removeOnComplete && !s.removeOnFail && s.keepCompletedAge === 0 && s.keepCompletedCount === 0 &&
      s.keepFailedAge === 0 && s.keepFailedCount === 0;
  }

  is(s: KindSpec): boolean {
    return (
      this.maxAttempts === s.maxAttempts && this.backoff === s.backoff && this.stallTimeout === s.stallTimeout &&
      this.backoffFixed === s.backoffFixed && this.backoffJitter === s.backoffJitter && this.timeout === s.timeout &&
      this.ttl === s.ttl && this.lifo === s.lifo && this.keepLogs === s.keepLogs &&
      this.removeOnComplete === s.removeOnComplete && this.removeOnFail === s.removeOnFail &&
      this.keepCompletedAge === s.keepCompletedAge && this.keepCompletedCount === s.keepCompletedCount &&
      this.keepFailedAge === s.keepFailedAge && this.keepFailedCount === s.keepFailedCount
    );
  }
}

/**
 * What a job shares with the other jobs of its queue pushed with the same options: its queue,
 * name, priority and policy. A producer sends the same few combinations again and again, so
 * each queue keeps one kind per combination (QueueState.kindOf) and a Job holds one reference
 * for all of them. Immutable: a job whose priority changes moves to another kind. A kind the
 * queue's table has no room for is the job's own: 64 bytes, its policy still shared.
 */
export class JobKind {
  /** The next kind of the same name in the queue's table (a short chain). */
  next: JobKind | null = null;
  constructor(
    readonly queue: QueueState,
    readonly name: string | null,
    readonly priority: number,
    readonly p: KindPolicy,
  ) {}
}

/** What setKind builds the new kind's values in (one at a time: kindOf copies them). */
const kindScratch = kindSpec();

export class Job implements HeapItem {
  // At most 8 own fields: JSC sizes objects in steps (8 fields: 80 bytes, 9-12: 112, 13-16: 160;
  // measured with bun:jsc heapStats), and a waiting job is most of the server's memory. What
  // jobs share (queue, name, priority, retry policy) is one reference to a JobKind; what a job
  // needs only once it runs, is delayed or is given a rare option lives in `r` (and `r.x`),
  // behind accessors, so call sites read and write them as plain properties.
  /** Where the job sits in the structure of its state, or -1: a heap's index, or -2 - its
   *  position in a run (run-heap.ts: the ready line, the delay and lease timers), or its
   *  position in a finished list. */
  hi = -1;
  state: JobState = JobState.Waiting;
  /** Order inside a priority level: FIFO ascending; LIFO jobs take negative values. */
  seq = 0;
  /** Run-time and rare fields; null while the job has neither run, nor been delayed, nor been
   *  given a rare option. */
  r: JobRun | null;
  /** Where the queue's payload arena keeps `data` (payloads.ts); -1 once the job is forgotten. */
  d: number;
  /** Its queue, name, priority and retry policy, shared with like jobs. */
  k: JobKind;

  constructor(
    readonly id: number,
    queue: QueueState,
    /** null: the caller puts the payload in (Core.createJob, from a range of a frame). */
    data: Uint8Array | null,
    readonly createdAt: number,
    runAt: number,
    /** Its name and options (copied: kindOf finds or makes the queue's kind for them). */
    kind: KindSpec,
  ) {
    this.r = runAt === createdAt ? null : new JobRun(runAt);
    this.k = queue.kindOf(kind);
    this.d = data === null ? -1 : queue.payloads.put(this, data);
  }

  /** One of its kind's values changed (CHANGEPRIORITY, recovery): the job moves to the kind
   *  with the new value. */
  setKind<K extends keyof KindSpec>(key: K, v: KindSpec[K]): void {
    const k = this.k;
    const s = copyKind(k, kindScratch);
    if (s[key] === v) return;
    s[key] = v;
    this.k = k.queue.kindOf(s);
  }

  get queue(): QueueState {
    return this.k.queue;
  }
  get name(): string | null {
    return this.k.name;
  }
  set name(v: string | null) {
    this.setKind("name", v);
  }
  get priority(): number {
    return this.k.priority;
  }
  set priority(v: number) {
    this.setKind("priority", v);
  }
  get maxAttempts(): number {
    return this.k.p.maxAttempts;
  }
  set maxAttempts(v: number) {
    this.setKind("maxAttempts", v);
  }
  /** Base backoff ms (exponential unless k.p.backoffFixed). */
  get backoff(): number {
    return this.k.p.backoff;
  }
  set backoff(v: number) {
    this.setKind("backoff", v);
  }
  get stallTimeout(): number {
    return this.k.p.stallTimeout;
  }
  set stallTimeout(v: number) {
    this.setKind("stallTimeout", v);
  }
  /** The rare fields; null while none is set (extra() makes them). */
  get x(): JobExtra | null {
    const r = this.r;
    return r === null ? null : r.x;
  }
  /** Key of the time heap holding the job: run-at when delayed, lease/timeout end when active,
   *  the finish time when completed or failed (see finishedAt); 0 in none. */
  get deadline(): number {
    const r = this.r;
    return r === null ? 0 : r.deadline;
  }
  set deadline(v: number) {
    if (this.r !== null || v !== 0) this.run().deadline = v;
  }

  /** The payload's MessagePack bytes, as a view of the arena (hot paths use payloads.locate). */
  get data(): Uint8Array {
    return this.queue.payloads.view(this);
  }
  /** A new payload (UPDATE): copied in, the old one let go. */
  set data(v: Uint8Array) {
    const a = this.queue.payloads;
    a.free(this);
    this.d = a.put(this, v);
  }

  private run(): JobRun {
    return (this.r ??= new JobRun(this.createdAt));
  }

  /** When the job may run (its creation, unless it was delayed or retried with a backoff). */
  get runAt(): number {
    return this.r === null ? this.createdAt : this.r.runAt;
  }
  set runAt(v: number) {
    if (this.r !== null || v !== this.createdAt) this.run().runAt = v;
  }
  get startedAt(): number {
    return this.r === null ? 0 : this.r.startedAt;
  }
  set startedAt(v: number) {
    if (this.r !== null || v !== 0) this.run().startedAt = v;
  }
  /** Token of the current delivery; 0 when not active. */
  get lockToken(): number {
    return this.r === null ? 0 : this.r.lockToken;
  }
  set lockToken(v: number) {
    if (this.r !== null || v !== 0) this.run().lockToken = v;
  }
  get lastHeartbeat(): number {
    return this.r === null ? 0 : this.r.lastHeartbeat;
  }
  set lastHeartbeat(v: number) {
    if (this.r !== null || v !== 0) this.run().lastHeartbeat = v;
  }
  /** Failed attempts so far (FAIL and processing timeouts; stalls are counted apart). A failure
   *  gives the job its JobExtra anyway (its error), so the count lives there. */
  get attempts(): number {
    const x = this.x;
    return x === null ? 0 : x.attempts;
  }
  set attempts(v: number) {
    if (v !== 0 || this.x !== null) this.extra().attempts = v;
  }

  /**
   * When the job completed or failed for good, else 0. It shares `deadline`: a finished job is
   * in no time heap, so the slot is free. Set it only on a job
   * that no time heap holds (after detach, or in recovery before attach).
   */
  get finishedAt(): number {
    return isFinished(this.state) ? this.deadline : 0;
  }
  set finishedAt(v: number) {
    this.deadline = v;
  }

  /** Lease expiries so far (stallsMax of them send the job to the DLQ). */
  get stallCount(): number {
    return this.x === null ? 0 : this.x.stallCount;
  }
  set stallCount(v: number) {
    if (this.x !== null || v !== 0) this.extra().stallCount = v;
  }

  extra(): JobExtra {
    const r = this.run();
    return (r.x ??= new JobExtra());
  }

  get groupId(): string | null {
    return this.x === null ? null : this.x.groupId;
  }
}

export function stateName(job: Job | undefined): StateName {
  return job === undefined ? "unknown" : stateNames[job.state]!;
}

/** A bound on what one delivery may hand out besides the count (PULLB: one reply frame). */
export interface DeliveryLimit {
  /** Total cost allowed; the first job is always delivered. */
  readonly costMax: number;
  readonly cost: (job: Job) => number;
}

/** A parked PULL/PULLB. Delivery resolves it with jobs, or the pull timer with [] at its deadline. */
export interface PullWaiter {
  hi: number;
  deadline: number;
  queue: QueueState;
  count: number;
  done: boolean;
  resolve(jobs: Job[]): void;
  /** While true the waiter is passed over (its connection owes too much output). */
  blocked: (w: PullWaiter) => boolean;
  limit: DeliveryLimit | null;
}

/** Order inside a group: priority, then the order the jobs started waiting (x is set: group_id). */
export function groupBefore(a: Job, b: Job): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.x!.groupSeq < b.x!.groupSeq;
}

/** Events counted per queue (read by STATS and METRICS; written in one place, core.record). */
export class QueueCounters {
  pushed = 0;
  completed = 0;
  failed = 0;
  retried = 0;
  stalled = 0;
}

/** A queue's place in the retention timer (retention.ts), keyed by its oldest completed record. */
export class RetentionEntry implements HeapItem {
  hi = -1;
  deadline = 0;
  constructor(readonly queue: QueueState) {}
}

/**
 * The waiting jobs of one group (group_id) of a queue. At most one of them is in the queue's
 * ready line at a time, the `head`, and only while the group has fewer active jobs than the
 * queue's group concurrency; the rest wait in `pending` (group order: priority, then FIFO).
 * When the head is taken, the group's next job joins the BACK of the ready line (a fresh
 * sequence number; its order inside the group is JobExtra.groupSeq): at equal priority groups
 * take turns, so a busy group cannot starve others.
 */
export class GroupLine {
  readonly pending = new IndexedHeap<Job>(groupBefore);
  head: Job | null = null;
  active = 0;
  constructor(readonly name: string) {}

  get waiting(): number {
    return this.pending.size + (this.head === null ? 0 : 1);
  }
}

/** A queue's rate limit: a token bucket of `burst` tokens refilled at `perSecond`, one token per
 *  delivered job; `entry` is its place in the refill timer while pullers wait for a token. */
export class RateLimit implements HeapItem {
  hi = -1;
  /** When the next token is due (the refill timer's key). */
  deadline = 0;
  tokens: number;
  refilledAt: number;
  constructor(
    readonly queue: QueueState,
    readonly perSecond: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Tokens now (refilled lazily: no timer runs while nobody waits). */
  available(now: number): number {
    if (now > this.refilledAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
      this.refilledAt = now;
    }
    return this.tokens;
  }

  /** When the next whole token will be there. */
  nextTokenAt(now: number): number {
    const missing = 1 - this.available(now);
    return missing <= 0 ? now : now + Math.ceil((missing * 1000) / this.perSecond);
  }
}

export class QueueState {
  /** Waiting jobs that may be delivered, in delivery order (ungrouped ones, and the head of each group). */
  readonly ready = new ReadyQueue();
  /** Groups with waiting or active jobs (GroupLine). */
  readonly groups = new Map<string, GroupLine>();
  /** Waiting jobs in the groups' pending heaps (not in `ready`). */
  groupPending = 0;
  /** Active jobs allowed per group (SETCONCURRENCY group_limit; 1: FIFO per group). */
  groupConcurrency = 1;
  /** Active jobs allowed in the queue across workers (SETCONCURRENCY); 0: no limit. */
  concurrencyLimit = 0;
  /** RATELIMIT; null: none. */
  rateLimit: RateLimit | null = null;
  // Small indexes (a few hundred bytes empty): a queue must cost nearly nothing until used.
  // Delayed keeps insertion order (a Map: DRAIN walks it in steps); active churns with every
  // delivery, and an IdMap does that without a Map's deleted slots and rehashes.
  readonly delayed = new Map<number, Job>();
  readonly active = new IdMap<Job>(8, activeIndexSlotsRetained);
  /** WaitingChildren and WaitingParent jobs. */
  readonly blocked = new Map<number, Job>();
  /** Completed records in the order they completed (retention removes from the front). */
  readonly completed = new FinishedList();
  /** The DLQ: failed jobs in the order they failed. */
  readonly failed = new FinishedList();
  /** Parked pullers in arrival order (fair FIFO among workers). */
  waiters: PullWaiter[] = [];
  /** unique_key -> job id while that job is not finished. */
  readonly uniqueKeys = new Map<string, number>();
  /** Deduplication windows by key (debounce_id, deduplication.id); null until the first. */
  dedup: Map<string, DedupWindow> | null = null;
  paused = false;
  /** Listed in Core.toServe: a transition gave it deliverable work while pullers are parked. */
  servePending = false;
  /** Listed in Core.maybeEmpty: something left it; dropped after the operation if it is empty. */
  checkPending = false;
  /** Kept by name beyond the queue's life (Structures.countersOf), so totals never go back. */
  readonly counters: QueueCounters;
  readonly retention = new RetentionEntry(this);
  /** The name as MessagePack bytes, cached by the reply writer. */
  wireName: Uint8Array | null = null;
  /** Its jobs' kinds (JobKind): the default one (no name, default options) heads the chain of
   *  unnamed kinds, `kinds` holds the head of each name's chain, `lastKind` the last one used. */
  private readonly plainKind: JobKind;
  private lastKind: JobKind;
  private kinds: Map<string, JobKind> | null = null;
  private kindCount = 1;
  /** How many times the kind table started again (forgetKinds). */
  kindTablesForgotten = 0;
  /** Its kinds' policies (KindPolicy): the last one used, and the rest in a short list. */
  private lastPolicy: KindPolicy;
  private policies: KindPolicy[] | null = null;

  constructor(
    readonly name: string,
    counters = new QueueCounters(),
    /** Where its jobs' payloads live: the engine's arena, shared by its queues. */
    readonly payloads = new PayloadArena(),
  ) {
    this.counters = counters;
    const plain = kindSpec();
    this.lastPolicy = new KindPolicy(plain);
    this.plainKind = this.lastKind = new JobKind(this, null, 0, this.lastPolicy);
  }

  /** The kind of a job of this queue with these values: the last one used, or one from the
   *  queue's table, or a new one, kept in the table (jobKindsPerNameMax per name: past that,
   *  the job's own; jobKindsPerQueueMax in all: past that, the table starts again). */
  kindOf(s: KindSpec): JobKind {
    const last = this.lastKind;
    if (last.name === s.name && last.priority === s.priority && last.p.is(s)) return last;
    const policy = this.policyOf(s);
    const name = s.name;
    const head = name === null ? this.plainKind : this.kinds === null ? undefined : this.kinds.get(name);
    let n = 0;
    for (let k = head ?? null; k !== null; k = k.next, n++) {
      if (k.priority === s.priority && k.p === policy) return (this.lastKind = k);
    }
    const k = new JobKind(this, name, s.priority, policy);
    if (n >= jobKindsPerNameMax) return k;
    const at = this.kindCount >= jobKindsPerQueueMax ? this.forgetKinds(policy, name) : head;
    if (at === undefined) (this.kinds ??= new Map()).set(name!, k);
    else {
      k.next = at.next;
      at.next = k;
    }
    this.kindCount++;
    return (this.lastKind = k);
  }

  /** The kind table is full: it starts again, empty but for the default kind and `policy`.
   *  Kinds are immutable and a job holds its own, so the jobs of the old table keep theirs
   *  (and let them go with them); only the lookup forgets. Without this, a long-lived queue
   *  that once saw jobKindsPerQueueMax combinations gave every job of a new one a kind of its
   *  own for as long as it lived. A full table costs one such restart per
   *  jobKindsPerQueueMax new kinds at most. Returns the head of `name`'s chain in the emptied
   *  table (only the default kind's, for unnamed jobs, survives). */
  private forgetKinds(policy: KindPolicy, name: string | null): JobKind | undefined {
    this.kinds = null;
    this.plainKind.next = null;
    this.kindCount = 1;
    this.kindTablesForgotten++;
    const plain = this.plainKind.p;
    this.policies = policy === plain ? [plain] : [plain, policy];
    return name === null ? this.plainKind : undefined;
  }

  /** The queue's policy with these values (kept while it has room: kindPoliciesPerQueueMax). */
  private policyOf(s: KindSpec): KindPolicy {
    if (this.lastPolicy.is(s)) return this.lastPolicy;
    const list = (this.policies ??= [this.lastPolicy]);
    for (const p of list) if (p.is(s)) return (this.lastPolicy = p);
    const p = new KindPolicy(s);
    if (list.length < kindPoliciesPerQueueMax) list.push(p);
    return (this.lastPolicy = p);
  }

  /** Kinds in the queue's table (for tests and the census). */
  get kindsKept(): number {
    return this.kindCount;
  }

  /** Waiting jobs: in the ready line plus those pending in their group. */
  get waitingCount(): number {
    return this.ready.size + this.groupPending;
  }

  /** Any setting that is not the default (a queue with one is kept while empty, and stored). */
  hasSettings(): boolean {
    return this.paused || this.concurrencyLimit > 0 || this.groupConcurrency !== 1 || this.rateLimit !== null;
  }
  get delayedCount(): number {
    return this.delayed.size;
  }
  get completedCount(): number {
    return this.completed.size;
  }

  /** No job, no parked puller, no setting: the queue costs nothing to forget. */
  isEmpty(): boolean {
    return (
      this.ready.size === 0 &&
      this.groups.size === 0 &&
      this.delayed.size === 0 &&
      this.active.size === 0 &&
      this.blocked.size === 0 &&
      this.failed.size === 0 &&
      this.completed.size === 0 &&
      this.waiters.length === 0 &&
      (this.dedup === null || this.dedup.size === 0) &&
      !this.hasSettings()
    );
  }
}
