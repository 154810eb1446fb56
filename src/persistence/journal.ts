// The SQLite Journal: coalesces the engine's reports of one loop turn (a Map of changed jobs, a
// list of removed ids, the queues whose flags changed) and writes them in ONE transaction with
// prepared statements (group commit). It writes a job's whole current row, so a job pushed and
// acked in the same turn is written once, or not at all if it was removed. It does not decide
// when to commit (sqlite-store.ts does) and never reads jobs back (recovery.ts does).

import type { Database, Statement } from "bun:sqlite";
import type { Engine } from "../engine/engine.ts";
import type { Journal } from "../engine/journal.ts";
import type { Job, QueueState } from "../engine/model.ts";
import type { RecordKind } from "../engine/records.ts";
import { encodeJobRow, encodeQueueRow, encodeRecord, jobColumns } from "./codecs.ts";

const jobColumnCount = jobColumns.length;
/** Rows per multi-row INSERT (and ids per DELETE): one statement call per this many jobs instead
 *  of one per job; measured ~10% less commit CPU in a steady push/ack/prune workload. */
const rowsPerInsert = 32;

function upsertSql(rows: number): string {
  const one = `(${new Array(jobColumnCount).fill("?").join(",")})`;
  return `INSERT OR REPLACE INTO jobs (${jobColumns.join(", ")}) VALUES ${new Array(rows).fill(one).join(",")}`;
}

export class SqliteJournal implements Journal {
  private readonly dirty = new Map<number, Job>();
  private removed: number[] = [];
  private readonly dirtyQueues = new Set<QueueState>();
  /** "kind:key" -> the record's stored form, or null: delete it. The last change of a turn wins. */
  private readonly dirtyRecords = new Map<string, { kind: RecordKind; key: string; value: unknown }>();
  /** Row ids of queues removed since the last commit. */
  private removedQueues: number[] = [];
  /** Queue name -> its id in the queues table. */
  private readonly queueIds = new Map<string, number>();
  private lastQueueId = 0;
  /** Every id above this has never been written, so removing it needs no DELETE. */
  private maxWrittenId = 0;
  private writtenNextId = 0;
  engine: Engine | null = null;

  private readonly begin: Statement;
  private readonly commitStmt: Statement;
  private readonly rollback: Statement;
  private readonly upsertJob: Statement;
  private readonly upsertJobs: Statement;
  /** Bindings of one multi-row INSERT, reused across commits. */
  private readonly rowArgs: (number | Uint8Array | null)[] = new Array(rowsPerInsert * jobColumnCount).fill(null);
  private readonly deleteJob: Statement;
  private readonly deleteJobs: Statement;
  private readonly upsertQueue: Statement;
  private readonly deleteQueue: Statement;
  private readonly setMeta: Statement;
  private readonly upsertRecord: Statement;
  private readonly deleteRecord: Statement;

  constructor(
    private readonly db: Database,
    /** The durability mode's setting (schema.ts), put back after a reservation's fsync. */
    private readonly synchronous: string,
  ) {
    this.begin = db.prepare("BEGIN");
    this.commitStmt = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    // REPLACE on an INTEGER PRIMARY KEY table with no other index is a cheap in-place rewrite.
    this.upsertJob = db.prepare(upsertSql(1));
    this.upsertJobs = db.prepare(upsertSql(rowsPerInsert));
    this.deleteJob = db.prepare("DELETE FROM jobs WHERE id = ?");
    this.deleteJobs = db.prepare(`DELETE FROM jobs WHERE id IN (${new Array(rowsPerInsert).fill("?").join(",")})`);
    this.upsertQueue = db.prepare(
      "INSERT INTO queues (id, name, paused, settings) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET paused = excluded.paused, settings = excluded.settings",
    );
    this.deleteQueue = db.prepare("DELETE FROM queues WHERE id = ?");
    this.setMeta = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    this.upsertRecord = db.prepare("INSERT OR REPLACE INTO records (kind, key, value) VALUES (?, ?, ?)");
    this.deleteRecord = db.prepare("DELETE FROM records WHERE kind = ? AND key = ?");
  }

  recordChanged(kind: RecordKind, key: string, value: unknown): void {
    this.dirtyRecords.set(`${kind}:${key}`, { kind, key, value });
  }

  recordRemoved(kind: RecordKind, key: string): void {
    this.dirtyRecords.set(`${kind}:${key}`, { kind, key, value: null });
  }

  jobChanged(job: Job): void {
    this.dirty.set(job.id, job);
  }

  jobRemoved(job: Job): void {
    this.dirty.delete(job.id);
    if (job.id <= this.maxWrittenId) this.removed.push(job.id);
  }

  queueChanged(queue: QueueState): void {
    this.dirtyQueues.add(queue);
  }

