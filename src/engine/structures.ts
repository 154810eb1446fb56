// The engine's tables and the one place a job enters and leaves them. Every job is in the job
// table and in exactly one structure of its queue, the one of its state; attach and detach are
// the only code that puts it in or takes it out, and what a state holds is released there (lease,
// lock and group in detach; the unique key when the job finishes, in finish). The transitions
// that decide where a job goes are in core.ts, built on these.

import { cancelledRememberedMax, finishedJobAgeMsDefault, finishedJobsKeptDefault, idBlockSize, queueCountersMax, queuesMax } from "../constants.ts";
import { ClientError } from "../errors.ts";
import { DedupWindows } from "./dedup.ts";
import { ADDED, EventBus, type EngineEvent } from "./events.ts";
import { JobTable } from "./job-table.ts";
import { noJournal, type Journal } from "./journal.ts";
import { groupBefore, GroupLine, isFinished, type Job, JobState, QueueCounters, QueueState, type RateLimit, stateName, TtlEntry } from "./model.ts";
import { PayloadArena } from "./payloads.ts";
import { RememberedIds } from "./remembered-ids.ts";
import { Retention } from "./retention.ts";
import { Throughput } from "./throughput.ts";
import { DeadlineTimer, JobDeadlineOrder } from "./timers.ts";
import { FinishWaiters } from "./waiters.ts";

export interface CoreOptions {
  now: () => number;
  journal?: Journal;
  /** Completed records kept (count, across queues) and their age limit; DLQ size per queue. */
  keepFinished?: number;
  keepFinishedAgeMs?: number;
}

export abstract class Structures {
  readonly jobs = new JobTable<Job>();
  /** Every job's payload (payloads.ts), in slabs shared by all queues. */
  readonly payloads = new PayloadArena();
  readonly queues = new Map<string, QueueState>();
  /** Custom id (job_id) -> job id, while the engine keeps the job's record. */
  readonly customIds = new Map<string, number>();
  /** Jobs cancelled while active (their workers are told JOB_CANCELLED; not persisted: after a
   *  restart the worker's lock token is stale anyway). */
  readonly cancelledActive = new RememberedIds(cancelledRememberedMax);
  readonly events = new EventBus();
  readonly now: () => number;
  journal: Journal;
  nextId = 1;
  /** Ids below this are reserved durably (Journal.reserve); the next one starts a new block. */
  private idsReserved = 0;
  private seq = 0;
  private lastToken = 0;
  private tokensReserved = 0;
  /** Queues a transition gave deliverable work (a ready job, a freed group); served after it. */
  readonly toServe: QueueState[] = [];
  /** Queues something left (a job, a puller, a setting); dropped after the operation if empty. */
  readonly maybeEmpty: QueueState[] = [];

  // Each timer's due items go through the transition that handles them (core.ts).
  readonly delays = new DeadlineTimer<Job>("delays", (job, now) => this.promote(job, now), new JobDeadlineOrder());
  readonly leases = new DeadlineTimer<Job>("leases", (job, now) => this.leaseEnded(job, now), new JobDeadlineOrder());
  readonly ttl = new DeadlineTimer<TtlEntry>("ttl", (e, now) => this.expire(e.job, now));
  /** Rate-limited queues whose pullers wait for the next token: served when it is due. */
  readonly refills = new DeadlineTimer<RateLimit>("rate-refills", (r) => {
    this.refills.remove(r);
    this.wantServe(r.queue);
  });
  readonly retention: Retention;
  readonly finishWaiters = new FinishWaiters();
  readonly dedup = new DedupWindows((q) => this.mayBeEmpty(q));
  /** Completions per second and latency over the last seconds (METRICS). */
  readonly throughput: Throughput;

  constructor(opts: CoreOptions) {
    this.now = opts.now;
    this.journal = opts.journal ?? noJournal;
    this.throughput = new Throughput(opts.now());
    this.retention = new Retention(
      opts.keepFinished ?? finishedJobsKeptDefault,
      opts.keepFinishedAgeMs ?? finishedJobAgeMsDefault,
      (job) => this.remove(job),
    );
  }

