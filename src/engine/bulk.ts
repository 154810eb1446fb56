// Work over many jobs at once (DRAIN, OBLITERATE, PURGEDLQ, RETRYDLQ of a whole DLQ, CLEAN),
// done in steps: at most bulkJobsPerTurn jobs per loop turn, so that one request over a million
// jobs never holds the loop (other clients are served between its steps). A timer component:
// due at once while work is left. The caller's reply comes when the task finishes.

import { bulkJobsPerTurn } from "../constants.ts";
import type { TimerComponent } from "./timers.ts";

export interface BulkTask {
  /** Jobs handled so far (the reply's count). */
  readonly count: number;
  /** Set once nothing is left. */
  readonly finished: boolean;
  /** Handles (removes, moves or looks at) up to `budget` jobs; returns how many, at least 1. */
  step(budget: number): number;
}

interface Running {
  task: BulkTask;
  done: (count: number) => void;
}

export class BulkWork implements TimerComponent {
  readonly name = "bulk";
  private readonly running: Running[] = [];

  /** Starts a task: small ones finish here and now; the rest continue in later turns, in order. */
  start(task: BulkTask, done: (count: number) => void): void {
    if (this.running.length === 0) {
      task.step(bulkJobsPerTurn);
      if (task.finished) return done(task.count);
    }
    this.running.push({ task, done });
  }

  get pending(): number {
    return this.running.length;
  }

  nextDeadline(): number {
    return this.running.length > 0 ? 0 : Infinity;
  }

  runDue(_now: number, budget: number): number {
    let left = Math.min(budget, bulkJobsPerTurn);
    let used = 0;
    while (this.running.length > 0 && left > 0) {
      const r = this.running[0]!;
      const did = Math.max(1, r.task.step(left));
      left -= did;
      used += did;
      if (!r.task.finished) continue;
      this.running.shift();
      r.done(r.task.count);
    }
    return used;
  }
}
