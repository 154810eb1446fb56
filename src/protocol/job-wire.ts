// The job object as PROTOCOL.md shows it to clients: one table of wire names and getters, used
// by the MessagePack writer (data spliced as raw bytes) and by JSON replies alike.

import type { Job } from "../engine/job.ts";
import { decodeRaw, Raw } from "./msgpack.ts";

type Getter = (j: Job) => unknown;

const nil = () => null;

export const jobFields: readonly (readonly [string, Getter])[] = [
  ["id", (j) => j.id],
  ["queue", (j) => j.queue.name],
  ["data", (j) => new Raw(j.data)],
  ["priority", (j) => j.priority],
  ["created_at", (j) => j.createdAt],
  ["run_at", (j) => j.runAt],
  ["started_at", (j) => j.startedAt || null],
  ["attempts", (j) => j.attempts],
  ["max_attempts", (j) => j.maxAttempts],
  ["backoff", (j) => j.backoff],
  ["ttl", (j) => (j.x?.ttl || null)],
  ["timeout", (j) => (j.x?.timeout || null)],
  ["unique_key", (j) => j.x?.uniqueKey ?? null],
  ["depends_on", (j) => j.x?.dependsOn ?? null],
  ["progress", (j) => j.x?.progress ?? 0],
  ["progress_msg", (j) => j.x?.progressMsg ?? null],
  ["tags", (j) => j.x?.tags ?? null],
  ["lifo", (j) => j.x?.lifo ?? false],
  ["remove_on_complete", (j) => j.x?.removeOnComplete ?? false],
  ["remove_on_fail", (j) => j.x?.removeOnFail ?? false],
  ["last_heartbeat", (j) => j.lastHeartbeat || null],
  ["stall_timeout", (j) => j.stallTimeout],
  ["stall_count", (j) => j.stallCount],
  ["parent_id", nil],
  ["children_ids", nil],
  ["children_completed", nil],
  ["custom_id", (j) => j.x?.customId ?? null],
  ["keep_completed_age", nil],
  ["keep_completed_count", nil],
  ["completed_at", (j) => j.finishedAt || null],
  ["group_id", (j) => j.x?.groupId ?? null],
  ["lock_token", (j) => (j.lockToken === 0 ? null : String(j.lockToken))],
  // EXT: BullMQ's job.name, null when the producer gave none.
  ["name", (j) => j.name],
];

export function jobToPlain(job: Job): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [name, get] of jobFields) {
    const v = get(job);
    o[name] = v instanceof Raw ? decodeRaw(v.bytes) : v;
  }
  return o;
}

/** Jobs to send without their null and false fields (PULLB `sparse`, a ringq extension). */
export class SparseJobs {
  constructor(readonly jobs: readonly Job[]) {}
}

/** jobToPlain without the null and false fields. */
export function jobToSparsePlain(job: Job): Record<string, unknown> {
  const o = jobToPlain(job);
  for (const k in o) if (o[k] === null || o[k] === false) delete o[k];
  return o;
}
