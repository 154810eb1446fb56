// Test harness for the engine unit tests: a fake clock, a journal that records every write, job
// data as bytes, a ClientError matcher and a full invariant check of the engine's structures.
// Not a test file itself; it knows engine internals only to check them, never to drive them.

import { expect } from "bun:test";
import { Engine, type EngineOptions, type PushInput } from "../../src/engine/engine.ts";
import { ClientError, type ErrorCode } from "../../src/errors.ts";
import type { IndexedHeap } from "../../src/engine/heap.ts";
import { readyBefore } from "../../src/engine/ready-queue.ts";
import type { RunHeap } from "../../src/engine/run-heap.ts";
import type { PayloadArena } from "../../src/engine/payloads.ts";
import { payloadSlabBytesMax, payloadSlack } from "../../src/constants.ts";
import type { Journal } from "../../src/engine/journal.ts";
import type { RecordKind } from "../../src/engine/records.ts";
import { groupBefore, stateName, type Job, type QueueState, type StateName } from "../../src/engine/model.ts";
import type { DeadlineTimer } from "../../src/engine/timers.ts";

export interface JournalEntry {
  kind: "changed" | "removed" | "queue" | "queue-removed";
  id: number;
  /** State of the job at the moment of the write ("queue" entries: the queue's paused flag). */
  state: StateName | "paused" | "resumed";
}

export class RecordingJournal implements Journal {
  entries: JournalEntry[] = [];
  jobChanged(job: Job): void {
    this.entries.push({ kind: "changed", id: job.id, state: stateName(job) });
  }
  jobRemoved(job: Job): void {
    this.entries.push({ kind: "removed", id: job.id, state: stateName(job) });
  }
  queueChanged(q: QueueState): void {
    this.entries.push({ kind: "queue", id: 0, state: q.paused ? "paused" : "resumed" });
  }
  queueRemoved(q: QueueState): void {
    this.entries.push({ kind: "queue-removed", id: 0, state: q.paused ? "paused" : "resumed" });
  }
  /** Reservations of id and token blocks, in order. */
  reservations: { what: "ids" | "tokens"; upTo: number }[] = [];
  reserve(what: "ids" | "tokens", upTo: number): void {
    this.reservations.push({ what, upTo });
  }
  /** Records (schedules, KV) as the journal last saw them: the stored form, or null once removed. */
  readonly records = new Map<string, unknown>();
  recordChanged(kind: RecordKind, key: string, value: unknown): void {
    this.records.set(`${kind}:${key}`, structuredClone(value));
  }
  recordRemoved(kind: RecordKind, key: string): void {
    this.records.set(`${kind}:${key}`, null);
  }
  /** Entries written since the last call. */
  take(): JournalEntry[] {
    const out = this.entries;
    this.entries = [];
    return out;
  }
  forJob(id: number): JournalEntry[] {
    return this.entries.filter((e) => e.id === id && (e.kind === "changed" || e.kind === "removed"));
  }
}

export const T0 = 1_700_000_000_000;

export class Harness {
  t = T0;
  readonly journal = new RecordingJournal();
  readonly engine: Engine;
  events: { event: string; id: number }[] = [];

  constructor(opts: Partial<EngineOptions> = {}) {
    this.engine = new Engine({ now: () => this.t, journal: this.journal, ...opts });
    this.engine.events.on((event, job) => this.events.push({ event, id: job.id }));
  }

  /** Pushes with defaults (queue "q", data = bytes of the id-to-be). */
  push(opts: Partial<PushInput> = {}): number {
    return this.engine.push({ queue: "q", data: bytes(this.engine.nextId), ...opts });
  }

  pullOne(queue = "q"): Job | undefined {
    return this.engine.pull(queue, 1)[0];
  }

  pullIds(queue = "q", count = 1000): number[] {
    return this.engine.pull(queue, count).map((j) => j.id);
  }

  /** Moves the clock to `t` and runs the engine's timers; returns tick's next deadline. */
  at(t: number): number {
    this.t = t;
    return this.engine.tick(t);
  }

  advance(ms: number): number {
    return this.at(this.t + ms);
  }

