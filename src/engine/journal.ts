// The engine's only view of persistence. Every transition reports the records it touched; the
// persistence layer coalesces them and writes one transaction per loop turn (group commit).
// The engine never waits on it and never reads from it (recovery goes through Engine.restore).
// Jobs and queues have their own tables and methods; the smaller entities (schedules, KV
// entries, webhooks) go through recordChanged/recordRemoved into one records table (records.ts).

import type { Job, QueueState } from "./model.ts";
import type { RecordKind } from "./records.ts";

export interface Journal {
  /** The job was created or changed state/fields: its current record must be persisted. */
  jobChanged(job: Job): void;
  /** The job is gone from the engine (cancel, purge, retention, remove_on_*). */
  jobRemoved(job: Job): void;
  /** A queue's settings (paused) changed. */
  queueChanged(queue: QueueState): void;
  /** The queue is gone (OBLITERATE, or dropped when empty). */
  queueRemoved(queue: QueueState): void;
  /**
   * Ids (or lock tokens) below `upTo` may be handed out from now on. Must be durable when this
   * returns, in every durability mode: after a crash the engine starts at the highest
   * reservation, so no id or token is ever handed out twice. Called once per block.
   */
  reserve(what: "ids" | "tokens", upTo: number): void;
  /** A record was created or changed; `value` is its whole stored form (plain data, encoded at
   *  the commit: the last change of a turn wins). */
  recordChanged(kind: RecordKind, key: string, value: unknown): void;
  recordRemoved(kind: RecordKind, key: string): void;
}

/** Memory-only mode: nothing is written. */
export const noJournal: Journal = {
  jobChanged() {},
  jobRemoved() {},
  queueChanged() {},
  queueRemoved() {},
  reserve() {},
  recordChanged() {},
  recordRemoved() {},
};
