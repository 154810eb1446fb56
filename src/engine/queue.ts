// Per-queue state: ready heap, parked pullers, DLQ, pause flag, group bookkeeping, counters.
// Pure data plus the orderings; the transitions that move jobs in and out live in engine.ts.

import { IndexedHeap } from "./heap.ts";
import { IdMap } from "./id-map.ts";
import type { Job } from "./job.ts";

/** A parked PULL/PULLB. The engine resolves it with jobs, or with [] at its deadline. */
export interface PullWaiter {
  hi: number;
  deadline: number;
  queue: QueueState;
  count: number;
  done: boolean;
  resolve(jobs: Job[]): void;
}

/** Ready order: higher priority first, then lower sequence (FIFO; LIFO uses negative seq). */
export function readyBefore(a: Job, b: Job): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

export class QueueState {
  readonly ready = new IndexedHeap<Job>(readyBefore);
  /** Parked pullers in arrival order (fair FIFO among workers). */
  waiters: PullWaiter[] = [];
  /** The DLQ: failed jobs in the order they failed. */
  readonly failed = new Map<number, Job>();
  readonly active = new IdMap<Job>();
  /** Groups with an active job (at most one active job per group). */
  readonly busyGroups = new Set<string>();
  /** Ready jobs set aside because their group is busy, per group, in pop order. */
  readonly groupHeld = new Map<string, Job[]>();
  heldCount = 0;
  delayedCount = 0;
  completedCount = 0;
  /** unique_key -> job id while that job is not finished. */
  readonly uniqueKeys = new Map<string, number>();
  paused = false;
  /** The name as MessagePack bytes, cached by the reply writer. */
  wireName: Uint8Array | null = null;
  totalPushed = 0;
  totalCompleted = 0;
  totalFailed = 0;

  constructor(readonly name: string) {}

  /** Waiting jobs: in the ready heap plus those held back by a busy group. */
  get waitingCount(): number {
    return this.ready.size + this.heldCount;
  }

  isEmpty(): boolean {
    return (
      this.ready.size === 0 &&
      this.heldCount === 0 &&
      this.delayedCount === 0 &&
      this.active.size === 0 &&
      this.failed.size === 0 &&
      this.completedCount === 0 &&
      this.waiters.length === 0 &&
      !this.paused
    );
  }
}
