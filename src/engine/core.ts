// The job state machine: one function per transition. Each checks its from-state first (so a
// refused request changes nothing), then moves the job with the structure functions of
// structures.ts (detach, attach, finish: resources released there), one journal entry and one
// event. Transitions never deliver: they note the queues that got work (toServe) and the engine
// serves them after the transition, so events come out in causal order.

import { backoffMsMax, logsPerJobMax, maxAttemptsDefault, stackTracesPerJobMax, stallTimeoutMsDefault, stallsMax } from "../constants.ts";
import { ClientError } from "../errors.ts";
import { DependencyFailure, isFinished, Job, JobState, kindSpec, type QueueState, RateLimit, stateName } from "./model.ts";
import { Structures } from "./structures.ts";

/** A push's options as a KindSpec, filled per push (the Job's kind copies what it keeps). */
const pushKind = kindSpec();

export type { CoreOptions } from "./structures.ts";

export interface PushInput {
  queue: string;
  /** MessagePack bytes of the job's data: data[dataStart, dataEnd) when those are given (a
   *  frame's bytes, borrowed: the engine copies them before push returns). */
  data: Uint8Array;
  dataStart?: number;
  dataEnd?: number;
  priority?: number;
  delay?: number;
  ttl?: number;
  timeout?: number;
  maxAttempts?: number;
  backoff?: number;
  backoffFixed?: boolean;
  /** 0..1: a retry's delay is drawn from [delay x (1 - jitter), delay] (BullMQ's jitter). */
  backoffJitter?: number;
  /** The job keeps its last n log lines (at most logsPerJobMax). */
  keepLogs?: number;
  uniqueKey?: string;
  customId?: string;
  tags?: string[];
  lifo?: boolean;
  removeOnComplete?: boolean;
  removeOnFail?: boolean;
  /** Per-job retention (0 or absent: the server's bounds; they cannot be exceeded). */
  keepCompletedAge?: number;
  keepCompletedCount?: number;
  keepFailedAge?: number;
  keepFailedCount?: number;
  stallTimeout?: number;
  groupId?: string;
  name?: string;
  /** debounce_id / deduplication.id, and the window in ms (undefined: while the job is unfinished). */
  dedupKey?: string;
  dedupTtl?: number;
  /** depends_on: ids that must complete before the job may run. */
  dependsOn?: readonly number[];
  /** What this job's failure does to the jobs waiting on it (a flow child's on_failure). */
  onFailure?: DependencyFailure;
}

/** What a `partial` event carries. */
export interface PartialResult {
  data: Uint8Array;
  index: number | null;
}

export class Core extends Structures {
  // ---- transitions ----

  /** Set by push: the push created nothing because a deduplication window stood for it. */
  deduplicated = false;

  /** -> Waiting or Delayed. Returns the id, or the existing job's id for a live custom id or an
   *  open deduplication window (then `deduplicated` is set and the standing job gets the event). */
  push(p: PushInput): number {
    this.deduplicated = false;
    if (p.customId !== undefined) {
      const existing = this.customIds.get(p.customId);
      if (existing !== undefined) return existing;
    }
    // One reading of the clock per push: with two, perf put clock_gettime at 2.75 % of a durable
    // PUSHB server's CPU.
    const now = this.now();
    if (p.dedupKey !== undefined) {
      const standing = this.dedup.standing(this.queues.get(p.queue), p.dedupKey, now, this.jobs);
      if (standing !== undefined) {
        this.deduplicated = true;
        if (this.events.listening) this.events.emit("deduplicated", standing, p.dedupKey);
        return standing.id;
      }
    }
    const q = this.checkPush(p);
    const deps = p.dependsOn === undefined ? null : this.dependencies(p.dependsOn);
    const job = this.createJob(q, p, now);
    q.counters.pushed++;
    if (deps !== null && deps.length > 0) this.waitOn(job, deps, JobState.WaitingChildren);
    else this.enterRunnable(job, now);
    return job.id;
  }

