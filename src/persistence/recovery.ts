// Rebuilds the engine from the database at start-up: every row becomes a Job handed to
// Engine.restore (the engine's own attach functions: active jobs come back as waiting, attempts
// kept), then paused flags, the sequence counter and next_id. One prepared statement read in id
// order, nothing but the Job allocated per row. It writes nothing; the journal stays idle.

import type { Database } from "bun:sqlite";
import type { Engine } from "../engine/engine.ts";
import { Job, JobState } from "../engine/job.ts";
import type { QueueState } from "../engine/queue.ts";
import { decodeExtra, type SqliteJournal } from "./journal.ts";
import { asStorageError, corruptError, valuesOnce } from "./schema.ts";

export interface Recovered {
  jobs: number;
  queues: number;
  ms: number;
}

interface JobRow {
  id: number;
  q: number;
  state: number;
  priority: number;
  seq: number;
  created_at: number;
  run_at: number;
  started_at: number;
  finished_at: number;
  attempts: number;
  max_attempts: number;
  backoff: number;
  stall_timeout: number;
  stall_count: number;
  data: Uint8Array;
  x: Uint8Array | null;
}

export function recover(db: Database, path: string, engine: Engine, journal: SqliteJournal): Recovered {
  const t0 = performance.now();
  try {
    return recoverRows(db, path, engine, journal, t0);
  } catch (e) {
    throw asStorageError(e, path);
  }
}

function recoverRows(db: Database, path: string, engine: Engine, journal: SqliteJournal, t0: number): Recovered {
  const byId: (QueueState | undefined)[] = [];
  const names: [string, number][] = [];
  for (const r of valuesOnce(db, "SELECT id, name, paused FROM queues")) {
    const id = r[0] as number;
    const q = engine.queue(r[1] as string);
    // Set directly, not through setPaused: recovery must not journal what it just read.
    q.paused = r[2] === 1;
    byId[id] = q;
    names.push([q.name, id]);
  }

  // Finished records are restored after the live ones, in the order they finished, so the
  // engine's retention (oldest first) and the DLQ order are what they were before the restart.
  const finished: Job[] = [];
  let count = 0;
  let maxId = 0;
  let maxSeq = 0;
  const stmt = db.prepare(
    "SELECT id, q, state, priority, seq, created_at, run_at, started_at, finished_at, attempts, max_attempts, " +
      "backoff, stall_timeout, stall_count, data, x FROM jobs ORDER BY id",
  );
  try {
    for (const r of stmt.iterate() as IterableIterator<JobRow>) {
      const q = byId[r.q];
      if (q === undefined) throw corruptError(path, `job ${r.id} refers to queue ${r.q}, which is not in the queues table`);
      const job = new Job(r.id, q, r.data, r.priority, r.created_at, r.run_at, r.max_attempts, r.backoff, r.stall_timeout);
      if (r.x !== null) {
        const blob = decodeExtra(r.x);
        job.name = blob.name;
        if (blob.x !== null) {
          // The blob replaces x: the column-backed fields go back in after it.
          job.x = blob.x;
          job.maxAttempts = r.max_attempts;
          job.backoff = r.backoff;
          job.stallTimeout = r.stall_timeout;
        }
      }
      job.state = r.state as JobState;
      job.seq = r.seq;
      job.startedAt = r.started_at;
      job.finishedAt = r.finished_at;
      job.attempts = r.attempts;
      job.stallCount = r.stall_count;
      const s = r.seq < 0 ? -r.seq : r.seq;
      if (s > maxSeq) maxSeq = s;
      maxId = r.id;
      count++;
      if (job.state === JobState.Completed || job.state === JobState.Failed) finished.push(job);
      else engine.restore(job);
    }
  } finally {
    stmt.finalize();
  }
  finished.sort((a, b) => a.finishedAt - b.finishedAt);
  for (const job of finished) engine.restore(job);
  engine.restoreSequence(maxSeq);

  const stored = valuesOnce(db, "SELECT value FROM meta WHERE key = 'next_id'")[0]?.[0] as number | undefined;
  if (stored !== undefined && stored > engine.nextId) engine.nextId = stored;
  if (engine.nextId <= maxId) throw corruptError(path, `next_id ${engine.nextId} is not above the largest job id ${maxId}`);
  journal.knowStored(names, maxId, stored ?? 0);
  return { jobs: count, queues: names.length, ms: performance.now() - t0 };
}
