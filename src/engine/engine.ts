// The queue engine: what dispatch calls. Synchronous, no I/O, time from an injected clock.
// It composes the state machine (core.ts), delivery, waiters, retention and the timer registry,
// and gives every operation the same shape: look the job up, run one transition (which checks
// its from-state before changing anything), then settle: serve the queues that transition gave
// work to. tick(now) runs the timers' due work and returns the next deadline.

import { timersPerTickMax } from "../constants.ts";
import { Core, type CoreOptions, type PushInput } from "./core.ts";
import { BulkWork, type BulkTask } from "./bulk.ts";
import { Delivery, type PullOptions } from "./delivery.ts";
import { createFlow, type FlowCreated, type FlowNode } from "./flows.ts";
import type { EventBus } from "./events.ts";
import type { JobTable } from "./job-table.ts";
import type { Journal } from "./journal.ts";
import type { PayloadArena } from "./payloads.ts";
import { JobState, type DeliveryLimit, type Job, type PullWaiter, type QueueCounters, type QueueState } from "./model.ts";
import type { Throughput } from "./throughput.ts";
import { KvStore } from "./kv.ts";
import { Scheduler } from "./scheduler.ts";
import { RecordOwners, type RecordKind } from "./records.ts";
import { TimerRegistry, type TimerComponent } from "./timers.ts";
import { PullTimers, type Finish } from "./waiters.ts";

export type { PartialResult, PushInput } from "./core.ts";
export type { FlowNode } from "./flows.ts";
export type { Finish } from "./waiters.ts";
export type { EngineEvent } from "./events.ts";
export type EngineOptions = CoreOptions;

/** A queue's settings as stored (persistence/codecs.ts). */
export interface QueueSettings {
  paused: boolean;
  rate: { perSecond: number; burst: number } | null;
  concurrency: number;
  groupConcurrency: number;
}

export class Engine {
  private readonly core: Core;
  private readonly delivery: Delivery;
  private readonly pulls = new PullTimers();
  private readonly bulkWork = new BulkWork();
  readonly timers = new TimerRegistry();
  /** Who keeps each kind of small persisted record (records.ts). */
  readonly records = new RecordOwners();

  /** KVSET ... KVINCR: persisted through the journal's records, TTLs on the engine's timers. */
  readonly kv: KvStore;
  /** CRON schedules: a timer of their own, persisted through the records. */
  readonly scheduler: Scheduler;

  constructor(opts: EngineOptions) {
    const core = (this.core = new Core(opts));
    this.kv = new KvStore(core.now, () => core.journal);
    this.records.add(this.kv);
    this.scheduler = new Scheduler(core.now, () => core.journal, (p) => core.push(p));
    this.records.add(this.scheduler);
    this.delivery = new Delivery(core, this.pulls);
    this.pulls.onLeave = (q) => core.mayBeEmpty(q);
    for (const c of [core.delays, core.leases, core.ttl, core.refills, this.pulls, core.finishWaiters, core.retention, core.retention.expiry, core.dedup.timer, this.kv.expiry, this.scheduler.timer, this.bulkWork]) this.timers.add(c);
  }

  // ---- tables (read-only for callers; changes go through the operations below) ----

  get jobs(): JobTable<Job> {
    return this.core.jobs;
  }
  /** Every job's payload, in slabs (payloads.ts). */
  get payloads(): PayloadArena {
    return this.core.payloads;
  }
  get queues(): ReadonlyMap<string, QueueState> {
    return this.core.queues;
  }
  /** Event counters by queue name, including queues dropped while empty (totals never go back). */
  get counters(): ReadonlyMap<string, QueueCounters> {
    return this.core.counters;
  }
  get throughput(): Throughput {
    return this.core.throughput;
  }
  get customIds(): ReadonlyMap<string, number> {
    return this.core.customIds;
  }
  get events(): EventBus {
    return this.core.events;
  }
  get now(): () => number {
    return this.core.now;
  }
  get nextId(): number {
    return this.core.nextId;
  }
  get journal(): Journal {
    return this.core.journal;
  }
  set journal(j: Journal) {
    this.core.journal = j;
  }
  get keepFinished(): number {
    return this.core.retention.keepFinished;
  }
  get keepFinishedAgeMs(): number {
    return this.core.retention.keepFinishedAgeMs;
  }
  /** Completed records held, across queues. */
  get completedCount(): number {
    return this.core.retention.completedTotal;
  }

  /** The queue, created when it does not exist. */
  queue(name: string): QueueState {
    return this.core.queue(name);
  }

  getJob(id: number): Job | undefined {
    return this.core.jobs.get(id);
  }