  /** The checks every new job passes (a refused push changes nothing); returns its queue. */
  checkPush(p: PushInput): QueueState {
    if (p.keepCompletedAge !== undefined || p.keepCompletedCount !== undefined || p.keepFailedAge !== undefined || p.keepFailedCount !== undefined) this.checkRetention(p);
    const q = this.queue(p.queue);
    if (p.uniqueKey !== undefined) this.checkUniqueKey(q, p.uniqueKey, 0);
    return q;
  }

  /** A new job with its options, registered (in the job table, under its custom id) but in no
   *  state's structure yet: enterRunnable or waitOn puts it in one. */
  createJob(q: QueueState, p: PushInput, now = this.now()): Job {
    const delay = p.delay ?? 0;
    const k = pushKind;
    k.name = p.name ?? null;
    k.priority = p.priority ?? 0;
    k.maxAttempts = p.maxAttempts ?? maxAttemptsDefault;
    k.backoff = p.backoff ?? 0;
    k.backoffFixed = p.backoffFixed ?? false;
    k.backoffJitter = p.backoffJitter ?? 0;
    k.stallTimeout = p.stallTimeout ?? stallTimeoutMsDefault;
    k.timeout = p.timeout ?? 0;
    k.ttl = p.ttl ?? 0;
    k.lifo = p.lifo ?? false;
    k.keepLogs = p.keepLogs ?? 0;
    k.removeOnComplete = p.removeOnComplete ?? false;
    k.removeOnFail = p.removeOnFail ?? false;
    k.keepCompletedAge = p.keepCompletedAge ?? 0;
    k.keepCompletedCount = p.keepCompletedCount ?? 0;
    k.keepFailedAge = p.keepFailedAge ?? 0;
    k.keepFailedCount = p.keepFailedCount ?? 0;
    const job = new Job(this.takeId(), q, null, now, now + delay, k);
    job.d = q.payloads.put(job, p.data, p.dataStart ?? 0, p.dataEnd ?? p.data.length);
    if (
      p.uniqueKey !== undefined || p.customId !== undefined || p.tags !== undefined || p.groupId !== undefined ||
      p.dedupKey !== undefined || p.onFailure !== undefined
    ) {
      const x = job.extra();
      x.uniqueKey = p.uniqueKey ?? null;
      x.customId = p.customId ?? null;
      x.tags = p.tags ?? null;
      x.groupId = p.groupId ?? null;
      x.onFailure = p.onFailure ?? DependencyFailure.Fail;
      if (p.dedupKey !== undefined) {
        x.dedupKey = p.dedupKey;
        x.dedupUntil = p.dedupTtl === undefined ? 0 : now + p.dedupTtl;
      }
    }
    this.register(job);
    if (p.dedupKey !== undefined) this.dedup.open(job, p.dedupKey, job.x!.dedupUntil);
    return job;
  }

  /** A new (or just released) job's first runnable state: Delayed while its run-at is ahead. */
  enterRunnable(job: Job, now: number): void {
    if (job.runAt > now) this.enter(job, JobState.Delayed, job.runAt, "delayed");
    else this.enter(job, JobState.Waiting, now, "waiting");
  }

  // ---- dependencies (depends_on) and flows: the waiting side ----

  /** The unfinished jobs among `ids`, checked: an unknown id is NOT_FOUND, a failed one refused. */
  dependencies(ids: readonly number[]): Job[] {
    const out: Job[] = [];
    for (const id of ids) {
      const dep = this.jobs.get(id);
      if (dep === undefined) throw new ClientError("NOT_FOUND", `depends_on: job ${id} not found (it never existed, or its record is gone)`);
      if (dep.state === JobState.Failed) throw new ClientError("INVALID_STATE", `depends_on: job ${id} has failed; the new job could never run`);
      if (dep.state !== JobState.Completed && !out.includes(dep)) out.push(dep);
    }
    return out;
  }