  /** The queue, created when it does not exist (a new one is dropped again if it stays empty). */
  queue(name: string): QueueState {
    let q = this.queues.get(name);
    if (q === undefined) {
      if (this.queues.size >= queuesMax) {
        throw new ClientError("LIMIT", `Too many queues (limit ${queuesMax}): OBLITERATE the ones no longer used`);
      }
      q = new QueueState(name, this.countersOf(name), this.payloads);
      this.queues.set(name, q);
      this.mayBeEmpty(q);
    }
    return q;
  }

  /** Event counters by queue name. They outlive a queue dropped while empty, so the totals a
   *  dashboard or Prometheus reads never go back when a busy queue is empty for a moment; the
   *  counters of queues that no longer exist go first past queueCountersMax. */
  readonly counters = new Map<string, QueueCounters>();

  private countersOf(name: string): QueueCounters {
    let c = this.counters.get(name);
    if (c === undefined) {
      if (this.counters.size >= queueCountersMax) {
        for (const old of this.counters.keys()) {
          if (this.counters.size < queueCountersMax) break;
          if (!this.queues.has(old)) this.counters.delete(old);
        }
      }
      this.counters.set(name, (c = new QueueCounters()));
    }
    return c;
  }

  /** A new job id, from a block whose reservation is durable before any id of it is used. */
  protected takeId(): number {
    if (this.nextId >= this.idsReserved) {
      this.idsReserved = this.nextId + idBlockSize;
      this.journal.reserve("ids", this.idsReserved);
    }
    return this.nextId++;
  }

  /** A new lock token, reserved like ids: a restart never hands out a token a worker may hold. */
  private takeToken(): number {
    if (this.lastToken + 1 >= this.tokensReserved) {
      this.tokensReserved = this.lastToken + 1 + idBlockSize;
      this.journal.reserve("tokens", this.tokensReserved);
    }
    return ++this.lastToken;
  }

  /** The next id and the next lock token this engine would hand out. */
  idCounters(): { nextId: number; nextToken: number } {
    return { nextId: this.nextId, nextToken: this.lastToken + 1 };
  }

  /** Recovery: ids and tokens continue above everything that may have been handed out. */
  restoreCounters(nextId: number, nextToken: number): void {
    if (nextId > this.nextId) this.nextId = nextId;
    if (nextToken - 1 > this.lastToken) this.lastToken = nextToken - 1;
  }

  /** Notes that the queue may have become empty (checked once the operation is done). */
  mayBeEmpty(q: QueueState): void {
    if (!q.checkPending) {
      q.checkPending = true;
      this.maybeEmpty.push(q);
    }
  }

  /** Forgets the queues noted by mayBeEmpty that hold nothing: no job, puller or setting. */
  dropEmptyQueues(): void {
    const list = this.maybeEmpty;
    for (let i = 0; i < list.length; i++) {
      const q = list[i]!;
      q.checkPending = false;
      if (q.isEmpty()) this.dropQueue(q);
    }
    list.length = 0;
  }

  /** The queue itself is forgotten (empty, or OBLITERATE once it holds no job). */
  dropQueue(q: QueueState): void {
    if (this.queues.get(q.name) !== q) return;
    this.queues.delete(q.name);
    this.journal.queueRemoved(q);
  }

  /** The job, or a NOT_FOUND client error. */
  mustGet(id: number): Job {
    const job = this.jobs.get(id);
    if (job !== undefined) return job;
    if (this.cancelledActive.has(id)) throw new ClientError("JOB_CANCELLED", `Job ${id} was cancelled while active: stop working on it`);
    throw new ClientError("NOT_FOUND", `Job ${id} not found`);
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
    this.dedup.restore(job, this.now);
  }

  /** Sequence numbers for restored jobs must stay ahead of the stored ones. */
  restoreSequence(seq: number): void {
    if (seq > this.seq) this.seq = seq;
  }

  // ---- the structures: the one place a job enters and leaves them ----

  protected register(job: Job): void {
    this.jobs.set(job.id, job);
    const x = job.x;
    if (x !== null && x.customId !== null) this.customIds.set(x.customId, job.id);
  }

