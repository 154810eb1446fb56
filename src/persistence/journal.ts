// The SQLite Journal: coalesces the engine's reports of one loop turn (the changed jobs, the
// removed ids, the queues whose flags changed) and writes them in ONE transaction with
// prepared statements (group commit). Jobs go into segments (segments.ts): the turn's changed
// jobs, each as its whole current record, and a tombstone for each stored job it removed, packed
// into one row, so a job pushed and acked in the same turn is written once, or not at all if it
// was removed. The journal knows where each job's latest and first records are (SegmentIndex)
// and how many live records each segment still holds: a segment with none is deleted; one that
// fell below 1/segmentLiveFraction live, or one of too many small ones, is compacted (its live
// jobs written again from memory, a bounded amount per commit). It does not decide when to
// commit (sqlite-store.ts does) and reads back only the segments it compacts (recovery.ts reads
// the rest).
//
// Tombstones. Recovery takes a job's record from the newest segment that has one, so deleting a
// segment can bring back an older record of a removed job. A removal therefore writes a
// tombstone (id, first segment of the job) whenever a segment from that first one up to the
// tombstone's own still exists, and the tombstone is live until none does. Each live tombstone
// is counted on the oldest such segment (its target, `holders`); when the target is deleted the
// count moves to the next one, or the tombstone is moot and its own segment may go.

import type { Database, Statement } from "bun:sqlite";
import { compactBytesPerCommit, segmentBytesMax, segmentLiveFraction, segmentSmallBytes, segmentsSmallMax } from "../constants.ts";
import type { Engine } from "../engine/engine.ts";
import type { Journal } from "../engine/journal.ts";
import type { Job, QueueState } from "../engine/model.ts";
import { lowerBound } from "../engine/lower-bound.ts";
import type { RecordKind } from "../engine/records.ts";
import { encodeQueueRow, encodeRecord } from "./codecs.ts";
import { SegmentIndex } from "./segment-index.ts";
import { SegmentWriter, walkSegment } from "./segments.ts";

/** A stored segment, as the journal accounts for it. */
interface Segment {
  readonly id: number;
  /** Records written in it (jobs and tombstones), and its size: set when it is written. */
  records: number;
  bytes: number;
  /** Job records that are still their job's latest. */
  live: number;
  /** Its tombstones that still cover a segment that exists (each counted on one: `holders`). */
  tombs: number;
  /** Segments holding live tombstones whose target this is: segment id -> how many. */
  holders: Map<number, number> | null;
  /** In the compaction queue. */
  queued: boolean;
  /** Found dead (no live record, no live tombstone): deleted at the end of this commit. */
  dead: boolean;
}

export class SqliteJournal implements Journal {
  /** Jobs changed since the last commit, repeats and all: a push costs an array slot, not a Map
   *  entry (a Map cleared every commit cost 315 ns a job in PUSHB's profile). writeJobs skips
   *  repeats and jobs the engine no longer has (removed: `removed` says what to do). */
  private dirty: Job[] = [];
  private removed: number[] = [];
  private readonly dirtyQueues = new Set<QueueState>();
  /** "kind:key" -> the record's stored form, or null: delete it. The last change of a turn wins. */
  private readonly dirtyRecords = new Map<string, { kind: RecordKind; key: string; value: unknown }>();
  /** Row ids of queues removed since the last commit. */
  private removedQueues: number[] = [];
  /** Queue name -> its id in the queues table. */
  private readonly queueIds = new Map<string, number>();
  private lastQueueId = 0;
  engine: Engine | null = null;

  /** Job id -> the segments holding its latest and its first record. */
  private readonly index = new SegmentIndex();
  private readonly segments = new Map<number, Segment>();
  /** The ids of `segments`, ascending (tombstone targets are found by search). */
  private order: number[] = [];
  private lastSegment = 0;
  /** Segments under segmentSmallBytes, oldest first: merged when there are too many. */
  private readonly small = new Set<number>();
  /** Segments that fell below 1/segmentLiveFraction live, in the order they did. */
  private compactQueue: number[] = [];
  private compactHead = 0;
  /** Dead segments found (at recovery or during a commit), deleted by the commit. */
  private dead: number[] = [];
  /** Live tombstones of the segments being compacted, to write again: [id, first, from]... */
  private carried: number[] = [];
  /** Live jobs of the segments being compacted, to write again (apart from the turn's own). */
  private survivors: Job[] = [];
  /** Recovery: the tombstones read, [holder segment, first segment of the job]... */
  private storedTombs: number[] = [];
  /** Recovery found rows of the pre-segment jobs table: the next commit moves them. */
  private legacyRows = false;
  /** A commit failed: the journal no longer knows what is stored (the server stops). */
  private broken = false;
  private readonly writer = new SegmentWriter();
  /** Records written since start (diagnostics, and the tests of write amplification). */
  private jobRecordsWritten = 0;
  private tombstonesWritten = 0;

