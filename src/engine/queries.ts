// Queue-level reads and bulk operations: counts, listings, DLQ handling, drain and obliterate.
// Each walks only the structures of one queue (or of one state of it), never every job; nothing
// here moves a job except through an Engine operation.

import { listLimitMax, replyItemsBytesMax } from "../constants.ts";
import type { Engine } from "./engine.ts";
import type { BulkTask } from "./bulk.ts";
import { type GroupLine, isFinished, JobState, stateNames, type Job, type QueueState, type StateName } from "./model.ts";

export function jobCounts(q: QueueState) {
  return {
    waiting: q.waitingCount,
    active: q.active.size,
    delayed: q.delayedCount,
    completed: q.completedCount,
    failed: q.failed.size,
  };
}

/** Jobs of a queue in a state (all states: undefined), from the counters, without a walk. */
export function countInState(q: QueueState, state: StateName | undefined): number {
  switch (state) {
    case "waiting": return q.waitingCount;
    case "delayed": return q.delayedCount;
    case "active": return q.active.size;
    case "completed": return q.completedCount;
    case "failed": return q.failed.size;
    case "waitingchildren":
    case "waitingparent": {
      let n = 0;
      for (const j of q.blocked.values()) if (stateNames[j.state] === state) n++;
      return n;
    }
    case "unknown": return 0;
    default: return q.waitingCount + q.delayedCount + q.active.size + q.completedCount + q.failed.size + q.blocked.size;
  }
}

/** Bytes one queue row of LISTQUEUES may take, besides its name: keys and numbers. */
const queueRowBytes = 256;

/** One queue's row of LISTQUEUES. */
function queueRow(q: QueueState) {
  return {
    name: q.name,
    pending: q.waitingCount,
    processing: q.active.size,
    completed: q.completedCount,
    delayed: q.delayedCount,
    dlq: q.failed.size,
    paused: q.paused,
    rate_limit: q.rateLimit === null ? null : q.rateLimit.perSecond,
    rate_limit_burst: q.rateLimit === null ? null : q.rateLimit.burst,
    concurrency_limit: q.concurrencyLimit === 0 ? null : q.concurrencyLimit,
    group_concurrency: q.groupConcurrency,
  };
}

/** A page of queues in creation order; cut (truncated) at `limit` or where one frame is full.
 *  With `only`, that queue's row alone (none when it does not exist). */
export function listQueues(engine: Engine, offset: number, limit: number, only: string | null = null) {
  if (only !== null) {
    const q = engine.queues.get(only);
    return { queues: q === undefined || offset > 0 || limit < 1 ? [] : [queueRow(q)], total: engine.queues.size, truncated: false };
  }
  const out = [];
  let bytes = 0;
  let i = 0;
  let truncated = false;
  for (const q of engine.queues.values()) {
    if (i++ < offset) continue;
    bytes += queueRowBytes + 3 * q.name.length;
    if (out.length >= limit || bytes > replyItemsBytesMax) {
      truncated = true;
      break;
    }
    out.push(queueRow(q));
  }
  return { queues: out, total: engine.queues.size, truncated };
}

export function stats(engine: Engine) {
  let queued = 0, processing = 0, delayed = 0, dlq = 0, completed = 0;
  for (const q of engine.queues.values()) {
    queued += q.waitingCount;
    processing += q.active.size;
    delayed += q.delayedCount;
    dlq += q.failed.size;
    completed += q.completedCount;
  }
  return { queued, processing, delayed, dlq, completed };
}

/** METRICS (flashQ's shape): totals since start, recent throughput and latency, and a page of
 *  queues. The totals include queues dropped while empty (their counters are kept by name). */
export function metrics(engine: Engine, offset: number, limit: number) {
  let pushed = 0, completed = 0, failed = 0;
  for (const c of engine.counters.values()) {
    pushed += c.pushed;
    completed += c.completed;
    failed += c.failed;
  }
  const recent = engine.throughput.read(engine.now());
  const queues = [];
  let i = 0;
  for (const q of engine.queues.values()) {
    if (i++ < offset) continue;
    if (queues.length >= limit) break;
    queues.push({ name: q.name, pending: q.waitingCount + q.delayedCount, processing: q.active.size, dlq: q.failed.size, rate_limit: q.rateLimit === null ? null : q.rateLimit.perSecond });
  }
  return {
    total_pushed: pushed,
    total_completed: completed,
    total_failed: failed,
    jobs_per_second: Math.round(recent.perSecond * 100) / 100,
    avg_latency_ms: Math.round(recent.avgProcessingMs * 100) / 100,
    avg_wait_ms: Math.round(recent.avgWaitMs * 100) / 100,
    queues,
    queues_total: engine.queues.size,
  };
}