  /** A new job's first state (no structure to leave). */
  protected enter(job: Job, to: JobState, at: number, event: EngineEvent): void {
    const key = job.x === null ? null : job.x.uniqueKey;
    if (key !== null) job.queue.uniqueKeys.set(key, job.id);
    this.attach(job, to, at, false);
    this.journal.jobChanged(job);
    if (this.events.listening) this.events.emit(event, job, ADDED);
  }

  /** Between unfinished states. */
  protected move(job: Job, to: JobState, at: number, event: EngineEvent): void {
    this.detach(job);
    this.attach(job, to, at, false);
    this.record(job, event);
    this.refillGroupOf(job);
  }

  /** Into Completed or Failed: the unique key goes, WAITJOBs hear of it, and the record is
   *  kept by retention or (remove_on_*) dropped at once. */
  protected finish(job: Job, to: JobState, at: number, event: EngineEvent, drop: boolean): void {
    this.detach(job);
    this.releaseKeys(job);
    job.state = to;
    job.finishedAt = at;
    this.record(job, event);
    this.finishWaiters.resolve(job, to === JobState.Completed ? "completed" : "failed");
    if (drop) this.forget(job);
    else this.attach(job, to, at, false);
    this.refillGroupOf(job);
    if (job.x !== null && job.x.dependents !== null) this.dependencyEnded(job, to === JobState.Completed);
  }

