// Queue-level reads and bulk operations: counts, listings, DLQ handling, drain and obliterate.
// Each walks only the structures of one queue (or of one state of it), never every job; nothing
// here moves a job except through an Engine operation.

import { listLimitMax, replyItemsBytesMax } from "../constants.ts";
import type { Engine } from "./engine.ts";
import { isFinished, stateNames, type Job, type QueueState, type StateName } from "./model.ts";

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
const queueRowBytes = 192;

/** A page of queues in creation order; cut (truncated) at `limit` or where one frame is full. */
export function listQueues(engine: Engine, offset: number, limit: number) {
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
    out.push({
      name: q.name,
      pending: q.waitingCount,
      processing: q.active.size,
      completed: q.completedCount,
      delayed: q.delayedCount,
      dlq: q.failed.size,
      paused: q.paused,
      rate_limit: null,
      concurrency_limit: null,
    });
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

/** Failed -> Waiting for one job or the whole DLQ of a queue. Returns how many moved. */
export function retryDlq(engine: Engine, q: QueueState, id: number | undefined): number {
  if (id !== undefined) {
    engine.retryFailed(engine.mustGet(id));
    return 1;
  }
  let n = 0;
  for (const job of [...q.failed.values()]) {
    try {
      engine.retryFailed(job);
      n++;
    } catch {
      // A job whose unique_key is held again by a newer job stays in the DLQ.
    }
  }
  return n;
}

export function purgeDlq(engine: Engine, q: QueueState): number {
  const jobs = [...q.failed.values()];
  for (const job of jobs) engine.remove(job);
  return jobs.length;
}

/** Removes every waiting and delayed job of a queue. */
export function drain(engine: Engine, q: QueueState): number {
  const victims: Job[] = [...q.ready.values()];
  for (const held of q.groupHeld.values()) victims.push(...held);
  victims.push(...q.delayed.values());
  for (const job of victims) engine.remove(job);
  return victims.length;
}

/** Removes the queue and every job in it, active ones included; parked pullers get []. */
export function obliterate(engine: Engine, q: QueueState): number {
  // Answer parked pullers first: removing an active group job releases its group, which would
  // otherwise serve a held job (about to be removed too) to a parked puller.
  for (const w of [...q.waiters]) {
    engine.cancelPull(w);
    w.resolve([]);
  }
  const victims: Job[] = [...jobsInState(q, undefined)];
  for (const job of victims) engine.remove(job);
  engine.dropQueue(q);
  return victims.length;
}

/** Jobs of one state (or all) of a queue, walking only that state's structure; waiting jobs in
 *  delivery order, finished ones in the order they finished. */
export function* jobsInState(q: QueueState, state: StateName | undefined): Generator<Job> {
  const all = state === undefined;
  if (all || state === "waiting") {
    yield* q.ready.ordered();
    for (const held of q.groupHeld.values()) yield* held;
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

/** Removes finished (or waiting/delayed) jobs of a queue older than `graceMs`. */
export function clean(engine: Engine, q: QueueState, graceMs: number, state: StateName, limit: number): number {
  const cutoff = engine.now() - graceMs;
  const victims: Job[] = [];
  for (const job of jobsInState(q, state)) {
    if (victims.length >= limit) break;
    const at = isFinished(job.state) ? job.finishedAt : job.createdAt;
    if (at <= cutoff) victims.push(job);
  }
  for (const job of victims) engine.remove(job);
  return victims.length;
}