  /** Enters WaitingChildren (depends_on) or WaitingParent (a flow's children) until each of
   *  `deps` is resolved: each learns that it has this job waiting on it. */
  waitOn(job: Job, deps: readonly Job[], state: JobState.WaitingChildren | JobState.WaitingParent): void {
    const x = job.extra();
    if (state === JobState.WaitingChildren) x.dependsOn = deps.map((d) => d.id);
    x.pendingDeps += deps.length;
    for (const d of deps) {
      (d.extra().dependents ??= []).push(job.id);
      this.record(d, null);
    }
    this.enter(job, state, 0, state === JobState.WaitingChildren ? "waitingchildren" : "waitingparent");
  }

  /** A job's own retention may shorten the server's, never lengthen it: refused, not ignored. */
  private checkRetention(p: PushInput): void {
    const r = this.retention;
    // (The DLQ has no age bound of its own, so a failed record's age is not capped.)
    if (p.keepCompletedAge !== undefined && p.keepCompletedAge > r.keepFinishedAgeMs) {
      throw new ClientError("INVALID", `keep_completed_age ${p.keepCompletedAge} ms is longer than the server keeps completed jobs (KEEP_COMPLETED_AGE_MS=${r.keepFinishedAgeMs}); raise that setting to keep them longer`);
    }
    for (const [field, v] of [["keep_completed_count", p.keepCompletedCount], ["remove_on_fail", p.keepFailedCount]] as const) {
      if (v !== undefined && v > r.keepFinished) {
        throw new ClientError("INVALID", `${field} ${v} is more finished jobs than the server keeps (KEEP_COMPLETED=${r.keepFinished}); raise that setting to keep more`);
      }
    }
  }

  /** Waiting (at the front of its ready line) -> Active: a delivery with a fresh lock token and lease. */
  activate(job: Job, now: number): void {
    this.move(job, JobState.Active, now, "active");
  }

  /** Waiting (group head in the ready line) -> Waiting (pending in its group): the group has as
   *  many active jobs as the queue allows per group (the limit was lowered). Not an event. */
  holdForGroup(job: Job, g: string): void {
    const q = job.queue;
    const line = q.groups.get(g)!;
    q.ready.remove(job);
    line.head = null;
    line.pending.push(job);
    q.groupPending++;
  }