  /** The job, or a NOT_FOUND client error. */
  mustGet(id: number): Job {
    return this.core.mustGet(id);
  }

  /** A timed feature (cron, limits, expiry) adds its component once, at construction. */
  addTimer(c: TimerComponent): void {
    this.timers.add(c);
  }

  // ---- operations ----

  /** Whether the last push was collapsed into an open deduplication window (its id is the standing job's). */
  get lastPushDeduplicated(): boolean {
    return this.core.deduplicated;
  }

  /** Creates a job (-> Waiting or Delayed). Returns its id, or the existing id for a live custom id. */
  push(p: PushInput): number {
    const id = this.core.push(p);
    this.settle();
    return id;
  }

  /** FLOW: a parent and its (nested) children, all or nothing. */
  flow(root: FlowNode): FlowCreated {
    const created = createFlow(this.core, root);
    this.settle();
    return created;
  }

  /** Takes up to `count` ready jobs (-> Active) without waiting. */
  pull(queueName: string, count: number, limit: DeliveryLimit | null = null): Job[] {
    const jobs = this.delivery.pull(this.core.queue(queueName), count, this.core.now(), limit);
    this.settle();
    return jobs;
  }

  /** Pull, or park until a job is ready or `timeoutMs` passes (then resolves []). */
  pullOrPark(queueName: string, count: number, timeoutMs: number, resolve: (jobs: Job[]) => void, opts?: PullOptions): PullWaiter | null {
    const w = this.delivery.pullOrPark(this.core.queue(queueName), count, timeoutMs, this.core.now(), resolve, opts);
    this.settle();
    return w;
  }

  /** Parked pulls of this queue that were passed over (blocked) may take jobs again. */
  serveQueue(q: QueueState): void {
    if (q.waiters.length === 0) return;
    this.core.toServe.push(q);
    this.settle();
  }

  /** Active -> Waiting for jobs whose delivery did not reach the worker; no attempt counted. */
  release(jobs: readonly Job[]): void {
    const now = this.core.now();
    for (const job of jobs) if (job.state === JobState.Active) this.core.release(job, undefined, now);
    this.settle();
  }

  /** Forgets a parked pull (its connection closed). */
  cancelPull(w: PullWaiter): void {
    this.pulls.cancel(w);
    this.settle();
  }

  /** Active -> Completed (ACK). */
  complete(id: number, token: number | undefined, result: Uint8Array | null): void {
    this.core.complete(this.core.mustGet(id), token, result, this.core.now());
    this.settle();
  }

  /** Active -> retry or Failed (FAIL); `unrecoverable`: Failed at once. */
  failAttempt(id: number, token: number | undefined, error: string, stack: string | null = null, unrecoverable = false): void {
    this.core.failAttempt(this.core.mustGet(id), token, error, this.core.now(), stack, unrecoverable);
    this.settle();
  }

  /** Any unfinished state -> Failed (DISCARD). */
  fail(job: Job, error: string): void {
    this.core.fail(job, error, this.core.now());
    this.settle();
  }

  promote(job: Job): void {
    this.core.promote(job, this.core.now());
    this.settle();
  }

  moveToDelayed(job: Job, delay: number, token: number | undefined): void {
    this.core.moveToDelayed(job, delay, token, this.core.now());
    this.settle();
  }

  /** Failed -> Waiting (RETRYDLQ). */
  retryFailed(job: Job): void {
    this.core.retryFailed(job, this.core.now());
    this.settle();
  }

  /** Any state -> gone. */
  remove(job: Job): void {
    this.core.remove(job);
    this.settle();
  }

  /** Removes a job in any state; an active one's worker is told JOB_CANCELLED. */
  cancel(id: number): void {
    this.core.cancel(this.core.mustGet(id));
    this.settle();
  }

  heartbeat(id: number, token: number | undefined): void {
    this.core.heartbeat(this.core.mustGet(id), token, this.core.now());
  }

  /** A queue created by a read that found it empty goes again (no cost for a mistyped name). */
  forgetIfEmpty(q: QueueState): void {
    this.core.mayBeEmpty(q);
    this.settle();
  }

  changePriority(job: Job, priority: number): void {
    this.core.changePriority(job, priority);
  }

  updateData(job: Job, data: Uint8Array): void {
    this.core.updateData(job, data);
  }

  setProgress(job: Job, progress: number, message: string | null): void {
    this.core.setProgress(job, progress, message);
  }

  partial(id: number, token: number | undefined, data: Uint8Array, index: number | null): void {
    this.core.partial(this.core.mustGet(id), token, data, index);
  }