  state(id: number): StateName {
    return stateName(this.engine.getJob(id));
  }

  job(id: number): Job {
    return this.engine.mustGet(id);
  }

  q(name = "q"): QueueState {
    return this.engine.queue(name);
  }
}

export function bytes(n: number): Uint8Array {
  // A MessagePack positive fixint / uint32 - any opaque bytes would do; distinct per job.
  return new Uint8Array([0xce, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

/** Runs f and asserts it throws a ClientError with `code`. */
export function expectClientError(f: () => unknown, code: ErrorCode): ClientError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ClientError);
  expect((caught as ClientError).code).toBe(code);
  return caught as ClientError;
}

/** Every item of an indexed heap knows its index, and the heap property holds. */
export function checkHeap<T extends { hi: number }>(heap: IndexedHeap<T>, less: (a: T, b: T) => boolean): void {
  const items = heap.toArray();
  for (let i = 0; i < items.length; i++) {
    if (items[i]!.hi !== i) throw new Error(`heap: item at ${i} has hi=${items[i]!.hi}`);
    if (i > 0 && less(items[i]!, items[(i - 1) >> 1]!)) throw new Error(`heap: item at ${i} precedes its parent`);
  }
}

/** A RunHeap (the ready line, a timer's items): its heap is a heap, its run is in order with
 *  descending hi (-2 - its ascending positions), and the size counts both. */
export function checkRunHeap<T extends { hi: number }>(line: RunHeap<T>, less: (a: T, b: T) => boolean): void {
  const { heap, run } = line.toArray();
  for (let i = 0; i < heap.length; i++) {
    if (heap[i]!.hi !== i) throw new Error(`heap: item at ${i} has hi=${heap[i]!.hi}`);
    if (i > 0 && less(heap[i]!, heap[(i - 1) >> 1]!)) throw new Error(`heap: item at ${i} precedes its parent`);
  }
  for (let i = 0; i < run.length; i++) {
    if (run[i]!.hi > -2 || (i > 0 && run[i]!.hi >= run[i - 1]!.hi)) throw new Error(`run: item at ${i} has hi=${run[i]!.hi}`);
    if (i > 0 && less(run[i]!, run[i - 1]!)) throw new Error(`run: item at ${i} precedes the one before it`);
  }
  if (line.size !== heap.length + run.length) throw new Error(`run heap: size ${line.size}, holds ${heap.length + run.length}`);
}

interface EngineInternals {
  core: {
    delays: DeadlineTimer<Job>;
    leases: DeadlineTimer<Job>;
    ttl: DeadlineTimer<{ hi: number; deadline: number; job: Job }>;
    finishWaiters: DeadlineTimer<{ hi: number; deadline: number }>;
    retention: { completedTotal: number };
    refills: DeadlineTimer<{ hi: number; deadline: number }>;
  };
  pulls: DeadlineTimer<{ hi: number; deadline: number }>;
}

/**
 * Cross-checks every structure of the engine against the jobs map: each job sits in exactly the
 * structure of its state, counters match, groups/unique keys/custom ids point at the right jobs.
 */
export function checkInvariants(engine: Engine): void {
  const e = engine as unknown as EngineInternals;
  const byDeadline = (a: { deadline: number }, b: { deadline: number }) => a.deadline < b.deadline;
  checkRunHeap(e.core.delays.items, byDeadline);
  checkRunHeap(e.core.leases.items, byDeadline);
  checkRunHeap(e.core.ttl.items, byDeadline);
  checkRunHeap(e.core.finishWaiters.items, byDeadline);
  checkRunHeap(e.pulls.items, byDeadline);
  checkRunHeap(e.core.refills.items, byDeadline);
  const fail = (msg: string): never => {
    throw new Error(`invariant: ${msg}`);
  };
  const perQueue = new Map<QueueState, { waiting: number; delayed: number; active: number; completed: number; failed: number; blocked: number }>();
  for (const q of engine.queues.values()) {
    perQueue.set(q, { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0, blocked: 0 });
    checkRunHeap(q.ready, readyBefore);
  }
  // Every job owns its payload in the engine's arena, and the arena holds no other.
  const arena = (e.core as unknown as { payloads: PayloadArena }).payloads;
  let payloadBytes = 0;
  for (const [id, job] of engine.jobs) {
    if (job.queue.payloads !== arena) fail(`job ${id}: its queue's payloads are not the engine's`);
    payloadBytes += 8 + arena.length(job);
  }
  if (arena.stats.live !== payloadBytes) fail(`payload arena holds ${arena.stats.live} live bytes, the jobs ${payloadBytes}`);
  if (arena.stats.allocated > payloadSlack * arena.stats.live + 3 * payloadSlabBytesMax) fail(`payload arena holds ${arena.stats.allocated} bytes for ${arena.stats.live} live`);
  for (const [id, job] of engine.jobs) {
    if (job.id !== id) fail(`job ${job.id} stored under ${id}`);
    const q = job.queue;
    const c = perQueue.get(q) ?? fail(`job ${id} in a queue the engine does not know`);
    const s = stateName(job);
    switch (s) {
      case "waiting": {
        c.waiting++;
        const inReady = q.ready.has(job);
        const line = job.groupId === null ? undefined : q.groups.get(job.groupId);
        if (job.groupId !== null && line === undefined) fail(`waiting job ${id}: no line for group ${job.groupId}`);
        const pending = line !== undefined && line.pending.has(job);
        if (inReady === pending) fail(`waiting job ${id}: inReady=${inReady} pending=${pending}`);
        if (line !== undefined && inReady !== (line.head === job)) fail(`waiting job ${id}: in ready but not its group's head`);
        break;
      }
      case "delayed":
        c.delayed++;
        if (!e.core.delays.has(job)) fail(`delayed job ${id} not in the delay heap`);
        if (q.delayed.get(id) !== job) fail(`delayed job ${id} not in its queue's delayed index`);
        if (job.deadline !== job.runAt) fail(`delayed job ${id}: deadline ${job.deadline} != run_at ${job.runAt}`);
        break;
      case "active":
        c.active++;
        if (q.active.get(id) !== job) fail(`active job ${id} not in the active map`);
        if (!e.core.leases.has(job)) fail(`active job ${id} has no lease`);
        if (job.lockToken <= 0) fail(`active job ${id} has no lock token`);
        if (job.groupId !== null && q.groups.get(job.groupId) === undefined) fail(`active job ${id}: no line for group ${job.groupId}`);
        break;
      case "completed":
        c.completed++;
        if (!q.completed.has(job)) fail(`completed job ${id} not in its queue's completed list`);
        if (job.lockToken !== 0) fail(`completed job ${id} kept its lock token`);
        break;
      case "failed":
        c.failed++;
        if (!q.failed.has(job)) fail(`failed job ${id} not in the DLQ`);
        if (job.lockToken !== 0) fail(`failed job ${id} kept its lock token`);
        break;
      case "waitingchildren":
      case "waitingparent":
        c.blocked++;
        if (q.blocked.get(id) !== job) fail(`${s} job ${id} not in its queue's blocked index`);
        if (job.x === null || job.x.pendingDeps <= 0) fail(`${s} job ${id} waits on nothing`);
        break;
      default:
        fail(`job ${id} in unexpected state ${s}`);
    }
    const x = job.x;
    const waits = s === "waiting" || s === "delayed" || s === "waitingchildren" || s === "waitingparent";
    const inTtl = x !== null && x.ttlEntry !== null;
    if (job.k.p.ttl > 0 && inTtl !== waits) fail(`job ${id} (${s}) ttl timer entry: ${inTtl}`);
    if (x !== null && x.ttlEntry !== null && !e.core.ttl.has(x.ttlEntry)) fail(`job ${id}: ttl entry not in the ttl timer`);
    if (x !== null && x.uniqueKey !== null) {
      const unfinished = s !== "completed" && s !== "failed";
      const holder = q.uniqueKeys.get(x.uniqueKey);
      if (unfinished && holder !== id) fail(`unfinished job ${id} does not hold its unique_key`);
      if (!unfinished && holder === id) fail(`finished job ${id} still holds its unique_key`);
    }
    if (x !== null && x.customId !== null && engine.customIds.get(x.customId) !== id) {
      fail(`job ${id}: custom id ${x.customId} not mapped to it`);
    }
  }
  for (const [q, c] of perQueue) {
    if (q.waitingCount !== c.waiting) fail(`queue ${q.name}: waitingCount ${q.waitingCount} != ${c.waiting}`);
    if (q.delayedCount !== c.delayed) fail(`queue ${q.name}: delayedCount ${q.delayedCount} != ${c.delayed}`);
    if (q.active.size !== c.active) fail(`queue ${q.name}: active ${q.active.size} != ${c.active}`);
    if (q.completedCount !== c.completed) fail(`queue ${q.name}: completedCount ${q.completedCount} != ${c.completed}`);
    if (q.failed.size !== c.failed) fail(`queue ${q.name}: failed ${q.failed.size} != ${c.failed}`);
    if (q.blocked.size !== c.blocked) fail(`queue ${q.name}: blocked ${q.blocked.size} != ${c.blocked}`);
    let pending = 0;
    const activeByGroup = new Map<string, number>();
    for (const job of q.active.values()) if (job.groupId !== null) activeByGroup.set(job.groupId, (activeByGroup.get(job.groupId) ?? 0) + 1);
    for (const [g, line] of q.groups) {
      pending += line.pending.size;
      if (line.active !== (activeByGroup.get(g) ?? 0)) fail(`queue ${q.name}: group ${g} counts ${line.active} active, has ${activeByGroup.get(g) ?? 0}`);
      if (line.head === null && line.pending.size > 0 && line.active < q.groupConcurrency) fail(`queue ${q.name}: group ${g} may run a job but has none in line`);
      if (line.head === null && line.pending.size === 0 && line.active === 0) fail(`queue ${q.name}: empty group ${g} kept`);
      if (line.head !== null && line.pending.size > 0 && groupBefore(line.pending.peek()!, line.head)) fail(`queue ${q.name}: group ${g} head is not its first job`);
    }
    if (pending !== q.groupPending) fail(`queue ${q.name}: groupPending ${q.groupPending} != ${pending}`);
    if (q.concurrencyLimit > 0 && q.active.size > q.concurrencyLimit) fail(`queue ${q.name}: ${q.active.size} active over its limit ${q.concurrencyLimit}`);
    for (const [key, id] of q.uniqueKeys) {
      const s = stateName(engine.getJob(id));
      if (s !== "waiting" && s !== "delayed" && s !== "active") fail(`unique_key ${key} held by ${s} job ${id}`);
    }
    // Jobs ready while pullers are parked would be a lost wake-up (unless paused).
    const mayDeliver = !q.paused && (q.concurrencyLimit === 0 || q.active.size < q.concurrencyLimit) && (q.rateLimit === null || q.rateLimit.available(engine.now()) >= 1);
    if (mayDeliver && q.waiters.length > 0 && q.ready.size > 0) fail(`queue ${q.name}: ready jobs with parked pullers`);
    if (!mayDeliver && q.rateLimit !== null && q.waiters.length > 0 && q.ready.size > 0 && !e.core.refills.has(q.rateLimit)) fail(`queue ${q.name}: pullers wait for a token but no refill is armed`);
  }
  const sum = (k: "delayed" | "active" | "completed") => [...perQueue.values()].reduce((n, c) => n + c[k], 0);
  if (e.core.delays.size !== sum("delayed")) fail("delay heap holds stray jobs");
  if (e.core.leases.size !== sum("active")) fail("lease heap holds stray jobs");
  if (e.core.retention.completedTotal !== sum("completed")) fail("retention's completed count is off");
  for (const entry of [...e.core.ttl.items.ordered()]) if (engine.getJob(entry.job.id) !== entry.job) fail(`ttl entry of a forgotten job ${entry.job.id}`);
  for (const [cid, id] of engine.customIds) if (!engine.jobs.has(id)) fail(`custom id ${cid} -> missing job ${id}`);
}
