// The queue engine: jobs, queues, heaps, timers and the job state machine. Synchronous, no I/O,
// time from an injected clock; tick(now) does the due work and returns the next deadline.
// Each transition is one method that checks the from-state, detaches the job from the structure
// of its old state (detach releases group, lease and lock in ONE place), attaches it to the new
// one, writes one journal entry and emits one event. Admin queries live in queries.ts.

import { IdMap } from "./id-map.ts";
import {
  backoffMsMax,
  finishedJobAgeMsDefault,
  finishedJobsKeptDefault,
  logsPerJobMax,
  maxAttemptsDefault,
  prunePerTickMax,
  stallTimeoutMsDefault,
  stallsMax,
  timersPerTickMax,
} from "../constants.ts";
import { ClientError } from "./errors.ts";
import { IndexedHeap } from "./heap.ts";
import { Job, JobState, stateName } from "./job.ts";
import { noJournal, type Journal } from "./journal.ts";
import { QueueState, type PullWaiter } from "./queue.ts";

export interface PushInput {
  queue: string;
  /** MessagePack bytes of the job's data. */
  data: Uint8Array;
  priority?: number;
  delay?: number;
  ttl?: number;
  timeout?: number;
  maxAttempts?: number;
  backoff?: number;
  backoffFixed?: boolean;
  uniqueKey?: string;
  customId?: string;
  tags?: string[];
  lifo?: boolean;
  removeOnComplete?: boolean;
  removeOnFail?: boolean;
  stallTimeout?: number;
  groupId?: string;
  name?: string;
}

export interface EngineOptions {
  now: () => number;
  journal?: Journal;
  /** Completed records kept (count, across queues) and their age limit; DLQ size per queue. */
  keepFinished?: number;
  keepFinishedAgeMs?: number;
}

/** Outcome of a job for WAITJOB. */
export type Finish =
  | { kind: "completed"; job: Job }
  | { kind: "failed"; job: Job }
  | { kind: "removed"; id: number }
  | { kind: "timeout"; id: number };

interface FinishWaiter {
  hi: number;
  deadline: number;
  id: number;
  done: boolean;
  resolve(f: Finish): void;
}

export type EngineEvent =
  | "waiting"
  | "delayed"
  | "active"
  | "completed"
  | "retried"
  | "failed"
  | "stalled"
  | "removed"
  | "progress";

const byDeadline = (a: { deadline: number }, b: { deadline: number }) => a.deadline < b.deadline;

export class Engine {
  readonly jobs = new IdMap<Job>();
  readonly queues = new Map<string, QueueState>();
  /** Custom id (job_id) -> job id, while the engine keeps the job's record. */
  readonly customIds = new Map<string, number>();
  /** Completed records in completion order, for retention. */
  readonly completed = new Map<number, Job>();
  private readonly delayed = new IndexedHeap<Job>(byDeadline);
  private readonly leases = new IndexedHeap<Job>(byDeadline);
  private readonly pullTimers = new IndexedHeap<PullWaiter>(byDeadline);
  private readonly finishTimers = new IndexedHeap<FinishWaiter>(byDeadline);
  private readonly finishWaiters = new Map<number, FinishWaiter[]>();
  nextId = 1;
  private seq = 0;
  private lastToken = 0;
  readonly now: () => number;
  journal: Journal;
  keepFinished: number;
  keepFinishedAgeMs: number;
  onEvent: ((event: EngineEvent, job: Job) => void) | null = null;
  totalPushed = 0;
  totalCompleted = 0;
  totalFailed = 0;

  constructor(opts: EngineOptions) {
    this.now = opts.now;
    this.journal = opts.journal ?? noJournal;
    this.keepFinished = opts.keepFinished ?? finishedJobsKeptDefault;
    this.keepFinishedAgeMs = opts.keepFinishedAgeMs ?? finishedJobAgeMsDefault;
  }