  /** Writes the reservation in a transaction of its own, fsync'd whatever the durability mode,
   *  before the engine hands out any id or token of the block. */
  reserve(what: "ids" | "tokens", upTo: number): void {
    this.db.exec("PRAGMA synchronous = FULL");
    try {
      this.begin.run();
      this.setMeta.run(what === "ids" ? "ids_reserved" : "tokens_reserved", upTo);
      this.commitStmt.run();
    } finally {
      this.db.exec(`PRAGMA synchronous = ${this.synchronous}`);
    }
  }

  queueRemoved(queue: QueueState): void {
    this.dirtyQueues.delete(queue);
    const id = this.queueIds.get(queue.name);
    if (id === undefined) return; // never written
    this.queueIds.delete(queue.name);
    this.removedQueues.push(id);
  }

  /** Changes waiting for a commit. */
  get pending(): number {
    return this.dirty.size + this.removed.length + this.dirtyQueues.size + this.removedQueues.length + this.dirtyRecords.size;
  }

  /** Recovery: what is already on disk. */
  knowStored(queues: Iterable<[string, number]>, maxId: number, nextId: number): void {
    for (const [name, id] of queues) {
      this.queueIds.set(name, id);
      if (id > this.lastQueueId) this.lastQueueId = id;
    }
    this.maxWrittenId = maxId;
    this.writtenNextId = nextId;
  }

  /** Writes everything pending in one transaction. Returns false when there was nothing to do. */
  commit(): boolean {
    const nextId = this.engine === null ? 0 : this.engine.nextId;
    if (this.pending === 0 && nextId === this.writtenNextId) return false;
    let maxId = this.maxWrittenId;
    const newQueues: string[] = [];
    this.begin.run();
    try {
      // Removed queues first: a queue obliterated and pushed to again in one turn is a new row.
      for (const id of this.removedQueues) this.deleteQueue.run(id);
      for (const q of this.dirtyQueues) this.queueId(q, newQueues);
      for (const q of this.dirtyQueues) this.upsertQueue.run(...encodeQueueRow(this.queueIds.get(q.name)!, q));
      const a = this.rowArgs;
      const full = rowsPerInsert * jobColumnCount;
      let n = 0;
      for (const job of this.dirty.values()) {
        if (job.id > maxId) maxId = job.id;
        encodeJobRow(job, this.queueId(job.queue, newQueues), a, n);
        n += jobColumnCount;
        if (n === full) {
          this.upsertJobs.run(...a);
          n = 0;
        }
      }
      for (let i = 0; i < n; i += jobColumnCount) this.upsertJob.run(...a.slice(i, i + jobColumnCount));
      // Drop the references to payloads so a commit does not keep the last jobs' data alive.
      a.fill(null);
      const removed = this.removed;
      let i = 0;
      for (; i + rowsPerInsert <= removed.length; i += rowsPerInsert) this.deleteJobs.run(...removed.slice(i, i + rowsPerInsert));
      for (; i < removed.length; i++) this.deleteJob.run(removed[i]!);
      for (const r of this.dirtyRecords.values()) {
        if (r.value === null) this.deleteRecord.run(r.kind, r.key);
        else this.upsertRecord.run(r.kind, r.key, encodeRecord(r.value));
      }
      if (nextId !== this.writtenNextId) this.setMeta.run("next_id", nextId);
      this.commitStmt.run();
    } catch (e) {
      // Forget the ids handed out in this transaction: their rows were rolled back.
      for (const name of newQueues) this.queueIds.delete(name);
      try {
        this.rollback.run();
      } catch {
        // The transaction may already be gone (SQLite rolls back on some I/O errors).
      }
      throw e;
    }
    this.maxWrittenId = maxId;
    this.writtenNextId = nextId;
    this.dirty.clear();
    this.removed = [];
    this.dirtyQueues.clear();
    this.removedQueues = [];
    this.dirtyRecords.clear();
    return true;
  }

  /** A clean stop: the unused rest of the reserved blocks is given back (the next start goes on
   *  exactly where this one stopped; only a crash skips ids). Run after the last commit. */
  releaseReservations(): void {
    const e = this.engine;
    if (e === null) return;
    const { nextId, nextToken } = e.idCounters();
    this.begin.run();
    this.setMeta.run("ids_reserved", nextId);
    this.setMeta.run("next_id", nextId);
    this.setMeta.run("tokens_reserved", nextToken);
    this.commitStmt.run();
  }

  /** Finalizes the statements: SQLite keeps a connection (and its file lock) open until they are. */
  close(): void {
    for (const st of [this.begin, this.commitStmt, this.rollback, this.upsertJob, this.upsertJobs, this.deleteJob, this.deleteJobs, this.upsertQueue, this.deleteQueue, this.setMeta, this.upsertRecord, this.deleteRecord]) {
      st.finalize();
    }
  }

  /** The queue's row id, inserting its row (inside the open transaction) the first time. */
  private queueId(q: QueueState, created: string[]): number {
    let id = this.queueIds.get(q.name);
    if (id === undefined) {
      id = ++this.lastQueueId;
      this.queueIds.set(q.name, id);
      created.push(q.name);
      this.upsertQueue.run(...encodeQueueRow(id, q));
    }
    return id;
  }
}