  private readonly begin: Statement;
  private readonly commitStmt: Statement;
  private readonly rollback: Statement;
  private readonly insertSegment: Statement;
  private readonly deleteSegment: Statement;
  private readonly selectSegment: Statement;
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
    this.insertSegment = db.prepare("INSERT INTO segments (id, body) VALUES (?, ?)");
    this.deleteSegment = db.prepare("DELETE FROM segments WHERE id = ?");
    this.selectSegment = db.prepare("SELECT body FROM segments WHERE id = ?");
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
    this.dirty.push(job);
  }

  jobRemoved(job: Job): void {
    // A job never written needs nothing; a stored one needs a tombstone (or its segment goes).
    if (this.index.get(job.id) !== 0) this.removed.push(job.id);
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
    return this.dirty.length + this.removed.length + this.dirtyQueues.size + this.removedQueues.length + this.dirtyRecords.size + this.dead.length + (this.legacyRows ? 1 : 0);
  }

  /** Recovery: the queues table's rows. */
  knowStored(queues: Iterable<[string, number]>): void {
    for (const [name, id] of queues) {
      this.queueIds.set(name, id);
      if (id > this.lastQueueId) this.lastQueueId = id;
    }
  }

  /** Recovery: the job whose latest record is in segment `seg` (its last call for an id wins). */
  storedJob(id: number, seg: number): void {
    this.index.set(id, seg);
  }

  /** Recovery: the segment of job `id`'s latest record so far (0: none, or a tombstone). */
  latestSegmentOf(id: number): number {
    return this.index.get(id);
  }

  /** Recovery: a tombstone read in segment `seg` for job `id`, whose first record was in `first`. */
  storedTombstone(id: number, seg: number, first: number): void {
    this.index.delete(id);
    this.storedTombs.push(seg, first);
  }

  /** Recovery: a job restored from the jobs table of schema version 3; the next commit writes
   *  it into a segment and empties that table. */
  legacyJob(job: Job): void {
    this.legacyRows = true;
    this.dirty.push(job);
  }

  /** Recovery, after every segment is read (`stored`: id, records, bytes, live job records):
   *  the live tombstones are counted, and the dead segments, the compaction candidates and the
   *  small ones found. */
  storedSegments(stored: readonly [number, number, number, number][]): void {
    for (const [id, records, bytes, live] of stored) {
      this.segments.set(id, { id, records, bytes, live, tombs: 0, holders: null, queued: false, dead: false });
      this.order.push(id);
      if (id > this.lastSegment) this.lastSegment = id;
      if (bytes < segmentSmallBytes) this.small.add(id);
    }
    const t = this.storedTombs;
    for (let i = 0; i < t.length; i += 2) {
      const holder = this.segments.get(t[i]!)!;
      const target = this.target(t[i + 1]!, holder.id);
      // No segment left where the job could have a record: the tombstone hides nothing.
      if (target !== undefined) this.holdTombstone(holder, target);
    }
    this.storedTombs = [];
    for (const s of this.segments.values()) this.check(s);
  }

  /** Writes everything pending in one transaction. Returns false when there was nothing to do.
   *  The next id is not written here: ids are reserved durably in blocks (reserve), and recovery
   *  starts above the reservation, so a write of next_id per commit (a page of the WAL each time)
   *  would change nothing; a clean stop writes it exactly (releaseReservations). */
  commit(): boolean {
    if (this.pending === 0) return false;
    if (this.broken) throw new Error("an earlier commit failed; restart ringq");
    const newQueues: string[] = [];
    this.begin.run();
    try {
      this.sweep();
      this.compact();
      // Removed queues first: a queue obliterated and pushed to again in one turn is a new row.
      for (const id of this.removedQueues) this.deleteQueue.run(id);
      for (const q of this.dirtyQueues) this.queueId(q, newQueues);
      for (const q of this.dirtyQueues) this.upsertQueue.run(...encodeQueueRow(this.queueIds.get(q.name)!, q));
      this.writeJobs(newQueues);
      this.sweep();
      if (this.legacyRows) this.db.run("DELETE FROM jobs");
      for (const r of this.dirtyRecords.values()) {
        if (r.value === null) this.deleteRecord.run(r.kind, r.key);
        else this.upsertRecord.run(r.kind, r.key, encodeRecord(r.value));
      }
      this.commitStmt.run();
    } catch (e) {
      // What the journal counts no longer matches the file (rolled back); the store fails stop.
      this.broken = true;
      for (const name of newQueues) this.queueIds.delete(name);
      try {
        this.rollback.run();
      } catch {
        // The transaction may already be gone (SQLite rolls back on some I/O errors).
      }
      throw e;
    }
    this.legacyRows = false;
    this.dirty = [];
    this.removed = [];
    this.dirtyQueues.clear();
    this.removedQueues = [];
    this.dirtyRecords.clear();
    return true;
  }

  /** The carried tombstones and compaction's survivors, then the turn's jobs and its
   *  tombstones, into new segments. */
  private writeJobs(newQueues: string[]): void {
    if (this.dirty.length === 0 && this.removed.length === 0 && this.carried.length === 0 && this.survivors.length === 0) return;
    const w = this.writer;
    w.reset();
    let cur = this.newSegment();
    const firstNew = cur.id;
    const roll = (): void => {
      if (w.bytes < segmentBytesMax) return;
      this.flush(cur);
      cur = this.newSegment();
    };
    // First, before the jobs mark any segment dead: each one's target is where it is counted
    // (a victim marked dead here still is, until the sweep moves its count).
    const t = this.carried;
    for (let i = 0; i < t.length; i += 3) {
      const id = t[i]!;
      const first = t[i + 1]!;
      const from = this.segments.get(t[i + 2]!)!;
      const target = this.target(first, from.id, true)!;
      this.moveTombstone(from, cur, target);
      w.addTombstone(id, first);
      this.tombstonesWritten++;
      roll();
    }
    this.carried = [];
    const jobs = this.engine?.jobs;
    const put = (job: Job): void => {
      const old = this.index.get(job.id);
      // Written already by this commit, or removed since it changed.
      if (old >= firstNew || (jobs !== undefined && jobs.get(job.id) !== job)) return;
      if (old !== 0) this.lose(old);
      w.addJob(job, this.queueId(job.queue, newQueues));
      this.jobRecordsWritten++;
      this.index.set(job.id, cur.id);
      cur.live++;
      roll();
    };
    for (const job of this.survivors) put(job);
    this.survivors = [];
    // Survivors and carried tombstones stay apart from the turn's fresh jobs: mixed with them, a
    // long-held job was compacted again with every generation of its neighbours (55 rewrites per
    // held job over 1,000 rounds of push, pull and ack with 1 in 50 held).
    if (w.count > 0) {
      this.flush(cur);
      cur = this.newSegment();
    }
    for (const job of this.dirty) put(job);
    // Every removal's record is let go before any tombstone is decided: an ACKB of a whole
    // PULLB's jobs leaves their segment dead, so none of them needs one (deciding one removal at
    // a time wrote a tombstone for all but the last, into a segment the sweep then deleted).
    const removed = this.removed;
    const firsts: number[] = new Array(removed.length);
    for (let i = 0; i < removed.length; i++) {
      const id = removed[i]!;
      const old = this.index.get(id);
      firsts[i] = old === 0 ? 0 : this.index.first(id);
      if (old === 0) continue;
      this.index.delete(id);
      this.lose(old);
    }
    for (let i = 0; i < removed.length; i++) {
      const first = firsts[i]!;
      if (first === 0) continue;
      // No segment left (or kept by this commit) where the job has a record: nothing to hide.
      const target = this.target(first, cur.id);
      if (target === undefined) continue;
      w.addTombstone(removed[i]!, first);
      this.tombstonesWritten++;
      this.holdTombstone(cur, target);
      roll();
    }
    if (w.count > 0) this.flush(cur);
  }

  /** The oldest segment (not marked dead, unless `dead`) with an id in [first, below): where a
   *  tombstone of a job first written in `first` and held in `below` is counted; undefined: it
   *  hides nothing. */
  private target(first: number, below: number, dead = false): Segment | undefined {
    const o = this.order;
    for (let i = lowerBound(o, first); i < o.length && o[i]! < below; i++) {
      const s = this.segments.get(o[i]!)!;
      if (dead || !s.dead) return s;
    }
    return undefined;
  }

  private newSegment(): Segment {
    // The id is taken at flush; until then no other segment is made.
    return { id: this.lastSegment + 1, records: 0, bytes: 0, live: 0, tombs: 0, holders: null, queued: false, dead: false };
  }

  private flush(cur: Segment): void {
    const w = this.writer;
    const body = w.finish();
    this.insertSegment.run(cur.id, body);
    cur.records = w.count;
    cur.bytes = body.length;
    this.segments.set(cur.id, cur);
    this.order.push(cur.id);
    this.lastSegment = cur.id;
    if (cur.bytes < segmentSmallBytes) this.small.add(cur.id);
    w.reset();
  }

  /** One of segment `id`'s records is no longer live; returns the segment. */
  private lose(id: number): Segment {
    const s = this.segments.get(id);
    if (s === undefined) throw new Error(`journal: segment ${id} is not known`);
    s.live--;
    this.check(s);
    return s;
  }

  /** A tombstone in `holder` is now live, counted on `target` (the oldest segment it covers). */
  private holdTombstone(holder: Segment, target: Segment): void {
    holder.tombs++;
    const h = (target.holders ??= new Map());
    h.set(holder.id, (h.get(holder.id) ?? 0) + 1);
  }

  /** A tombstone counted on `target` moves from segment `from` (being compacted) to `to`. */
  private moveTombstone(from: Segment, to: Segment, target: Segment): void {
    const h = target.holders!;
    const c = h.get(from.id)! - 1;
    if (c > 0) h.set(from.id, c);
    else h.delete(from.id);
    from.tombs--;
    this.check(from);
    this.holdTombstone(to, target);
  }

  /** Dead, or due for compaction? */
  private check(s: Segment): void {
    if (s.dead) return;
    if (s.live === 0 && s.tombs === 0) {
      s.dead = true;
      this.dead.push(s.id);
    } else if (!s.queued && (s.live + s.tombs) * segmentLiveFraction < s.records) {
      s.queued = true;
      this.compactQueue.push(s.id);
    }
  }

  /** Deletes the dead segments. The tombstones counted on one move to the next segment they
   *  still cover, or are moot, which may leave their own segment dead, and so on. */
  private sweep(): void {
    const dead = this.dead;
    while (dead.length > 0) {
      const s = this.segments.get(dead.pop()!);
      if (s === undefined) continue;
      this.deleteSegment.run(s.id);
      this.segments.delete(s.id);
      this.small.delete(s.id);
      this.order.splice(lowerBound(this.order, s.id), 1);
      if (s.holders === null) continue;
      for (const [hid, c] of s.holders) {
        const h = this.segments.get(hid)!;
        const next = this.target(s.id, hid);
        if (next !== undefined) {
          const nh = (next.holders ??= new Map());
          nh.set(hid, (nh.get(hid) ?? 0) + c);
        } else {
          h.tombs -= c;
          this.check(h);
        }
      }
    }
  }

  /** One bounded step of compaction: the small segments once there are too many, then those
   *  below the live fraction, up to compactBytesPerCommit read. Their live jobs are this
   *  commit's survivors (written again from memory, which is what is stored, in segments of
   *  their own), their live tombstones are carried; writeJobs then leaves them dead, and sweep
   *  deletes them. */
  private compact(): void {
    let budget = compactBytesPerCommit;
    const victims: Segment[] = [];
    if (this.small.size > segmentsSmallMax) {
      for (const id of this.small) {
        const s = this.segments.get(id)!;
        if (s.dead) continue;
        if (s.bytes > budget) break;
        budget -= s.bytes;
        victims.push(s);
      }
    }
    const q = this.compactQueue;
    while (this.compactHead < q.length && budget > 0) {
      const s = this.segments.get(q[this.compactHead]!);
      if (s === undefined || s.dead || !s.queued) {
        this.compactHead++;
        continue;
      }
      if (victims.length > 0 && s.bytes > budget) break;
      this.compactHead++;
      s.queued = false;
      if (victims.includes(s)) continue; // a small one, taken above
      budget -= s.bytes;
      victims.push(s);
    }
    if (this.compactHead > 1024 && this.compactHead * 2 > q.length) {
      this.compactQueue = q.slice(this.compactHead);
      this.compactHead = 0;
    }
    const jobs = this.engine?.jobs;
    for (const v of victims) {
      const row = this.selectSegment.get(v.id) as { body: Uint8Array } | null;
      if (row === null) throw new Error(`journal: segment ${v.id} is not in the file`);
      walkSegment(row.body, {
        job: (id) => {
          if (this.index.get(id) !== v.id) return;
          const job = jobs?.get(id);
          // Not in the engine: removed this turn, so its tombstone (or the segment's end) follows.
          if (job !== undefined) this.survivors.push(job);
        },
        tombstone: (id, first) => {
          // Live if it is still counted somewhere: then it is written again.
          if (this.target(first, v.id) !== undefined) this.carried.push(id, first, v.id);
        },
      });
    }
  }

  /** Jobs whose latest record is stored, segments held, and records written since start
   *  (tests and diagnostics). */
  storedShape(): { jobs: number; segments: number; jobRecordsWritten: number; tombstonesWritten: number } {
    return { jobs: this.index.size, segments: this.segments.size, jobRecordsWritten: this.jobRecordsWritten, tombstonesWritten: this.tombstonesWritten };
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
    for (const st of [this.begin, this.commitStmt, this.rollback, this.insertSegment, this.deleteSegment, this.selectSegment, this.upsertQueue, this.deleteQueue, this.setMeta, this.upsertRecord, this.deleteRecord]) {
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