  /** Active -> Completed (or gone with remove_on_complete). */
  complete(job: Job, token: number | undefined, result: Uint8Array | null, now: number): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    if (result !== null) job.extra().result = result;
    job.queue.counters.completed++;
    this.throughput.completed(now, now - job.startedAt, job.startedAt - job.runAt);
    this.finish(job, JobState.Completed, now, "completed", job.k.p.removeOnComplete);
  }

  /** Active -> retry (Delayed/Waiting) or Failed: one failed attempt (FAIL or processing timeout).
   *  `stack` is kept with the job; `unrecoverable` sends it to the DLQ with no retry. */
  failAttempt(job: Job, token: number | undefined, error: string, now: number, stack: string | null = null, unrecoverable = false): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    job.attempts++;
    const x = job.extra();
    x.error = error;
    if (stack !== null) {
      const stacks = (x.stack ??= []);
      stacks.push(stack);
      if (stacks.length > stackTracesPerJobMax) stacks.splice(0, stacks.length - stackTracesPerJobMax);
    }
    if (unrecoverable || job.attempts >= job.maxAttempts) return this.fail(job, error, now);
    const delay = this.backoffMs(job);
    job.queue.counters.retried++;
    if (delay > 0) this.move(job, JobState.Delayed, now + delay, "retried");
    else this.move(job, JobState.Waiting, now, "retried");
  }

  backoffMs(job: Job): number {
    if (job.backoff <= 0) return 0;
    const k = job.k.p;
    const ms = Math.min(k.backoffFixed ? k.backoff : k.backoff * 2 ** (job.attempts - 1), backoffMsMax);
    if (k.backoffJitter === 0) return ms;
    return Math.floor(ms * (1 - k.backoffJitter) + Math.random() * ms * k.backoffJitter);
  }

  /** Any unfinished state -> Failed (the DLQ), or gone with remove_on_fail. */
  fail(job: Job, error: string, now: number): void {
    if (isFinished(job.state)) throw new ClientError("INVALID_STATE", `Job ${job.id} is already ${stateName(job)}`);
    job.extra().error = error;
    job.queue.counters.failed++;
    this.finish(job, JobState.Failed, now, "failed", job.k.p.removeOnFail);
  }

  /** Waiting or Delayed past its ttl -> Failed. */
  expire(job: Job, now: number): void {
    this.fail(job, `Job expired: ttl ${job.k.p.ttl} ms passed before it was processed`, now);
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
    // An open-ended dedup window reopens with the job, unless another job holds the key now.
    const dk = job.x === null ? null : job.x.dedupKey;
    if (dk !== null && job.x!.dedupUntil === 0 && this.dedup.standing(job.queue, dk, now, this.jobs) === undefined) this.dedup.open(job, dk, 0);
    this.move(job, JobState.Waiting, now, "waiting");
  }

  /** Active whose lease (or processing timeout) ended -> a failed attempt, a stall, or Failed. */
  protected leaseEnded(job: Job, now: number): void {
    const timeout = job.k.p.timeout;
    if (timeout > 0 && now >= job.startedAt + timeout) return this.failAttempt(job, undefined, `Job timed out after ${timeout} ms`, now);
    job.stallCount++;
    if (job.stallCount >= stallsMax) {
      return this.fail(job, `Job stalled ${job.stallCount} times (lease of ${job.stallTimeout} ms expired)`, now);
    }
    job.queue.counters.stalled++;
    this.move(job, JobState.Waiting, now, "stalled");
  }

  /** Active -> Waiting, no attempt counted: the delivery did not reach a worker (its reply
   *  could not be written), or the worker handed the job back unstarted. */
  release(job: Job, token: number | undefined, now: number): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    this.move(job, JobState.Waiting, now, "waiting");
  }

  /** Any state -> gone (CANCEL). An active job's worker learns it from its next HEARTBEAT,
   *  ACK or FAIL (JOB_CANCELLED) and from the `cancelled` event (then `removed`, as for every
   *  record that goes; a worker listens to `cancelled` alone, which retention never sends). */
  cancel(job: Job): void {
    if (job.state === JobState.Active) this.cancelledActive.add(job.id);
    if (this.events.listening) this.events.emit("cancelled", job);
    this.remove(job);
  }

  /** Any state -> gone (CANCEL, purge, drain, obliterate, retention). */
  remove(job: Job): void {
    this.detach(job);
    if (!isFinished(job.state)) this.releaseKeys(job);
    this.forget(job);
    this.refillGroupOf(job);
    this.finishWaiters.resolve(job, "removed");
  }

  // ---- dependencies and flows: the resolving side ----

  private resolving = false;
  private readonly ended: Job[] = [];
  private readonly endedOk: boolean[] = [];

  /** A job others wait on completed (ok), failed for good, or was removed before completing.
   *  Resolution runs from a work list, not recursively: a failure that fails a parent that
   *  fails its own parent is one loop, however long the chain. */
  protected dependencyEnded(job: Job, ok: boolean): void {
    this.ended.push(job);
    this.endedOk.push(ok);
    if (this.resolving) return;
    this.resolving = true;
    try {
      for (let i = 0; i < this.ended.length; i++) this.resolveDependents(this.ended[i]!, this.endedOk[i]!);
    } finally {
      this.ended.length = 0;
      this.endedOk.length = 0;
      this.resolving = false;
    }
  }

  private resolveDependents(dep: Job, ok: boolean): void {
    const x = dep.x!;
    const now = this.now();
    for (const id of x.dependents!) {
      const d = this.jobs.get(id);
      if (d === undefined || (d.state !== JobState.WaitingChildren && d.state !== JobState.WaitingParent)) continue;
      const dx = d.x!;
      const child = x.parentId === d.id;
      if (ok) {
        if (child) {
          dx.childrenCompleted++;
          (dx.childValues ??= []).push([dep.id, x.result, dep.queue.name]);
        }
        this.resolved(d, now);
      } else if (x.onFailure === DependencyFailure.Ignore) {
        this.resolved(d, now);
      } else if (x.onFailure === DependencyFailure.Continue) {
        this.unblock(d, now);
      } else {
        const what = child ? "child" : "dependency";
        const how = dep.state === JobState.Failed ? `failed: ${x.error ?? ""}` : "was removed before it completed";
        this.fail(d, `${what} ${dep.id} ${how}`, now);
      }
    }
  }

  private resolved(d: Job, now: number): void {
    const dx = d.x!;
    dx.pendingDeps--;
    if (dx.pendingDeps <= 0) this.unblock(d, now);
    else this.record(d, null);
  }

  /** WaitingChildren/WaitingParent -> Waiting, or Delayed while its run-at is ahead. */
  private unblock(d: Job, now: number): void {
    if (d.runAt > now) this.move(d, JobState.Delayed, d.runAt, "delayed");
    else this.move(d, JobState.Waiting, now, "waiting");
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

  /** A partial result of an active job, streamed as a `partial` event (not stored). */
  partial(job: Job, token: number | undefined, data: Uint8Array, index: number | null): void {
    this.mustBeActive(job);
    this.checkToken(job, token);
    if (this.events.listening) this.events.emit("partial", job, { data, index } satisfies PartialResult);
  }

  /** Appends a log line; the oldest lines go past the job's keep_logs (or logsPerJobMax). */
  addLog(job: Job, message: string, level: string, now: number): void {
    const x = job.extra();
    const logs = (x.logs ??= []);
    logs.push({ timestamp: now, message, level });
    const keep = job.k.p.keepLogs > 0 ? job.k.p.keepLogs : logsPerJobMax;
    if (logs.length > keep) logs.splice(0, logs.length - keep);
    this.record(job, null);
  }

  /** CLEARLOGS: drops the job's log lines but the last `keep`; returns how many went. */
  clearLogs(job: Job, keep: number): number {
    const logs = job.x?.logs;
    if (logs === undefined || logs === null || logs.length <= keep) return 0;
    const removed = logs.length - keep;
    if (keep === 0) job.x!.logs = null;
    else logs.splice(0, removed);
    this.record(job, null);
    return removed;
  }

  /** RATELIMIT: at most `perSecond` deliveries a second, `burst` at once (a full bucket). */
  setRateLimit(q: QueueState, perSecond: number, burst: number): void {
    this.clearRateLimit(q);
    q.rateLimit = new RateLimit(q, perSecond, burst, this.now());
    this.journal.queueChanged(q);
    this.wantServe(q);
  }

  clearRateLimit(q: QueueState): void {
    const r = q.rateLimit;
    if (r === null) return;
    if (this.refills.has(r)) this.refills.remove(r);
    q.rateLimit = null;
    this.journal.queueChanged(q);
    this.wantServe(q);
    this.mayBeEmpty(q);
  }

  /** SETCONCURRENCY: active jobs of the queue across workers (0: no limit), and per group. */
  setConcurrency(q: QueueState, limit: number, perGroup: number): void {
    if (q.concurrencyLimit === limit && q.groupConcurrency === perGroup) return;
    const raised = perGroup > q.groupConcurrency;
    q.concurrencyLimit = limit;
    q.groupConcurrency = perGroup;
    // A higher per-group limit lets each group put its next job in line now; a lower one takes
    // effect as the heads come up for delivery (Delivery.take holds them back).
    if (raised) for (const g of [...q.groups.keys()]) this.refillGroup(q, g);
    this.journal.queueChanged(q);
    this.wantServe(q);
    this.mayBeEmpty(q);
  }

  setPaused(q: QueueState, paused: boolean): void {
    if (q.paused === paused) return;
    q.paused = paused;
    this.journal.queueChanged(q);
    if (!paused) {
      this.wantServe(q);
      this.mayBeEmpty(q);
    }
  }
}
