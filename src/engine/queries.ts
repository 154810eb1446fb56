// Queue-level operations built from the engine's transitions: counts, listings, DLQ handling,
// drain and obliterate. Nothing here moves a job except through an Engine transition method.

import { listLimitMax } from "../constants.ts";
import type { Engine } from "./engine.ts";
import { JobState, stateNames, type Job, type StateName } from "./job.ts";
import type { QueueState } from "./queue.ts";

export function jobCounts(q: QueueState) {
  return {
    waiting: q.waitingCount,
    active: q.active.size,
    delayed: q.delayedCount,
    completed: q.completedCount,
    failed: q.failed.size,
  };
}

export function listQueues(engine: Engine) {
  const out = [];
  for (const q of engine.queues.values()) {
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
  return out;
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
    const job = engine.mustGet(id);
    engine.retryFailed(job);
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
  for (const job of engine.jobs.values()) {
    if (job.queue === q && job.state === JobState.Delayed) victims.push(job);
  }
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
  const victims: Job[] = [];
  for (const job of engine.jobs.values()) if (job.queue === q) victims.push(job);
  for (const job of victims) engine.remove(job);
  engine.queues.delete(q.name);
  return victims.length;
}

/** Jobs of one state (or all), optionally of one queue, walking only that state's structure. */
export function* jobsInState(engine: Engine, queue: QueueState | undefined, state: StateName | undefined): Generator<Job> {
  const queues = queue ? [queue] : [...engine.queues.values()];
  switch (state) {
    case "waiting":
      for (const q of queues) {
        yield* [...q.ready.values()].sort((a, b) => (a.priority !== b.priority ? b.priority - a.priority : a.seq - b.seq));
        for (const held of q.groupHeld.values()) yield* held;
      }
      return;
    case "active":
      for (const q of queues) yield* q.active.values();
      return;
    case "failed":
      for (const q of queues) yield* q.failed.values();
      return;
    case "completed":
      for (const job of engine.completed.values()) if (queue === undefined || job.queue === queue) yield job;
      return;
    default:
      for (const job of engine.jobs.values()) {
        if (queue !== undefined && job.queue !== queue) continue;
        if (state === undefined || stateNames[job.state] === state) yield job;
      }
  }
}

/** Removes finished (or waiting/delayed) jobs of a queue older than `graceMs`. */
export function clean(engine: Engine, q: QueueState, graceMs: number, state: StateName, limit: number): number {
  const cutoff = engine.now() - graceMs;
  const victims: Job[] = [];
  for (const job of jobsInState(engine, q, state)) {
    if (victims.length >= limit) break;
    const at = job.state === JobState.Completed || job.state === JobState.Failed ? job.finishedAt : job.createdAt;
    if (at <= cutoff) victims.push(job);
  }
  for (const job of victims) engine.remove(job);
  return victims.length;
}
