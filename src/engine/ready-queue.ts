// A queue's ready line: waiting jobs in delivery order, higher priority first, then sequence
// (FIFO; LIFO jobs take negative sequences). A RunHeap: a FIFO queue's jobs arrive in that order
// and never touch its heap.

import type { Job } from "./model.ts";
import { RunHeap, type RunOrder } from "./run-heap.ts";

/** Ready order: higher priority first, then lower sequence (FIFO; LIFO uses negative seq). */
export function readyBefore(a: Job, b: Job): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

class ReadyOrder implements RunOrder<Job> {
  private priority = 0;
  private seq = 0;
  readonly less = readyBefore;
  mark(job: Job): void {
    this.priority = job.priority;
    this.seq = job.seq;
  }
  follows(job: Job): boolean {
    return job.priority !== this.priority ? job.priority < this.priority : job.seq >= this.seq;
  }
}

export class ReadyQueue extends RunHeap<Job> {
  constructor() {
    super(new ReadyOrder());
  }
}
