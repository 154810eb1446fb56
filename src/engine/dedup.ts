// Deduplication windows (debounce_id + debounce_ttl, BullMQ's deduplication {id, ttl}): while a
// window is open, a push with its key to its queue creates nothing and answers with the job that
// opened it. A window with a ttl closes at its deadline (this timer component); one without
// closes when its job finishes. A window stands for its job: when the record goes (removed,
// remove_on_complete, retention) the window closes either way. The job carries
// its key and deadline (JobExtra.dedupKey/dedupUntil), so recovery reopens the windows of stored
// jobs; a window whose job was removed before the end of its ttl does not survive a restart.

import { DedupWindow, isFinished, type Job, type QueueState } from "./model.ts";
import { DeadlineTimer } from "./timers.ts";

export class DedupWindows {
  /** Windows with an end, by their end (the engine registers it with its timers). */
  readonly timer = new DeadlineTimer<DedupWindow>("dedup-windows", (w) => this.close(w));

  constructor(
    /** A queue lost its last window (it may be empty now). */
    private readonly onClosed: (q: QueueState) => void,
  ) {}

  /** The job standing for pushes with this key now, if a window is open. */
  standing(q: QueueState | undefined, key: string, now: number, jobs: { get(id: number): Job | undefined }): Job | undefined {
    const w = q?.dedup?.get(key);
    if (w === undefined || now >= w.deadline) return undefined;
    const job = jobs.get(w.jobId);
    if (job === undefined || (w.deadline === Infinity && isFinished(job.state))) return undefined;
    return job;
  }

  /** Opens (or replaces) the key's window for `job`, until `until` (0: while it is unfinished). */
  open(job: Job, key: string, until: number): void {
    const q = job.queue;
    const old = q.dedup?.get(key);
    if (old !== undefined) this.close(old);
    const w = new DedupWindow(q, key, job.id, until === 0 ? Infinity : until);
    (q.dedup ??= new Map()).set(key, w);
    if (w.deadline !== Infinity) this.timer.push(w);
  }

  /** The job finished (`removed`: or is gone): its open-ended window closes, and any window of
   *  it when it was removed. */
  jobEnded(job: Job, removed: boolean): void {
    const x = job.x;
    if (x === null || x.dedupKey === null) return;
    const w = job.queue.dedup?.get(x.dedupKey);
    if (w !== undefined && w.jobId === job.id && (removed || w.deadline === Infinity)) this.close(w);
  }

  /** Recovery: a stored job's window, if it is still open. The clock is read only for a job
   *  with a window (a read per job was 3 % of recovering 1M jobs). */
  restore(job: Job, now: () => number): void {
    const x = job.x;
    if (x === null || x.dedupKey === null) return;
    if (x.dedupUntil === 0 ? !isFinished(job.state) : x.dedupUntil > now()) this.open(job, x.dedupKey, x.dedupUntil);
  }

  private close(w: DedupWindow): void {
    const m = w.queue.dedup;
    if (m === null || m.get(w.key) !== w) return;
    m.delete(w.key);
    if (this.timer.has(w)) this.timer.remove(w);
    if (m.size === 0) this.onClosed(w.queue);
  }
}
