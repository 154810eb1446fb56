// Rebuilds the engine from the database at start-up, through the engine's own operations: each
// queue's settings through the same transition a command uses (Engine.restoreQueue), each job row
// decoded by its codec and handed to Engine.restore (the same attach as a live job: active jobs
// come back waiting, attempts kept), then Engine.recovered and next_id. One prepared statement
// read in id order, nothing but the Job allocated per row. It writes nothing itself.

import type { Database } from "bun:sqlite";
import type { Engine } from "../engine/engine.ts";
import { isFinished, type Job, type QueueState } from "../engine/model.ts";
import { recordKindNames } from "../engine/records.ts";
import { decodeJobRow, decodeQueueRow, decodeRecord, jobColumns, type JobRow, type QueueRow } from "./codecs.ts";
import type { SqliteJournal } from "./journal.ts";
import { asStorageError, corruptError, valuesOnce } from "./schema.ts";

export interface Recovered {
  jobs: number;
  queues: number;
  /** Records (schedules, KV entries, webhooks) handed back to their owners. */
  records: number;
  /** Stored records whose owner is off in this run (webhooks with HTTP off): kept as they are. */
  recordsKept: number;
  ms: number;
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
  const rows = valuesOnce(db, "SELECT id, name, paused, settings FROM queues").map(([id, name, paused, settings]) => ({ id, name, paused, settings }) as QueueRow);
  // The row ids are known before the first transition writes anything (setPaused journals).
  journal.knowStored(rows.map((r) => [r.name, r.id]), 0, 0);
  for (const r of rows) {
    const q = engine.restoreQueue(r.name, decodeQueueRow(r));
    byId[r.id] = q;
    names.push([q.name, r.id]);
  }

  // Finished records are restored after the live ones, in the order they finished, so the
  // engine's retention (oldest first) and the DLQ order are what they were before the restart.
  const finished: Job[] = [];
  let count = 0;
  let maxId = 0;
  let maxSeq = 0;
  const stmt = db.prepare(`SELECT ${jobColumns.join(", ")} FROM jobs ORDER BY id`);
  try {
    for (const r of stmt.iterate() as IterableIterator<JobRow>) {
      const q = byId[r.q];
      if (q === undefined) throw corruptError(path, `job ${r.id} refers to queue ${r.q}, which is not in the queues table`);
      const job = decodeJobRow(r, q);
      const s = r.seq < 0 ? -r.seq : r.seq;
      if (s > maxSeq) maxSeq = s;
      maxId = r.id;
      count++;
      if (isFinished(job.state)) finished.push(job);
      else engine.restore(job);
    }
  } finally {
    stmt.finalize();
  }
  finished.sort((a, b) => a.finishedAt - b.finishedAt);
  for (const job of finished) engine.restore(job);

  let records = 0;
  let recordsKept = 0;
  for (const [kind, key, value] of valuesOnce(db, "SELECT kind, key, value FROM records ORDER BY kind, key")) {
    const k = kind as number;
    if (recordKindNames[k] === undefined) throw corruptError(path, `record kind ${k} is unknown to this release`);
    let restored: boolean;
    try {
      restored = engine.restoreRecord(k, key as string, decodeRecord(value as Uint8Array));
    } catch (e) {
      throw corruptError(path, `${recordKindNames[k]} '${key}' cannot be read: ${(e as Error).message}`);
    }
    if (restored) records++;
    else recordsKept++;
  }
  engine.recovered(maxSeq);

  const meta = new Map(valuesOnce(db, "SELECT key, value FROM meta").map(([k, v]) => [k as string, v as number]));
  const stored = meta.get("next_id");
  // Everything below a reservation may have been handed out before the crash: start above it.
  engine.restoreCounters(Math.max(stored ?? 0, meta.get("ids_reserved") ?? 0), meta.get("tokens_reserved") ?? 0);
  if (engine.nextId <= maxId) throw corruptError(path, `next_id ${engine.nextId} is not above the largest job id ${maxId}`);
  journal.knowStored(names, maxId, stored ?? 0);
  return { jobs: count, queues: names.length, records, recordsKept, ms: performance.now() - t0 };
}
