// Requests that wait on the engine: parked PULL/PULLB (answered by delivery, or with [] by this
// timer at their deadline) and WAITJOB (answered when the job finishes or is removed, or with a
// timeout). Both are timer components; neither moves a job.

import type { Job, PullWaiter } from "./model.ts";
import { DeadlineTimer } from "./timers.ts";

/** Parked pulls by deadline; at it they leave their queue's line and get []. */
export class PullTimers extends DeadlineTimer<PullWaiter> {
  /** Told when a queue's last puller may have left (the engine may drop an empty queue). */
  onLeave: (q: PullWaiter["queue"]) => void = () => {};

  constructor() {
    super("pulls", (w) => {
      this.cancel(w);
      w.resolve([]);
    });
  }

  park(w: PullWaiter): void {
    w.queue.waiters.push(w);
    this.push(w);
  }

  /** Forgets a parked pull (answered, timed out, or its connection closed). */
  cancel(w: PullWaiter): void {
    if (w.done) return;
    w.done = true;
    this.remove(w);
    const waiters = w.queue.waiters;
    const i = waiters.indexOf(w);
    if (i >= 0) waiters.splice(i, 1);
    if (waiters.length === 0) this.onLeave(w.queue);
  }
}

/** Outcome of a job for WAITJOB. */
export type Finish =
  | { kind: "completed"; job: Job }
  | { kind: "failed"; job: Job }
  | { kind: "removed"; id: number }
  | { kind: "timeout"; id: number };

interface FinishWaiter {
  hi: number;
  deadline: number;
  id: number;
  done: boolean;
  resolve(f: Finish): void;
}

export class FinishWaiters extends DeadlineTimer<FinishWaiter> {
  private readonly byJob = new Map<number, FinishWaiter[]>();

  constructor() {
    super("waitjob", (w) => {
      this.drop(w);
      w.resolve({ kind: "timeout", id: w.id });
    });
  }

  /** Resolves when the job finishes or at `deadline`. Returns a cancel function. */
  wait(id: number, deadline: number, resolve: (f: Finish) => void): () => void {
    const w: FinishWaiter = { hi: -1, deadline, id, done: false, resolve };
    let list = this.byJob.get(id);
    if (list === undefined) this.byJob.set(id, (list = []));
    list.push(w);
    this.push(w);
    return () => this.drop(w);
  }

  /** Answers the WAITJOBs of a job; the answer is built only when someone waits (most ACKs: nobody). */
  resolve(job: Job, kind: "completed" | "failed" | "removed"): void {
    if (this.byJob.size === 0) return;
    const list = this.byJob.get(job.id);
    if (list === undefined) return;
    this.byJob.delete(job.id);
    const f: Finish = kind === "removed" ? { kind, id: job.id } : { kind, job };
    for (const w of list) {
      w.done = true;
      this.remove(w);
      w.resolve(f);
    }
  }

  private drop(w: FinishWaiter): void {
    if (w.done) return;
    w.done = true;
    this.remove(w);
    const list = this.byJob.get(w.id);
    if (list === undefined) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byJob.delete(w.id);
  }
}