/** The oldest `count` jobs of the DLQ. */
export function dlqJobs(q: QueueState, count: number): Job[] {
  const out: Job[] = [];
  const limit = Math.min(count, listLimitMax);
  for (const job of q.failed.values()) {
    if (out.length >= limit) break;
    out.push(job);
  }
  return out;
}

/**
 * A bulk task that handles jobs one at a time, as `next` finds them, until it finds none (or
 * `act` says to stop). `act` returns whether the job counts in the reply.
 */
class EachJob implements BulkTask {
  count = 0;
  finished = false;

  constructor(
    private readonly next: () => Job | undefined,
    private readonly act: (job: Job) => boolean | "stop",
    private readonly end: () => void = () => {},
  ) {}

  step(budget: number): number {
    let n = 0;
    while (n < budget && !this.finished) {
      const job = this.next();
      const r = job === undefined ? "stop" : this.act(job);
      if (r === "stop") {
        this.finished = true;
        this.end();
        break;
      }
      n++;
      if (r) this.count++;
    }
    return n;
  }
}

/** The first job of a Map index, through one live iterator per task: calling values().next()
 *  again after each deletion at the front walks every deleted slot (quadratic). */
function drainer(m: Map<number, Job>): () => Job | undefined {
  let it = m.values();
  return () => {
    let r = it.next();
    if (r.done && m.size > 0) {
      it = m.values(); // entries added behind the iterator after it finished
      r = it.next();
    }
    return r.done ? undefined : r.value;
  };
}

/** The first waiting job pending in a group (not in the ready line: its group is at its limit),
 *  through one live walk of the groups per task so a long drain is not quadratic. */
function pendingDrainer(q: QueueState): () => Job | undefined {
  let it = q.groups.values();
  let line: GroupLine | undefined;
  let restarted = false;
  return () => {
    for (;;) {
      const j = line?.pending.peek();
      if (j !== undefined) return j;
      const r = it.next();
      if (!r.done) {
        line = r.value;
        continue;
      }
      // Lines added behind the walk: one more pass, then none until something is found again.
      if (restarted || q.groupPending === 0) return undefined;
      restarted = true;
      it = q.groups.values();
      line = undefined;
    }
  };
}

/** Failed -> Waiting for the whole DLQ of a queue (a job whose unique_key is held again by a
 *  newer job stays in the DLQ). */
export function retryDlq(engine: Engine, q: QueueState): BulkTask {
  const it = q.failed.values();
  return new EachJob(() => it.next().value, (job) => {
    try {
      engine.retryFailed(job);
      return true;
    } catch {
      return false;
    }
  });
}

export function purgeDlq(engine: Engine, q: QueueState): BulkTask {
  return new EachJob(() => q.failed.first(), (job) => (engine.remove(job), true));
}

/** Removes every waiting and delayed job of a queue (jobs pushed while a large drain runs go too). */
export function drain(engine: Engine, q: QueueState): BulkTask {
  const delayed = drainer(q.delayed);
  const pending = pendingDrainer(q);
  return new EachJob(() => q.ready.peek() ?? pending() ?? delayed(), (job) => (engine.remove(job), true));
}

/**
 * Removes every job of the queue, active ones included, then the queue itself. Parked pullers
 * get [] at once, and the queue is paused while it empties, so nothing is delivered from it.
 */
