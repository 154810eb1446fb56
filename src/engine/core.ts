// The job state machine: the tables every job lives in and one function per transition. Each
// transition checks its from-state first (so a refused request changes nothing), then moves the
// job: out of its old state's structure (detach: lease, lock and group released there), the
// unique key released when it finishes (finish), into the new structure (attach), one journal
// entry and one event (record). Resources a job holds are released in those places only.
// Transitions never deliver: they note the queues that have work (toServe) and the engine
// serves them after the transition, so events come out in causal order.

import {
  backoffMsMax,
  finishedJobAgeMsDefault,
  finishedJobsKeptDefault,
  logsPerJobMax,
  maxAttemptsDefault,
  stallTimeoutMsDefault,
  stallsMax,
} from "../constants.ts";
import { ClientError } from "../errors.ts";
import { EventBus, type EngineEvent } from "./events.ts";
import { IdMap } from "./id-map.ts";
import { noJournal, type Journal } from "./journal.ts";
import { isFinished, Job, JobState, QueueState, stateName, TtlEntry } from "./model.ts";
import { Retention } from "./retention.ts";
import { DeadlineTimer } from "./timers.ts";
import { FinishWaiters } from "./waiters.ts";

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

export interface CoreOptions {
  now: () => number;
  journal?: Journal;
  /** Completed records kept (count, across queues) and their age limit; DLQ size per queue. */
  keepFinished?: number;
  keepFinishedAgeMs?: number;
}

export class Core {
  readonly jobs = new IdMap<Job>();
  readonly queues = new Map<string, QueueState>();
  /** Custom id (job_id) -> job id, while the engine keeps the job's record. */
  readonly customIds = new Map<string, number>();
  readonly events = new EventBus();
  readonly now: () => number;
  journal: Journal;
  nextId = 1;
  private seq = 0;
  private lastToken = 0;
  /** Queues a transition gave deliverable work (a ready job, a freed group); served after it. */
  readonly toServe: QueueState[] = [];

  readonly delays = new DeadlineTimer<Job>("delays", (job, now) => this.promote(job, now));
  readonly leases = new DeadlineTimer<Job>("leases", (job, now) => this.leaseEnded(job, now));
  readonly ttl = new DeadlineTimer<TtlEntry>("ttl", (e, now) => this.expire(e.job, now));
  readonly retention: Retention;
  readonly finishWaiters = new FinishWaiters();

  constructor(opts: CoreOptions) {
    this.now = opts.now;
    this.journal = opts.journal ?? noJournal;
    this.retention = new Retention(
      opts.keepFinished ?? finishedJobsKeptDefault,
      opts.keepFinishedAgeMs ?? finishedJobAgeMsDefault,
      (job) => this.remove(job),
    );
  }