  queue(name: string): QueueState {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new QueueState(name);
      this.queues.set(name, q);
    }
    return q;
  }

  getJob(id: number): Job | undefined {
    return this.jobs.get(id);
  }

  /** The job, or a NOT_FOUND client error. */
  mustGet(id: number): Job {
    const job = this.jobs.get(id);
    if (job === undefined) throw new ClientError("NOT_FOUND", `Job ${id} not found`);
    return job;
  }

  // ---- push ----

  /** Creates a job (-> Waiting or Delayed). Returns its id, or the existing id for a live custom id. */
  push(p: PushInput): number {
    if (p.customId !== undefined) {
      const existing = this.customIds.get(p.customId);
      if (existing !== undefined) return existing;
    }
    const q = this.queue(p.queue);
    if (p.uniqueKey !== undefined) {
      const holder = q.uniqueKeys.get(p.uniqueKey);
      if (holder !== undefined) {
        throw new ClientError("DUPLICATE", `Duplicate unique_key '${p.uniqueKey}' (held by job ${holder})`);
      }
    }
    const now = this.now();
    const delay = p.delay ?? 0;
    const job = new Job(
      this.nextId++,
      q,
      p.data,
      p.priority ?? 0,
      now,
      now + delay,
      p.maxAttempts ?? maxAttemptsDefault,
      p.backoff ?? 0,
      p.stallTimeout ?? stallTimeoutMsDefault,
    );
    if (
      p.ttl !== undefined || p.timeout !== undefined || p.backoffFixed || p.uniqueKey !== undefined ||
      p.customId !== undefined || p.tags !== undefined || p.lifo || p.removeOnComplete ||
      p.removeOnFail || p.groupId !== undefined
    ) {
      const x = job.extra();
      x.ttl = p.ttl ?? 0;
      x.timeout = p.timeout ?? 0;
      x.backoffFixed = p.backoffFixed ?? false;
      x.uniqueKey = p.uniqueKey ?? null;
      x.customId = p.customId ?? null;
      x.tags = p.tags ?? null;
      x.lifo = p.lifo ?? false;
      x.removeOnComplete = p.removeOnComplete ?? false;
      x.removeOnFail = p.removeOnFail ?? false;
      x.groupId = p.groupId ?? null;
      if (x.uniqueKey !== null) q.uniqueKeys.set(x.uniqueKey, job.id);
      if (x.customId !== null) this.customIds.set(x.customId, job.id);
    }
    if (p.name !== undefined) job.name = p.name;
    this.jobs.set(job.id, job);
    q.totalPushed++;
    this.totalPushed++;
    if (delay > 0) {
      this.attachDelayed(job, job.runAt);
      this.record(job, "delayed");
    } else {
      this.attachWaiting(job);
      this.record(job, "waiting");
      this.serve(q);
    }
    return job.id;
  }

  /** Rebuilds a job from storage (recovery). Active jobs come back as Waiting, attempts kept. */
  restore(job: Job): void {
    this.jobs.set(job.id, job);
    if (job.id >= this.nextId) this.nextId = job.id + 1;
    const x = job.x;
    if (x !== null && x.customId !== null) this.customIds.set(x.customId, job.id);
    const q = job.queue;
    switch (job.state) {
      case JobState.Waiting:
      case JobState.Active:
        if (x !== null && x.uniqueKey !== null) q.uniqueKeys.set(x.uniqueKey, job.id);
        job.lockToken = 0;
        // Keeps the stored seq (not attachWaiting's fresh one): ready order survives a restart.
        job.state = JobState.Waiting;
        q.ready.push(job);
        this.restoreSequence(job.seq < 0 ? -job.seq : job.seq);
        break;
      case JobState.Delayed:
        if (x !== null && x.uniqueKey !== null) q.uniqueKeys.set(x.uniqueKey, job.id);
        this.attachDelayed(job, job.runAt);
        break;
      case JobState.Completed:
        this.attachCompleted(job);
        break;
      case JobState.Failed:
        q.failed.set(job.id, job);
        break;
      default:
        throw new Error(`restore: unexpected state ${job.state}`);
    }
  }

  /** Sequence numbers for restored jobs must stay ahead of the stored ones. */
  restoreSequence(seq: number): void {
    if (seq > this.seq) this.seq = seq;
  }

  // ---- pull ----

  /** Takes up to `count` ready jobs (-> Active) without waiting. */
  pull(queueName: string, count: number): Job[] {
    const q = this.queue(queueName);
    if (q.paused) return [];
    return this.takeReady(q, count);
  }

  /**
   * Pull, or park until a job is ready or `timeoutMs` passes (then resolves []). Returns the
   * waiter so a closing connection can cancel it; null when it was answered at once.
   */
  pullOrPark(queueName: string, count: number, timeoutMs: number, resolve: (jobs: Job[]) => void): PullWaiter | null {
    const q = this.queue(queueName);
    if (!q.paused && q.waiters.length === 0) {
      const jobs = this.takeReady(q, count);
      if (jobs.length > 0 || timeoutMs <= 0) {
        resolve(jobs);
        return null;
      }
    } else if (timeoutMs <= 0) {
      resolve([]);
      return null;
    }
    const w: PullWaiter = { hi: -1, deadline: this.now() + timeoutMs, queue: q, count, done: false, resolve };
    q.waiters.push(w);
    this.pullTimers.push(w);
    return w;
  }

  /** Forgets a parked pull (its connection closed). */
  cancelPull(w: PullWaiter): void {
    if (w.done) return;
    w.done = true;
    this.pullTimers.remove(w);
    const i = w.queue.waiters.indexOf(w);
    if (i >= 0) w.queue.waiters.splice(i, 1);
  }

  /** Hands ready jobs to parked pullers, oldest first. Called whenever a job becomes ready. */
  private serve(q: QueueState): void {
    while (q.waiters.length > 0 && q.ready.size > 0 && !q.paused) {
      const w = q.waiters[0]!;
      const jobs = this.takeReady(q, w.count);
      if (jobs.length === 0) return;
      q.waiters.shift();
      w.done = true;
      this.pullTimers.remove(w);
      w.resolve(jobs);
    }
  }

  private takeReady(q: QueueState, count: number): Job[] {
    const out: Job[] = [];
    const now = this.now();
    while (out.length < count) {
      const job = q.ready.pop();
      if (job === undefined) break;
      const x = job.x;
      if (x !== null) {
        if (x.ttl > 0 && now >= job.createdAt + x.ttl) {
          this.fail(job, `Job expired: ttl ${x.ttl} ms passed before it was processed`);
          continue;
        }
        if (x.groupId !== null && q.busyGroups.has(x.groupId)) {
          this.holdForGroup(q, job, x.groupId);
          continue;
        }
      }
      this.activate(job, now);
      out.push(job);
    }
    return out;
  }

  private holdForGroup(q: QueueState, job: Job, group: string): void {
    let held = q.groupHeld.get(group);
    if (held === undefined) q.groupHeld.set(group, (held = []));
    held.push(job);
    q.heldCount++;
  }

  // ---- transitions ----

  /** Waiting -> Active: a delivery with a fresh lock token and lease. */
  private activate(job: Job, now: number): void {
    const q = job.queue;
    job.state = JobState.Active;
    job.startedAt = now;
    job.lastHeartbeat = now;
    job.lockToken = ++this.lastToken;
    q.active.set(job.id, job);
    const g = job.groupId;
    if (g !== null) q.busyGroups.add(g);
    this.leases.push(this.withLeaseDeadline(job, now));
    this.record(job, "active");
  }

  /** Active -> Completed (or removed with remove_on_complete). */
  complete(id: number, token: number | undefined, result: Uint8Array | null): void {
    const job = this.activeJob(id, token);
    const now = this.now();
    this.detach(job);
    job.finishedAt = now;
    if (result !== null) job.extra().result = result;
    job.queue.totalCompleted++;
    this.totalCompleted++;
    this.releaseKeys(job);
    job.state = JobState.Completed;
    this.record(job, "completed");
    this.resolveFinish(job, "completed");
    if (job.x !== null && job.x.removeOnComplete) this.forget(job);
    else this.attachCompleted(job);
  }

  /** Active -> retry (Delayed/Waiting) or Failed: one failed attempt (FAIL or processing timeout). */
  failAttempt(id: number, token: number | undefined, error: string): void {
    const job = this.activeJob(id, token);
    this.retryOrFail(job, error);
  }

  private retryOrFail(job: Job, error: string): void {
    job.attempts++;
    job.extra().error = error;
    if (job.attempts >= job.maxAttempts) {
      this.fail(job, error);
      return;
    }
    this.detach(job);
    const delay = this.backoffMs(job);
    if (delay > 0) this.attachDelayed(job, this.now() + delay);
    else this.attachWaiting(job);
    this.record(job, "retried");
    if (delay === 0) this.serve(job.queue);
  }

  backoffMs(job: Job): number {
    if (job.backoff <= 0) return 0;
    const fixed = job.x !== null && job.x.backoffFixed;
    const ms = fixed ? job.backoff : job.backoff * 2 ** (job.attempts - 1);
    return Math.min(ms, backoffMsMax);
  }

  /** Any live state -> Failed (the DLQ), or removed with remove_on_fail. */
  fail(job: Job, error: string): void {
    if (job.state === JobState.Failed || job.state === JobState.Completed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is already ${stateName(job)}`);
    }
    this.detach(job);
    const q = job.queue;
    job.extra().error = error;
    job.finishedAt = this.now();
    q.totalFailed++;
    this.totalFailed++;
    this.releaseKeys(job);
    job.state = JobState.Failed;
    this.record(job, "failed");
    this.resolveFinish(job, "failed");
    if (job.x!.removeOnFail) {
      this.forget(job);
      return;
    }
    q.failed.set(job.id, job);
    if (q.failed.size > this.keepFinished) {
      const oldest = q.failed.values().next().value!;
      this.remove(oldest);
    }
  }

  /** Active -> Waiting after an expired lease (a stall), or -> Failed after stallsMax stalls. */
  private stall(job: Job): void {
    job.stallCount++;
    if (job.stallCount >= stallsMax) {
      this.fail(job, `Job stalled ${job.stallCount} times (lease of ${job.stallTimeout} ms expired)`);
      return;
    }
    this.detach(job);
    this.attachWaiting(job);
    this.record(job, "stalled");
    this.serve(job.queue);
  }

  /** Delayed -> Waiting (run-at passed, or PROMOTE). */
  promote(job: Job): void {
    if (job.state !== JobState.Delayed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}, not delayed`);
    }
    this.detach(job);
    job.runAt = this.now();
    this.attachWaiting(job);
    this.record(job, "waiting");
    this.serve(job.queue);
  }

  /** Waiting/Active -> Delayed by `delay` ms (MOVETODELAYED); an active job gives up its lease. */
  moveToDelayed(job: Job, delay: number, token: number | undefined): void {
    if (job.state === JobState.Active) this.checkToken(job, token);
    else if (job.state !== JobState.Waiting && job.state !== JobState.Delayed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}; only waiting, delayed or active jobs can be delayed`);
    }
    this.detach(job);
    this.attachDelayed(job, this.now() + delay);
    this.record(job, "delayed");
  }

  /** Failed -> Waiting (RETRYDLQ), attempts and stalls reset. */
  retryFailed(job: Job): void {
    if (job.state !== JobState.Failed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}, not failed`);
    }
    const x = job.x;
    if (x !== null && x.uniqueKey !== null) {
      const holder = job.queue.uniqueKeys.get(x.uniqueKey);
      if (holder !== undefined && holder !== job.id) {
        throw new ClientError("DUPLICATE", `Duplicate unique_key '${x.uniqueKey}' (held by job ${holder})`);
      }
      job.queue.uniqueKeys.set(x.uniqueKey, job.id);
    }
    this.detach(job);
    job.attempts = 0;
    job.stallCount = 0;
    job.finishedAt = 0;
    this.attachWaiting(job);
    this.record(job, "waiting");
    this.serve(job.queue);
  }

  /** Any state -> gone (CANCEL of a waiting/delayed job, purge, drain, retention). */
  remove(job: Job): void {
    this.detach(job);
    this.releaseKeys(job);
    this.forget(job);
    this.resolveFinish(job, "removed");
  }

  /** Cancels a job that no worker holds yet. An active job belongs to its worker: refused. */
  cancel(id: number): void {
    const job = this.mustGet(id);
    if (job.state !== JobState.Waiting && job.state !== JobState.Delayed) {
      throw new ClientError("INVALID_STATE", `Job ${id} is ${stateName(job)}; only waiting or delayed jobs can be cancelled`);
    }
    this.remove(job);
  }

  changePriority(job: Job, priority: number): void {
    job.priority = priority;
    if (job.state === JobState.Waiting && job.queue.ready.has(job)) job.queue.ready.update(job);
    this.journal.jobChanged(job);
  }

  updateData(job: Job, data: Uint8Array): void {
    job.data = data;
    this.journal.jobChanged(job);
  }

  /** Extends the lease of an active job (HEARTBEAT). */
  heartbeat(id: number, token: number | undefined): void {
    const job = this.activeJob(id, token);
    const now = this.now();
    job.lastHeartbeat = now;
    this.leases.remove(job);
    this.leases.push(this.withLeaseDeadline(job, now));
  }

  setProgress(job: Job, progress: number, message: string | null): void {
    const x = job.extra();
    x.progress = progress;
    if (message !== null) x.progressMsg = message;
    this.journal.jobChanged(job);
    this.onEvent?.("progress", job);
  }

  /** Appends a log line to a job; the oldest lines go past logsPerJobMax. */
  addLog(job: Job, message: string, level: string): void {
    const x = job.extra();
    const logs = (x.logs ??= []);
    logs.push({ timestamp: this.now(), message, level });
    if (logs.length > logsPerJobMax) logs.splice(0, logs.length - logsPerJobMax);
    this.journal.jobChanged(job);
  }

  setPaused(q: QueueState, paused: boolean): void {
    if (q.paused === paused) return;
    q.paused = paused;
    this.journal.queueChanged(q);
    if (!paused) this.serve(q);
  }

  // ---- WAITJOB ----

  /** Resolves when the job finishes or after timeoutMs. Returns a cancel function. */
  waitFinish(id: number, timeoutMs: number, resolve: (f: Finish) => void): () => void {
    const w: FinishWaiter = { hi: -1, deadline: this.now() + timeoutMs, id, done: false, resolve };
    let list = this.finishWaiters.get(id);
    if (list === undefined) this.finishWaiters.set(id, (list = []));
    list.push(w);
    this.finishTimers.push(w);
    return () => this.dropFinishWaiter(w);
  }

  private dropFinishWaiter(w: FinishWaiter): void {
    if (w.done) return;
    w.done = true;
    this.finishTimers.remove(w);
    const list = this.finishWaiters.get(w.id);
    if (list === undefined) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.finishWaiters.delete(w.id);
  }

  /** Answers WAITJOBs on this job; the answer is built only when someone waits (most ACKs: nobody). */
  private resolveFinish(job: Job, kind: "completed" | "failed" | "removed"): void {
    if (this.finishWaiters.size === 0) return;
    const list = this.finishWaiters.get(job.id);
    if (list === undefined) return;
    this.finishWaiters.delete(job.id);
    const f: Finish = kind === "removed" ? { kind, id: job.id } : { kind, job };
    for (const w of list) {
      w.done = true;
      this.finishTimers.remove(w);
      w.resolve(f);
    }
  }

  // ---- time ----

  /** Does the due work (delays, leases, timeouts, parked timeouts, retention); returns the next deadline (ms epoch, Infinity if none). */
  tick(now: number): number {
    let budget = timersPerTickMax;
    for (let j = this.delayed.peek(); j !== undefined && j.deadline <= now && budget-- > 0; j = this.delayed.peek()) {
      this.promote(j);
    }
    for (let j = this.leases.peek(); j !== undefined && j.deadline <= now && budget-- > 0; j = this.leases.peek()) {
      const timeout = j.x === null ? 0 : j.x.timeout;
      if (timeout > 0 && now >= j.startedAt + timeout) this.retryOrFail(j, `Job timed out after ${timeout} ms`);
      else this.stall(j);
    }
    for (let w = this.pullTimers.peek(); w !== undefined && w.deadline <= now && budget-- > 0; w = this.pullTimers.peek()) {
      this.cancelPull(w);
      w.resolve([]);
    }
    for (let w = this.finishTimers.peek(); w !== undefined && w.deadline <= now && budget-- > 0; w = this.finishTimers.peek()) {
      this.dropFinishWaiter(w);
      w.resolve({ kind: "timeout", id: w.id });
    }
    this.prune(now);
    if (budget <= 0) return now; // more due work: come back at once
    return this.nextDeadline();
  }

  private oldestCompleted: Job | undefined = undefined;

  nextDeadline(): number {
    let next = Infinity;
    const d = this.delayed.peek();
    if (d !== undefined) next = d.deadline;
    const l = this.leases.peek();
    if (l !== undefined && l.deadline < next) next = l.deadline;
    const p = this.pullTimers.peek();
    if (p !== undefined && p.deadline < next) next = p.deadline;
    const f = this.finishTimers.peek();
    if (f !== undefined && f.deadline < next) next = f.deadline;
    // The oldest completed record, cached: an iterator per call showed up in profiles.
    let oldest = this.oldestCompleted;
    if (oldest === undefined || this.completed.get(oldest.id) !== oldest) {
      oldest = this.oldestCompleted = this.completed.values().next().value;
    }
    if (oldest !== undefined) {
      const expiry = oldest.finishedAt + this.keepFinishedAgeMs;
      if (expiry < next) next = expiry;
    }
    return next;
  }

  /** Retention: completed records beyond the count or age bounds are forgotten. */
  private prune(now: number): void {
    let budget = prunePerTickMax;
    const cutoff = now - this.keepFinishedAgeMs;
    for (const job of this.completed.values()) {
      if (budget-- <= 0) break;
      if (this.completed.size <= this.keepFinished && job.finishedAt > cutoff) break;
      this.remove(job);
    }
  }

  // ---- structures: the one place a job enters and leaves them ----

  private attachWaiting(job: Job): void {
    job.state = JobState.Waiting;
    const lifo = job.x !== null && job.x.lifo;
    job.seq = lifo ? -++this.seq : ++this.seq;
    job.queue.ready.push(job);
  }

  private attachDelayed(job: Job, runAt: number): void {
    job.state = JobState.Delayed;
    job.runAt = runAt;
    job.deadline = runAt;
    job.queue.delayedCount++;
    this.delayed.push(job);
  }

  private attachCompleted(job: Job): void {
    job.queue.completedCount++;
    this.completed.set(job.id, job);
  }

  /** Takes the job out of its state's structure and releases what that state held. */
  private detach(job: Job): void {
    const q = job.queue;
    switch (job.state) {
      case JobState.Waiting:
        if (q.ready.has(job)) q.ready.remove(job);
        else if (job.hi === -1) this.unhold(q, job);
        break;
      case JobState.Delayed:
        this.delayed.remove(job);
        q.delayedCount--;
        break;
      case JobState.Active: {
        q.active.delete(job.id);
        this.leases.remove(job);
        job.lockToken = 0;
        const g = job.groupId;
        if (g !== null) this.releaseGroup(q, g);
        break;
      }
      case JobState.Completed:
        if (this.completed.delete(job.id)) q.completedCount--;
        break;
      case JobState.Failed:
        q.failed.delete(job.id);
        break;
      default:
        break;
    }
  }

  /** A waiting job held back by its busy group leaves the held list. */
  private unhold(q: QueueState, job: Job): void {
    const g = job.groupId;
    if (g === null) return; // popped and being handled by takeReady: nothing holds it
    const held = q.groupHeld.get(g);
    if (held === undefined) return;
    const i = held.indexOf(job);
    if (i < 0) return;
    held.splice(i, 1);
    q.heldCount--;
    if (held.length === 0) q.groupHeld.delete(g);
  }

  /** The group's active job ended: its held jobs go back to the ready heap in their order. */
  private releaseGroup(q: QueueState, g: string): void {
    q.busyGroups.delete(g);
    const held = q.groupHeld.get(g);
    if (held === undefined) return;
    q.groupHeld.delete(g);
    q.heldCount -= held.length;
    for (const j of held) q.ready.push(j);
    // Safe mid-transition: the job being moved is already detached, so serve cannot touch it.
    this.serve(q);
  }

  /** unique_key is held only while the job is unfinished. */
  private releaseKeys(job: Job): void {
    const x = job.x;
    if (x === null || x.uniqueKey === null) return;
    const q = job.queue;
    if (q.uniqueKeys.get(x.uniqueKey) === job.id) q.uniqueKeys.delete(x.uniqueKey);
  }

  /** Drops the record entirely. */
  private forget(job: Job): void {
    this.jobs.delete(job.id);
    const x = job.x;
    if (x !== null && x.customId !== null && this.customIds.get(x.customId) === job.id) {
      this.customIds.delete(x.customId);
    }
    this.journal.jobRemoved(job);
    this.onEvent?.("removed", job);
  }

  // ---- helpers ----

  private activeJob(id: number, token: number | undefined): Job {
    const job = this.mustGet(id);
    if (job.state !== JobState.Active) {
      throw new ClientError("INVALID_STATE", `Job ${id} is not active (state: ${stateName(job)})`);
    }
    this.checkToken(job, token);
    return job;
  }

  private checkToken(job: Job, token: number | undefined): void {
    if (token !== undefined && token !== job.lockToken) {
      throw new ClientError("STALE_LOCK", `Stale lock token for job ${job.id}: the lease expired and the job was redelivered`);
    }
  }

  private withLeaseDeadline(job: Job, now: number): Job {
    let deadline = now + job.stallTimeout;
    const timeout = job.x === null ? 0 : job.x.timeout;
    if (timeout > 0 && job.startedAt + timeout < deadline) deadline = job.startedAt + timeout;
    job.deadline = deadline;
    return job;
  }

  private record(job: Job, event: EngineEvent): void {
    this.journal.jobChanged(job);
    this.onEvent?.(event, job);
  }
}