export function obliterate(engine: Engine, q: QueueState): BulkTask {
  for (const w of [...q.waiters]) {
    engine.cancelPull(w);
    w.resolve([]);
  }
  const wasPaused = q.paused;
  engine.setPaused(q, true);
  const [delayed, blocked, pending] = [drainer(q.delayed), drainer(q.blocked), pendingDrainer(q)];
  // The queue is paused from here on, so no job becomes active during the walk: one snapshot.
  const actives = q.active.values();
  let a = 0;
  const active = (): Job | undefined => {
    // Skip what left meanwhile (acknowledged by its worker, or removed: state stays, record goes).
    while (a < actives.length && (actives[a]!.state !== JobState.Active || engine.getJob(actives[a]!.id) !== actives[a])) a++;
    return actives[a++];
  };
  const any = (): Job | undefined =>
    q.ready.peek() ?? pending() ?? delayed() ?? active() ?? blocked() ?? q.completed.first() ?? q.failed.first();
  return new EachJob(any, (job) => (engine.remove(job), true), () => {
    // Everything of the queue goes: its settings and the cron schedules pushing to it too.
    // (Unpausing a queue that was not paused would journal a flag that was never set.)
    if (wasPaused || q.paused) engine.setPaused(q, false);
    engine.setRateLimit(q, null, 0);
    engine.setConcurrency(q, 0, 1);
    engine.scheduler.deleteQueue(q.name);
    engine.forgetIfEmpty(q);
  });
}

/** Jobs of one state (or all) of a queue, walking only that state's structure; waiting jobs in
 *  delivery order, finished ones in the order they finished. */
export function* jobsInState(q: QueueState, state: StateName | undefined, newestFirst = false): Generator<Job> {
  if (newestFirst && (state === "completed" || state === "failed")) {
    yield* (state === "completed" ? q.completed : q.failed).valuesNewestFirst();
    return;
  }
  const all = state === undefined;
  if (all || state === "waiting") {
    yield* q.ready.ordered();
    for (const line of q.groups.values()) yield* line.pending.ordered();
  }
  if (all || state === "delayed") yield* q.delayed.values();
  if (all || state === "active") yield* q.active.values();
  if (all || state === "completed") yield* q.completed.values();
  if (all || state === "failed") yield* q.failed.values();
  if (all) yield* q.blocked.values();
  else if (state === "waitingchildren" || state === "waitingparent") {
    for (const j of q.blocked.values()) if (stateNames[j.state] === state) yield j;
  }
}

/**
 * Removes up to `limit` jobs of one state older than `graceMs` (finished: by finish time, else
 * by creation). Completed and failed records are in finish order, so the walk stops at the first
 * young one; waiting and delayed jobs are all looked at.
 */
export function clean(engine: Engine, q: QueueState, graceMs: number, state: "completed" | "failed" | "waiting" | "delayed", limit: number): BulkTask {
  const cutoff = engine.now() - graceMs;
  const old = (job: Job): boolean => (isFinished(job.state) ? job.finishedAt : job.createdAt) <= cutoff;
  let count = 0;
  const remove = (job: Job): boolean | "stop" => {
    if (count >= limit) return "stop";
    engine.remove(job);
    count++;
    return true;
  };
  if (state === "completed" || state === "failed") {
    const list = state === "completed" ? q.completed : q.failed;
    return new EachJob(() => list.first(), (job) => (old(job) ? remove(job) : "stop"));
  }
  if (state === "delayed") {
    const it = q.delayed.values();
    return new EachJob(() => it.next().value, (job) => (old(job) ? remove(job) : count >= limit ? "stop" : false));
  }
  // Waiting: the ready line through its cursor (after a removal the cursor is not advanced:
  // what took the removed job's place is looked at), then the jobs pending in their groups.
  const ready = q.ready.cursor();
  const held = [...q.groups.values()].flatMap((line) => line.pending.toArray());
  let h = 0;
  const next = (): Job | undefined => {
    const r = ready.current();
    if (r !== undefined) return r;
    // A held job may have been delivered or removed since the list was taken.
    while (h < held.length && (held[h]!.state !== JobState.Waiting || engine.getJob(held[h]!.id) !== held[h])) h++;
    return held[h];
  };
  return new EachJob(next, (job) => {
    const inReady = ready.current() === job;
    if (!inReady) h++;
    if (old(job)) return remove(job);
    if (inReady) ready.advance();
    return count >= limit ? "stop" : false;
  });
}

/** Runs a bulk task to its end now (tests, and callers that know it is small). */
export function runAll(task: BulkTask): number {
  while (!task.finished) task.step(1 << 30);
  return task.count;
}
