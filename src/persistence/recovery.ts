// Rebuilds the engine from the database at start-up, through the engine's own operations: each
// queue's settings through the same transition a command uses (Engine.restoreQueue), each job's
// latest record decoded (segments.ts) and handed to Engine.restore in id order (the same attach
// as a live job: active jobs come back waiting, attempts kept), then Engine.recovered and
// next_id. The segments are read oldest first, so a later record of a job replaces an earlier
// one and a tombstone hides it; the journal is told where each job's record is. Rows of the
// jobs table of schema version 3 are read too (the journal moves them into segments at its first
// commit). It writes nothing itself.

import type { Database } from "bun:sqlite";
import type { Engine } from "../engine/engine.ts";
import { isFinished, type Job, type QueueState } from "../engine/model.ts";
import { recordKindNames } from "../engine/records.ts";
import { decodeJobRow, decodeQueueRow, decodeRecord, jobColumns, type JobRow, type QueueRow } from "./codecs.ts";
import type { SqliteJournal } from "./journal.ts";
import { decodeJob, recordState, walkSegment, type SegmentVisitor } from "./segments.ts";
import { asStorageError, corruptError, StorageError, valuesOnce } from "./schema.ts";

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
  journal.knowStored(rows.map((r) => [r.name, r.id]));
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
  // The engine refuses a job it cannot take (an id twice, an unknown state): in a file that
  // passed its CRCs that is a corrupt file, refused as one.
  const attach = (job: Job): void => {
    try {
      engine.restore(job);
    } catch (e) {
      if (e instanceof Error && e.message.startsWith("restore:")) throw corruptError(path, e.message);
      throw e;
    }
  };
  const restore = (job: Job): void => {
    const s = job.seq < 0 ? -job.seq : job.seq;
    if (s > maxSeq) maxSeq = s;
    if (job.id > maxId) maxId = job.id;
    count++;
    if (isFinished(job.state)) finished.push(job);
    else attach(job);
  };
  const queueOf = (qid: number, id: number): QueueState => {
    const q = byId[qid];
    if (q === undefined) throw corruptError(path, `job ${id} refers to queue ${qid}, which is not in the queues table`);
    return q;
  };

  // Schema version 3 kept a row per job; a file opened from it may still have them.
  const legacy = db.prepare(`SELECT ${jobColumns.join(", ")} FROM jobs ORDER BY id`);
  try {
    for (const r of legacy.iterate() as IterableIterator<JobRow>) {
      const job = decodeJobRow(r, queueOf(r.q, r.id));
      restore(job);
      journal.legacyJob(job);
    }
  } finally {
    legacy.finalize();
  }

  // One walk over the segments, oldest first: every job record is decoded and the journal's
  // index told where it is, so a later record of a job moves its latest segment on and a
  // tombstone clears it. A decoded job is restored only if its segment is still its latest
  // (a job written many times is decoded each time, which compaction keeps rare). Each body is
  // let go once walked. Jobs are restored in id order: bucketed by page of ids, in the order they
  // were read, each bucket sorted if needed.
  const buckets = new Map<number, Bucket>();
  const segments: [number, number, number, number][] = [];
  const stmt = db.prepare("SELECT id, body FROM segments ORDER BY id");
  try {
    for (const { id: seg, body } of stmt.iterate() as IterableIterator<{ id: number; body: Uint8Array }>) {
      const records = walkChecked(path, seg, body, {
        job(id, qid, b, at, dv) {
          journal.storedJob(id, seg);
          const job = decodeJob(b, dv, at, queueOf(qid, id));
          const page = Math.floor(id / recoveryBucketIds);
          const bucket = buckets.get(page);
          if (bucket === undefined) buckets.set(page, { jobs: [job], segs: [seg] });
          else {
            bucket.jobs.push(job);
            bucket.segs.push(seg);
          }
        },
        tombstone: (id, first) => journal.storedTombstone(id, seg, first),
      });
      segments.push([seg, records, body.length, 0]);
    }
  } finally {
    stmt.finalize();
  }
  // Live records per segment, counted by runs: a bucket's jobs mostly come from one segment.
  const live = new Map<number, number>();
  let runSeg = 0;
  let run = 0;
  for (const page of [...buckets.keys()].sort((a, b) => a - b)) {
    const { jobs, segs } = buckets.get(page)!;
    buckets.delete(page);
    let order: number[] | null = null;
    for (let i = 1; i < jobs.length; i++) {
      if (jobs[i]!.id < jobs[i - 1]!.id) {
        order = jobs.map((_, k) => k).sort((x, y) => jobs[x]!.id - jobs[y]!.id);
        break;
      }
    }
    for (let i = 0; i < jobs.length; i++) {
      const k = order === null ? i : order[i]!;
      const job = jobs[k]!;
      const seg = segs[k]!;
      if (journal.latestSegmentOf(job.id) !== seg) {
        job.queue.payloads.free(job); // an older record of a job, or a removed one
        continue;
      }
      if (seg !== runSeg) {
        if (run > 0) live.set(runSeg, (live.get(runSeg) ?? 0) + run);
        runSeg = seg;
        run = 0;
      }
      run++;
      restore(job);
    }
  }
  if (run > 0) live.set(runSeg, (live.get(runSeg) ?? 0) + run);
  for (const s of segments) s[3] = live.get(s[0]) ?? 0;
  journal.storedSegments(segments);
  finished.sort((a, b) => a.finishedAt - b.finishedAt);
  for (const job of finished) attach(job);

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
  return { jobs: count, queues: names.length, records, recordsKept, ms: performance.now() - t0 };
}

/** Ids per bucket of the in-order restore. */
const recoveryBucketIds = 4096;

/** Jobs decoded from one page of ids, with the segment each came from. */
interface Bucket {
  jobs: Job[];
  segs: number[];
}

/** walkSegment, its complaint turned into a refusal naming the segment. */
function walkChecked(path: string, seg: number, body: Uint8Array, visit: SegmentVisitor, crc = true): number {
  try {
    return walkSegment(body, visit, crc);
  } catch (e) {
    if (e instanceof StorageError) throw e;
    throw corruptError(path, `segment ${seg}: ${(e as Error).message}`);
  }
}

/** The jobs stored in the file, id -> state, read the way recovery reads them (tests and
 *  diagnostics look at the file with it). */
export function storedJobStates(db: Database): Map<number, number> {
  const out = new Map<number, number>();
  for (const [id, state] of valuesOnce(db, "SELECT id, state FROM jobs ORDER BY id")) out.set(id as number, state as number);
  for (const [, body] of valuesOnce(db, "SELECT id, body FROM segments ORDER BY id")) {
    walkSegment(body as Uint8Array, {
      job: (id, _q, b, at) => out.set(id, recordState(b, at)),
      tombstone: (id) => out.delete(id),
    });
  }
  return out;
}