  private attach(job: Job, to: JobState, at: number, restoring: boolean): void {
    const q = job.queue;
    job.state = to;
    switch (to) {
      case JobState.Waiting: {
        // A restored job keeps its stored seq: ready order survives a restart.
        if (!restoring) job.seq = this.nextSeq(job);
        const g = job.groupId;
        if (g === null) {
          q.ready.push(job);
          this.wantServe(q);
        } else {
          const x = job.x!;
          if (!restoring || x.groupSeq === 0) x.groupSeq = job.seq;
          this.joinGroup(q, job, g, restoring);
        }
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
        job.lockToken = this.takeToken();
        q.active.set(job.id, job);
        const g = job.groupId;
        if (g !== null) this.groupLine(q, g).active++;
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
    if (job.k.p.ttl > 0) this.syncTtl(job);
  }

  /** Takes the job out of its state's structure and releases what that state held. */
  protected detach(job: Job): void {
    const q = job.queue;
    this.mayBeEmpty(q);
    switch (job.state) {
      case JobState.Waiting: {
        const g = job.groupId;
        const line = g === null ? undefined : q.groups.get(g);
        if (line === undefined) q.ready.remove(job);
        else if (line.head === job) {
          q.ready.remove(job);
          line.head = null;
        } else {
          line.pending.remove(job);
          q.groupPending--;
        }
        break;
      }
      case JobState.Delayed:
        this.delays.remove(job);
        q.delayed.delete(job.id);
        break;
      case JobState.Active: {
        q.active.delete(job.id);
        this.leases.remove(job);
        job.lockToken = 0;
        const g = job.groupId;
        if (g !== null) q.groups.get(g)!.active--;
        // A slot under the queue's concurrency limit is free: parked pullers may take one.
        if (q.concurrencyLimit > 0) this.wantServe(q);
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

  /** A waiting job's sequence number: FIFO ascending, LIFO jobs negative (newest first). */
  protected nextSeq(job: Job): number {
    return job.k.p.lifo ? -++this.seq : ++this.seq;
  }

  protected groupLine(q: QueueState, g: string): GroupLine {
    let line = q.groups.get(g);
    if (line === undefined) q.groups.set(g, (line = new GroupLine(g)));
    return line;
  }

  /** A waiting job of a group joins its group's pending jobs; the group's first job is its head
   *  in the ready line if the group may run one more (a job that outranks the head takes its
   *  place). A restored job keeps its stored place in the line. */
  private joinGroup(q: QueueState, job: Job, g: string, restoring: boolean): void {
    const line = this.groupLine(q, g);
    const head = line.head;
    if (head !== null && groupBefore(job, head)) {
      q.ready.remove(head);
      line.head = null;
      line.pending.push(head);
      q.groupPending++;
    }
    line.pending.push(job);
    q.groupPending++;
    this.refillGroup(q, g, !restoring);
  }

  /** After a transition of a grouped job: the group's next job joins the back of the ready line
   *  if the group may run one more, and a group with nothing left is forgotten. */
  protected refillGroupOf(job: Job): void {
    const g = job.groupId;
    if (g !== null) this.refillGroup(job.queue, g);
  }

  /** `renew`: the new head goes to the back of the line (a fresh seq, journaled so the line
   *  survives a restart); recovery keeps the stored one. */
  protected refillGroup(q: QueueState, g: string, renew = true): void {
    const line = q.groups.get(g);
    if (line === undefined) return;
    if (line.head === null && line.active < q.groupConcurrency && line.pending.size > 0) {
      const next = line.pending.pop()!;
      q.groupPending--;
      if (renew) {
        next.seq = this.nextSeq(next); // groupSeq keeps its place inside the group
        this.journal.jobChanged(next);
      }
      line.head = next;
      q.ready.push(next);
      this.wantServe(q);
    }
    if (line.head === null && line.active === 0 && line.pending.size === 0) q.groups.delete(g);
  }

  /** A job with a ttl is in the ttl timer exactly while it waits (waiting, delayed, blocked). */
  private syncTtl(job: Job): void {
    const waits = job.state !== JobState.Active && !isFinished(job.state) && this.jobs.get(job.id) === job;
    const x = waits ? job.extra() : job.x;
    if (x === null) return;
    if (waits && x.ttlEntry === null) this.ttl.push((x.ttlEntry = new TtlEntry(job, job.createdAt + job.k.p.ttl)));
    else if (!waits && x.ttlEntry !== null) {
      this.ttl.remove(x.ttlEntry);
      x.ttlEntry = null;
    }
  }

  /** unique_key is held only while the job is unfinished, and so is an open-ended dedup window. */
  protected releaseKeys(job: Job): void {
    const x = job.x;
    if (x === null) return;
    if (x.dedupKey !== null) this.dedup.jobEnded(job, false);
    if (x.uniqueKey === null) return;
    const q = job.queue;
    if (q.uniqueKeys.get(x.uniqueKey) === job.id) q.uniqueKeys.delete(x.uniqueKey);
  }

  /** Drops the record entirely. */
  protected forget(job: Job): void {
    this.jobs.delete(job.id);
    const x = job.x;
    if (x !== null) {
      if (x.customId !== null && this.customIds.get(x.customId) === job.id) this.customIds.delete(x.customId);
      if (x.dedupKey !== null) this.dedup.jobEnded(job, true);
      if (x.ttlEntry !== null) this.syncTtl(job);
    }
    this.journal.jobRemoved(job);
    if (this.events.listening) this.events.emit("removed", job);
    // Removed before it finished: those waiting on it must not wait forever.
    if (x !== null && x.dependents !== null && !isFinished(job.state)) this.dependencyEnded(job, false);
    // Last: everything above may still read the job whole.
    job.queue.payloads.free(job);
  }

  protected record(job: Job, event: EngineEvent | null): void {
    this.journal.jobChanged(job);
    if (event !== null && this.events.listening) this.events.emit(event, job);
  }

  /** A delivery stopped for want of a token while jobs are ready: serve again when one is due. */
  awaitToken(r: RateLimit, now: number): void {
    if (this.refills.has(r)) return;
    r.deadline = r.nextTokenAt(now);
    this.refills.push(r);
  }

  protected wantServe(q: QueueState): void {
    if (q.waiters.length > 0 && !q.servePending) {
      q.servePending = true;
      this.toServe.push(q);
    }
  }

  // ---- checks ----

  protected checkUniqueKey(q: QueueState, key: string, self: number): void {
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

  protected withLeaseDeadline(job: Job, now: number): Job {
    let deadline = now + job.stallTimeout;
    const timeout = job.k.p.timeout;
    if (timeout > 0 && job.startedAt + timeout < deadline) deadline = job.startedAt + timeout;
    job.deadline = deadline;
    return job;
  }

  // ---- the transitions the timers and retention call (core.ts) ----

  abstract promote(job: Job, now: number): void;
  protected abstract leaseEnded(job: Job, now: number): void;
  abstract expire(job: Job, now: number): void;
  abstract remove(job: Job): void;
  protected abstract dependencyEnded(job: Job, ok: boolean): void;
}