  queue(name: string): QueueState {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new QueueState(name);
      this.queues.set(name, q);
    }
    return q;
  }

  /** The job, or a NOT_FOUND client error. */
  mustGet(id: number): Job {
    const job = this.jobs.get(id);
    if (job === undefined) throw new ClientError("NOT_FOUND", `Job ${id} not found`);
    return job;
  }

  // ---- transitions ----

  /** -> Waiting or Delayed. Returns the id, or the existing job's id for a live custom id. */
  push(p: PushInput): number {
    if (p.customId !== undefined) {
      const existing = this.customIds.get(p.customId);
      if (existing !== undefined) return existing;
    }
    const q = this.queue(p.queue);
    if (p.uniqueKey !== undefined) this.checkUniqueKey(q, p.uniqueKey, 0);
    const now = this.now();
    const delay = p.delay ?? 0;
    const job = new Job(
      this.nextId++, q, p.data, p.priority ?? 0, now, now + delay,
      p.maxAttempts ?? maxAttemptsDefault, p.backoff ?? 0, p.stallTimeout ?? stallTimeoutMsDefault,
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
    }
    if (p.name !== undefined) job.name = p.name;
    this.register(job);
    q.counters.pushed++;
    if (delay > 0) this.enter(job, JobState.Delayed, job.runAt, "delayed");
    else this.enter(job, JobState.Waiting, now, "waiting");
    return job.id;
  }

  /** Waiting (at the top of its ready heap) -> Active: a delivery with a fresh lock token and lease. */
  activate(job: Job, now: number): void {
    this.move(job, JobState.Active, now, "active");
  }

  /** Waiting (ready) -> Waiting (held): its group has an active job. Not an event. */
  holdForGroup(job: Job, group: string): void {
    const q = job.queue;
    q.ready.remove(job);
    let held = q.groupHeld.get(group);
    if (held === undefined) q.groupHeld.set(group, (held = []));
    held.push(job);
    q.heldCount++;
  }

  /** Active -> Completed (or gone with remove_on_complete). */
  complete(job: Job, token: number | undefined, result: Uint8Array | null, now: number): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    if (result !== null) job.extra().result = result;
    job.queue.counters.completed++;
    this.finish(job, JobState.Completed, now, "completed", job.x !== null && job.x.removeOnComplete);
  }

  /** Active -> retry (Delayed/Waiting) or Failed: one failed attempt (FAIL or processing timeout). */
  failAttempt(job: Job, token: number | undefined, error: string, now: number): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    job.attempts++;
    job.extra().error = error;
    if (job.attempts >= job.maxAttempts) return this.fail(job, error, now);
    const delay = this.backoffMs(job);
    job.queue.counters.retried++;
    if (delay > 0) this.move(job, JobState.Delayed, now + delay, "retried");
    else this.move(job, JobState.Waiting, now, "retried");
  }

  backoffMs(job: Job): number {
    if (job.backoff <= 0) return 0;
    const fixed = job.x !== null && job.x.backoffFixed;
    const ms = fixed ? job.backoff : job.backoff * 2 ** (job.attempts - 1);
    return Math.min(ms, backoffMsMax);
  }

  /** Any unfinished state -> Failed (the DLQ), or gone with remove_on_fail. */
  fail(job: Job, error: string, now: number): void {
    if (isFinished(job.state)) throw new ClientError("INVALID_STATE", `Job ${job.id} is already ${stateName(job)}`);
    job.extra().error = error;
    job.queue.counters.failed++;
    this.finish(job, JobState.Failed, now, "failed", job.x!.removeOnFail);
  }

  /** Waiting or Delayed past its ttl -> Failed. */
  expire(job: Job, now: number): void {
    this.fail(job, `Job expired: ttl ${job.x!.ttl} ms passed before it was processed`, now);
  }

  /** Delayed -> Waiting (run-at passed, or PROMOTE). */
  promote(job: Job, now: number): void {
    if (job.state !== JobState.Delayed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}, not delayed`);
    }
    job.runAt = now;
    this.move(job, JobState.Waiting, now, "waiting");
  }

  /** Waiting/Delayed/Active -> Delayed by `delay` ms (MOVETODELAYED); an active job gives up its lease. */
  moveToDelayed(job: Job, delay: number, token: number | undefined, now: number): void {
    if (job.state === JobState.Active) this.checkToken(job, token);
    else if (job.state !== JobState.Waiting && job.state !== JobState.Delayed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}; only waiting, delayed or active jobs can be delayed`);
    }
    this.move(job, JobState.Delayed, now + delay, "delayed");
  }

  /** Failed -> Waiting (RETRYDLQ), attempts and stalls reset. */
  retryFailed(job: Job, now: number): void {
    if (job.state !== JobState.Failed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}, not failed`);
    }
    const key = job.x === null ? null : job.x.uniqueKey;
    if (key !== null) this.checkUniqueKey(job.queue, key, job.id);
    job.attempts = 0;
    job.stallCount = 0;
    if (key !== null) job.queue.uniqueKeys.set(key, job.id);
    this.move(job, JobState.Waiting, now, "waiting");
  }

  /** Active whose lease (or processing timeout) ended -> a failed attempt, a stall, or Failed. */
  private leaseEnded(job: Job, now: number): void {
    const timeout = job.x === null ? 0 : job.x.timeout;
    if (timeout > 0 && now >= job.startedAt + timeout) return this.failAttempt(job, undefined, `Job timed out after ${timeout} ms`, now);
    job.stallCount++;
    if (job.stallCount >= stallsMax) {
      return this.fail(job, `Job stalled ${job.stallCount} times (lease of ${job.stallTimeout} ms expired)`, now);
    }
    job.queue.counters.stalled++;
    this.move(job, JobState.Waiting, now, "stalled");
  }

  /** Waiting/Delayed -> gone (CANCEL). An active job belongs to its worker: refused. */
  cancel(job: Job): void {
    if (job.state !== JobState.Waiting && job.state !== JobState.Delayed) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}; only waiting or delayed jobs can be cancelled`);
    }
    this.remove(job);
  }

  /** Any state -> gone (CANCEL, purge, drain, obliterate, retention). */
  remove(job: Job): void {
    this.detach(job);
    if (!isFinished(job.state)) this.releaseKeys(job);
    this.forget(job);
    this.finishWaiters.resolve(job, "removed");
  }

  // ---- changes that are not moves: one journal entry each, an event where one exists ----

  heartbeat(job: Job, token: number | undefined, now: number): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    job.lastHeartbeat = now;
    this.leases.remove(job);
    this.leases.push(this.withLeaseDeadline(job, now));
  }

  changePriority(job: Job, priority: number): void {
    job.priority = priority;
    if (job.state === JobState.Waiting && job.queue.ready.has(job)) job.queue.ready.update(job);
    this.record(job, null);
  }

  updateData(job: Job, data: Uint8Array): void {
    job.data = data;
    this.record(job, null);
  }

  setProgress(job: Job, progress: number, message: string | null): void {
    if (job.state !== JobState.Active) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is ${stateName(job)}; progress is reported on an active job`);
    }
    const x = job.extra();
    x.progress = progress;
    if (message !== null) x.progressMsg = message;
    this.record(job, "progress");
  }

  /** Appends a log line; the oldest lines go past logsPerJobMax. */
  addLog(job: Job, message: string, level: string, now: number): void {
    const logs = (job.extra().logs ??= []);
    logs.push({ timestamp: now, message, level });
    if (logs.length > logsPerJobMax) logs.splice(0, logs.length - logsPerJobMax);
    this.record(job, null);
  }

  setPaused(q: QueueState, paused: boolean): void {
    if (q.paused === paused) return;
    q.paused = paused;
    this.journal.queueChanged(q);
    if (!paused) this.wantServe(q);
  }

  /** The queue itself is forgotten (OBLITERATE, once it holds no job). */
  dropQueue(q: QueueState): void {
    if (this.queues.get(q.name) !== q) return;
    this.queues.delete(q.name);
    this.journal.queueRemoved(q);
  }

  // ---- recovery: stored jobs go back through the same attach as live ones ----

  /** A stored job. Active jobs come back Waiting (their workers are gone), attempts kept. */
  restore(job: Job): void {
    if (this.jobs.has(job.id)) throw new Error(`restore: job ${job.id} twice`);
    if (job.state < JobState.Waiting || job.state > JobState.WaitingParent) throw new Error(`restore: job ${job.id} in unknown state ${job.state}`);
    this.register(job);
    if (job.id >= this.nextId) this.nextId = job.id + 1;
    const seq = job.seq < 0 ? -job.seq : job.seq;
    if (seq > this.seq) this.seq = seq;
    job.lockToken = 0;
    const to = job.state === JobState.Active ? JobState.Waiting : job.state;
    const key = job.x === null ? null : job.x.uniqueKey;
    if (key !== null && !isFinished(to)) job.queue.uniqueKeys.set(key, job.id);
    job.state = to;
    const at = to === JobState.Delayed ? job.runAt : isFinished(to) ? job.deadline : 0;
    this.attach(job, to, at, true);
  }

  /** Sequence numbers for restored jobs must stay ahead of the stored ones. */
  restoreSequence(seq: number): void {
    if (seq > this.seq) this.seq = seq;
  }

  // ---- the structures: the one place a job enters and leaves them ----

  private register(job: Job): void {
    this.jobs.set(job.id, job);
    const x = job.x;
    if (x !== null && x.customId !== null) this.customIds.set(x.customId, job.id);
  }

  /** A new job's first state (no structure to leave). */
  private enter(job: Job, to: JobState, at: number, event: EngineEvent): void {
    const key = job.x === null ? null : job.x.uniqueKey;
    if (key !== null) job.queue.uniqueKeys.set(key, job.id);
    this.attach(job, to, at, false);
    this.record(job, event);
  }

  /** Between unfinished states. */
  private move(job: Job, to: JobState, at: number, event: EngineEvent): void {
    this.detach(job);
    this.attach(job, to, at, false);
    this.record(job, event);
  }

  /** Into Completed or Failed: the unique key goes, WAITJOBs hear of it, and the record is
   *  kept by retention or (remove_on_*) dropped at once. */
  private finish(job: Job, to: JobState, at: number, event: EngineEvent, drop: boolean): void {
    this.detach(job);
    this.releaseKeys(job);
    job.state = to;
    job.finishedAt = at;
    this.record(job, event);
    this.finishWaiters.resolve(job, to === JobState.Completed ? "completed" : "failed");
    if (drop) this.forget(job);
    else this.attach(job, to, at, false);
  }

  private attach(job: Job, to: JobState, at: number, restoring: boolean): void {
    const q = job.queue;
    job.state = to;
    switch (to) {
      case JobState.Waiting: {
        // A restored job keeps its stored seq: ready order survives a restart.
        if (!restoring) job.seq = job.x !== null && job.x.lifo ? -++this.seq : ++this.seq;
        q.ready.push(job);
        this.wantServe(q);
        break;
      }
      case JobState.Delayed:
        job.runAt = at;
        job.deadline = at;
        q.delayed.set(job.id, job);
        this.delays.push(job);
        break;
      case JobState.Active: {
        job.startedAt = at;
        job.lastHeartbeat = at;
        job.lockToken = ++this.lastToken;
        q.active.set(job.id, job);
        const g = job.groupId;
        if (g !== null) q.busyGroups.add(g);
        this.leases.push(this.withLeaseDeadline(job, at));
        break;
      }
      case JobState.Completed:
        job.finishedAt = at;
        this.retention.admitCompleted(job);
        break;
      case JobState.Failed:
        job.finishedAt = at;
        this.retention.admitFailed(job);
        break;
      case JobState.WaitingChildren:
      case JobState.WaitingParent:
        q.blocked.set(job.id, job);
        break;
    }
    if (job.x !== null && job.x.ttl > 0) this.syncTtl(job);
  }

  /** Takes the job out of its state's structure and releases what that state held. */
  private detach(job: Job): void {
    const q = job.queue;
    switch (job.state) {
      case JobState.Waiting:
        if (q.ready.has(job)) q.ready.remove(job);
        else this.unhold(q, job);
        break;
      case JobState.Delayed:
        this.delays.remove(job);
        q.delayed.delete(job.id);
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
      case JobState.Failed:
        this.retention.release(job);
        break;
      case JobState.WaitingChildren:
      case JobState.WaitingParent:
        q.blocked.delete(job.id);
        break;
    }
  }

  /** A waiting job held back by its busy group leaves the held list. */
  private unhold(q: QueueState, job: Job): void {
    const g = job.groupId!;
    const held = q.groupHeld.get(g)!;
    const i = held.indexOf(job);
    if (i < 0) throw new Error(`job ${job.id} is waiting but neither ready nor held`);
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
    this.wantServe(q);
  }

  /** A job with a ttl is in the ttl timer exactly while it waits (waiting, delayed, blocked). */
  private syncTtl(job: Job): void {
    const x = job.x!;
    const waits = job.state !== JobState.Active && !isFinished(job.state) && this.jobs.get(job.id) === job;
    if (waits && x.ttlEntry === null) this.ttl.push((x.ttlEntry = new TtlEntry(job, job.createdAt + x.ttl)));
    else if (!waits && x.ttlEntry !== null) {
      this.ttl.remove(x.ttlEntry);
      x.ttlEntry = null;
    }
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
    if (x !== null) {
      if (x.customId !== null && this.customIds.get(x.customId) === job.id) this.customIds.delete(x.customId);
      if (x.ttlEntry !== null) this.syncTtl(job);
    }
    this.journal.jobRemoved(job);
    if (this.events.listening) this.events.emit("removed", job);
  }

  private record(job: Job, event: EngineEvent | null): void {
    this.journal.jobChanged(job);
    if (event !== null && this.events.listening) this.events.emit(event, job);
  }

  private wantServe(q: QueueState): void {
    if (q.waiters.length > 0 && !q.servePending) {
      q.servePending = true;
      this.toServe.push(q);
    }
  }

  // ---- checks ----

  private checkUniqueKey(q: QueueState, key: string, self: number): void {
    const holder = q.uniqueKeys.get(key);
    if (holder !== undefined && holder !== self) {
      throw new ClientError("DUPLICATE", `Duplicate unique_key '${key}' (held by job ${holder})`);
    }
  }

  mustBeActive(job: Job): void {
    if (job.state !== JobState.Active) {
      throw new ClientError("INVALID_STATE", `Job ${job.id} is not active (state: ${stateName(job)})`);
    }
  }

  checkToken(job: Job, token: number | undefined): void {
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
}
