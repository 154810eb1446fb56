// Retention of finished records, one policy in one place: completed records are bounded by a
// count across all queues and by age (this timer component removes the oldest first), the DLQ
// of each queue by the same count (enforced as a job enters it). Each queue keeps its finished
// records in the order they finished; a heap of queues keyed by their oldest completed record
// finds the global oldest without scanning. Removal goes through the core's remove transition.
// A job may ask for less (keep_completed_age / keep_completed_count, remove_on_fail {age,count}):
// its count trims its queue's list of that state as it enters it, its age is a deadline in a
// timer of its own (`expiry`). It can only shorten retention: the server's bounds cap it.

import { prunePerTickMax } from "../constants.ts";
import { IndexedHeap } from "./heap.ts";
import { type FinishedList } from "./finished-list.ts";
import { JobState, KeepEntry, type Job, type RetentionEntry } from "./model.ts";
import { DeadlineTimer, type TimerComponent } from "./timers.ts";

const byDeadline = (a: RetentionEntry, b: RetentionEntry): boolean => a.deadline < b.deadline;

export class Retention implements TimerComponent {
  readonly name = "retention";
  /** Queues that hold completed records, keyed by the finish time of their oldest. */
  private readonly heads = new IndexedHeap<RetentionEntry>(byDeadline);
  /** Completed records held, across queues. */
  completedTotal = 0;
  /** Records with an age limit of their own, by the time they go. */
  readonly expiry = new DeadlineTimer<KeepEntry>("record-expiry", (e) => this.drop(e.job));

  constructor(
    public keepFinished: number,
    public keepFinishedAgeMs: number,
    /** Removes a record (the core's remove transition, which calls release). */
    private readonly drop: (job: Job) => void,
  ) {}

  admitCompleted(job: Job): void {
    const q = job.queue;
    q.completed.push(job);
    this.completedTotal++;
    if (q.completed.size === 1) {
      q.retention.deadline = job.finishedAt;
      this.heads.push(q.retention);
    }
    const k = job.k.p;
    if (k.keepCompletedAge > 0 || k.keepCompletedCount > 0) this.ownLimits(job, q.completed, k.keepCompletedAge, k.keepCompletedCount);
  }

  /** Into the queue's DLQ; past the count bound its oldest entry goes. */
  admitFailed(job: Job): void {
    const dlq = job.queue.failed;
    dlq.push(job);
    if (dlq.size > this.keepFinished) this.drop(dlq.first()!);
    const k = job.k.p;
    if (k.keepFailedAge > 0 || k.keepFailedCount > 0) this.ownLimits(job, dlq, k.keepFailedAge, k.keepFailedCount);
  }

  /** The job's own bounds as it enters `list`: the oldest records past its count go now (this
   *  one is the newest, so it stays), and its age limit starts. At recovery the deadline may
   *  already have passed: the timer removes it on the first tick. */
  private ownLimits(job: Job, list: FinishedList, ageMs: number, count: number): void {
    if (count > 0) while (list.size > count) this.drop(list.first()!);
    if (ageMs > 0) this.expiry.push((job.extra().keepEntry = new KeepEntry(job, job.finishedAt + ageMs)));
  }

  /** The record leaves its finished list (retried, removed or pruned). */
  release(job: Job): void {
    const q = job.queue;
    const x = job.x;
    if (x !== null && x.keepEntry !== null) {
      this.expiry.remove(x.keepEntry);
      x.keepEntry = null;
    }
    if (job.state === JobState.Failed) {
      q.failed.delete(job);
      return;
    }
    if (!q.completed.delete(job)) return;
    this.completedTotal--;
    const entry = q.retention;
    const oldest = q.completed.first();
    if (oldest === undefined) this.heads.remove(entry);
    else if (oldest.finishedAt !== entry.deadline) {
      entry.deadline = oldest.finishedAt;
      this.heads.update(entry);
    }
  }

  nextDeadline(): number {
    if (this.completedTotal > this.keepFinished) return 0; // over the count: due now
    const top = this.heads.peek();
    return top === undefined ? Infinity : top.deadline + this.keepFinishedAgeMs;
  }

  runDue(now: number, budget: number): number {
    const cutoff = now - this.keepFinishedAgeMs;
    const max = Math.min(budget, prunePerTickMax);
    let done = 0;
    while (done < max) {
      const top = this.heads.peek();
      if (top === undefined) break;
      if (this.completedTotal <= this.keepFinished && top.deadline > cutoff) break;
      this.drop(top.queue.completed.first()!);
      done++;
    }
    return done;
  }
}
