// The engine's only view of persistence. Every transition reports the job it touched; the
// persistence layer coalesces them and writes one transaction per loop turn (group commit).
// The engine never waits on it and never reads from it (recovery goes through Engine.restore).

import type { Job } from "./job.ts";
import type { QueueState } from "./queue.ts";

export interface Journal {
  /** The job was created or changed state/fields: its current row must be persisted. */
  jobChanged(job: Job): void;
  /** The job is gone from the engine (cancel, purge, retention, remove_on_*). */
  jobRemoved(job: Job): void;
  /** A queue's flags (paused) changed. */
  queueChanged(queue: QueueState): void;
}

/** Memory-only mode: nothing is written. */
export const noJournal: Journal = {
  jobChanged() {},
  jobRemoved() {},
  queueChanged() {},
};