  addLog(job: Job, message: string, level: string): void {
    this.core.addLog(job, message, level, this.core.now());
  }

  clearLogs(job: Job, keep: number): number {
    return this.core.clearLogs(job, keep);
  }

  setPaused(q: QueueState, paused: boolean): void {
    this.core.setPaused(q, paused);
    this.settle();
  }

  /** RATELIMIT / RATELIMITCLEAR (perSecond null). */
  setRateLimit(q: QueueState, perSecond: number | null, burst: number): void {
    if (perSecond === null) this.core.clearRateLimit(q);
    else this.core.setRateLimit(q, perSecond, burst);
    this.settle();
  }

  /** SETCONCURRENCY / CLEARCONCURRENCY (0, 1). */
  setConcurrency(q: QueueState, limit: number, perGroup: number): void {
    this.core.setConcurrency(q, limit, perGroup);
    this.settle();
  }

  /** Forgets a queue that holds no job any more (OBLITERATE). */
  dropQueue(q: QueueState): void {
    this.core.dropQueue(q);
  }

  backoffMs(job: Job): number {
    return this.core.backoffMs(job);
  }

  /** Runs work over many jobs in bounded steps (bulk.ts); `done` gets its count when it ends,
   *  at once when it was small. */
  bulk(task: BulkTask, done: (count: number) => void): void {
    this.bulkWork.start(task, done);
    this.settle();
  }

  /** Resolves when the job finishes or after timeoutMs. Returns a cancel function. */
  waitFinish(id: number, timeoutMs: number, resolve: (f: Finish) => void): () => void {
    return this.core.finishWaiters.wait(id, this.core.now() + timeoutMs, resolve);
  }

  // ---- recovery ----

  /** A stored queue with its settings, through the same transitions a command uses. Nothing
   *  is served or dropped until recovered(): the queue's jobs come after it. */
  restoreQueue(name: string, settings: QueueSettings): QueueState {
    const q = this.core.queue(name);
    this.core.setPaused(q, settings.paused);
    if (settings.rate !== null) this.core.setRateLimit(q, settings.rate.perSecond, settings.rate.burst);
    this.core.setConcurrency(q, settings.concurrency, settings.groupConcurrency);
    return q;
  }

  /** Rebuilds a stored job through the same attach as live ones (persistence/recovery.ts). */
  restore(job: Job): void {
    this.core.restore(job);
  }

  /** The end of recovery: sequence numbers stay ahead of the stored ones, and what recovery
   *  left empty (a stored queue without jobs or settings) is dropped. */
  recovered(maxSeq: number): void {
    this.core.restoreSequence(maxSeq);
    this.records.recovered();
    this.settle();
  }

  /** A stored record goes to its kind's owner; false when no owner is registered (the layer
   *  that keeps it is off: the record stays stored, untouched). */
  restoreRecord(kind: RecordKind, key: string, value: unknown): boolean {
    const owner = this.records.get(kind);
    if (owner === undefined) return false;
    owner.restore(key, value);
    return true;
  }

  restoreSequence(seq: number): void {
    this.core.restoreSequence(seq);
  }

  /** Recovery: the next id, and the next lock token, are above everything reserved before. */
  restoreCounters(nextId: number, nextToken: number): void {
    this.core.restoreCounters(nextId, nextToken);
  }

  /** The next id and lock token to be handed out (persistence gives back unused reservations). */
  idCounters(): { nextId: number; nextToken: number } {
    return this.core.idCounters();
  }

  // ---- time ----

  /** Does the due work of every timer component; returns the next deadline (ms epoch, Infinity if none). */
  tick(now: number): number {
    const finished = this.timers.runDue(now, timersPerTickMax);
    this.settle(now);
    return finished ? this.timers.nextDeadline() : now;
  }

  nextDeadline(): number {
    return this.timers.nextDeadline();
  }

  private settling = false;

  /**
   * Serves the queues the last transition gave work to (after its events, so they stay in
   * order). Re-entered from a delivery (a reply that bounced released its jobs), it returns at
   * once: the outer loop reaches the queues added meanwhile.
   */
  private settle(now = -1): void {
    const list = this.core.toServe;
    if (this.settling) return;
    if (list.length > 0) {
      this.settling = true;
      try {
        const t = now < 0 ? this.core.now() : now;
        for (let i = 0; i < list.length; i++) this.delivery.serve(list[i]!, t);
      } finally {
        list.length = 0;
        this.settling = false;
      }
    }
    if (this.core.maybeEmpty.length > 0) this.core.dropEmptyQueues();
  }
}
