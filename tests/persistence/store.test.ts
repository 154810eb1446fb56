// The SQLite store in-process, with a temp file and a fake clock: every job state survives a
// close and reopen through Engine.restore, writes are coalesced per commit, retention prunes on
// disk, ids are never reused, and a corrupt, foreign or locked file is refused with a clear error.
// Killing a real server mid-load is crash.test.ts.

import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { closeSync, openSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { pack } from "msgpackr";
import { noneCommitIntervalMs } from "../../src/constants.ts";
import { JobState } from "../../src/engine/model.ts";
import { storedJobStates } from "../../src/persistence/recovery.ts";
import { walkSegment } from "../../src/persistence/segments.ts";
import { SqliteStore } from "../../src/persistence/sqlite-store.ts";
import { storeHarness } from "./store-harness.ts";

const { clock, tmpPath, open, close } = storeHarness("store");

const d = (v: unknown) => pack(v) as Uint8Array;

function rows(path: string): { id: number; state: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return [...storedJobStates(db)].map(([id, state]) => ({ id, state })).sort((x, y) => x.id - y.id);
  } finally {
    db.close();
  }
}

test("every state comes back after a restart, through the engine's own transitions", () => {
  clock.t = 1_000_000;
  const path = tmpPath();
  const a = open(path);
  const e = a.engine;
  const low = e.push({ queue: "q", data: d("low") });
  const high = e.push({ queue: "q", data: d("high"), priority: 5 });
  const delayed = e.push({ queue: "q", data: d("later"), delay: 60_000 });
  const custom = e.push({ queue: "q", data: d("custom"), customId: "c-1", uniqueKey: "u-1", tags: ["t"] });
  const lifo = e.push({ queue: "l", data: d("lifo-1"), lifo: true });
  const lifo2 = e.push({ queue: "l", data: d("lifo-2"), lifo: true });
  // Active with one failed attempt already behind it.
  const act = e.push({ queue: "w", data: d("active"), maxAttempts: 5 });
  e.pull("w", 1);
  e.failAttempt(act, undefined, "boom");
  expect(e.pull("w", 1)[0]!.id).toBe(act);
  // Completed with a result, and one in the DLQ.
  const done = e.push({ queue: "w", data: d("done") });
  e.pull("w", 1);
  e.complete(done, undefined, d({ answer: 42 }));
  const dead = e.push({ queue: "w", data: d("dead"), maxAttempts: 1 });
  e.pull("w", 1);
  e.failAttempt(dead, undefined, "fatal");
  // A retried job goes behind one pushed after it; a restart must not undo that.
  const first = e.push({ queue: "o", data: d("first") });
  const second = e.push({ queue: "o", data: d("second") });
  e.pull("o", 1);
  e.failAttempt(first, undefined, "again");
  e.setPaused(e.queue("paused"), true);
  a.store.commit();
  const nextId = e.nextId;
  close(a.store);

  clock.t += 1_000;
  const b = open(path);
  const r = b.engine;
  expect(b.store.recovered!.jobs).toBe(11);
  expect(r.nextId).toBe(nextId);
  expect(r.getJob(delayed)!.state).toBe(JobState.Delayed);
  expect(r.getJob(delayed)!.runAt).toBe(1_000_000 + 60_000);
  const back = r.getJob(act)!;
  expect(back.state).toBe(JobState.Waiting);
  expect(back.attempts).toBe(1);
  expect(back.x!.error).toBe("boom");
  expect(r.getJob(done)!.state).toBe(JobState.Completed);
  expect(Array.from(r.getJob(done)!.x!.result!)).toEqual(Array.from(d({ answer: 42 })));
  expect(r.getJob(dead)!.state).toBe(JobState.Failed);
  expect(r.queue("w").failed.has(r.getJob(dead)!)).toBe(true);
  expect(r.queue("w").completed.has(r.getJob(done)!)).toBe(true);
  expect(r.queue("paused").paused).toBe(true);
  expect(r.queue("q").paused).toBe(false);
  expect(r.getJob(custom)!.x!.tags).toEqual(["t"]);
  // Custom id and unique key are live again.
  expect(r.push({ queue: "q", data: d("again"), customId: "c-1" })).toBe(custom);
  expect(() => r.push({ queue: "q", data: d("dup"), uniqueKey: "u-1" })).toThrow(/Duplicate/);
  // Ready order: priority first, then FIFO; LIFO keeps its order; the re-queued active job
  // keeps its place (it was pulled before the restart).
  expect(r.pull("q", 3).map((j) => j.id)).toEqual([high, low, custom]);
  expect(r.pull("l", 2).map((j) => j.id)).toEqual([lifo2, lifo]);
  expect(r.pull("w", 1)[0]!.id).toBe(act);
  expect(r.pull("o", 2).map((j) => j.id)).toEqual([second, first]);
  // New ids continue after the stored counter; new jobs queue behind the restored ones.
  const fresh = r.push({ queue: "q", data: d("fresh") });
  expect(fresh).toBe(nextId);
  expect(Buffer.from(r.getJob(fresh)!.data).equals(Buffer.from(d("fresh")))).toBe(true);
});

test("ids are never reused, even when the newest jobs were deleted", () => {
  const path = tmpPath();
  const a = open(path);
  for (let i = 0; i < 3; i++) a.engine.push({ queue: "q", data: d(i), removeOnComplete: true });
  a.store.commit();
  for (const j of a.engine.pull("q", 3)) a.engine.complete(j.id, undefined, null);
  a.store.commit();
  close(a.store);
  expect(rows(path)).toEqual([]);
  const b = open(path);
  expect(b.engine.jobs.size).toBe(0);
  expect(b.engine.push({ queue: "q", data: d("next") })).toBe(4);
});

test("a job pushed and removed within one turn is never written; one completed is written once as completed", () => {
  const path = tmpPath();
  const a = open(path);
  const gone = a.engine.push({ queue: "q", data: d(1), removeOnComplete: true });
  const kept = a.engine.push({ queue: "q", data: d(2) });
  for (const j of a.engine.pull("q", 2)) a.engine.complete(j.id, undefined, null);
  expect(a.store.journal.pending).toBeGreaterThan(0);
  a.store.commit();
  expect(a.store.journal.pending).toBe(0);
  close(a.store);
  expect(gone).toBe(1);
  expect(rows(path)).toEqual([{ id: kept, state: JobState.Completed }]);
  // One record in the file: the kept job's, written once (no tombstone for one never written).
  const db = new Database(path, { readonly: true });
  const records: string[] = [];
  for (const [body] of db.query("SELECT body FROM segments").values()) {
    walkSegment(body as Uint8Array, { job: (id, _q, b, at) => records.push(`job ${id} ${b[at + 1]}`), tombstone: (id) => records.push(`tomb ${id}`) });
  }
  db.close();
  expect(records).toEqual([`job ${kept} ${JobState.Completed}`]);
});

test("retention prunes completed jobs on disk too, by count and by age", () => {
  const path = tmpPath();
  const a = open(path, "batch", { keepFinished: 5, keepFinishedAgeMs: 10_000 });
  for (let i = 0; i < 20; i++) a.engine.push({ queue: "q", data: d(i) });
  for (const j of a.engine.pull("q", 20)) a.engine.complete(j.id, undefined, null);
  a.store.commit();
  expect(a.store.storedJobs()).toBe(20);
  a.engine.tick(clock.t);
  a.store.commit();
  expect(a.store.storedJobs()).toBe(5);
  clock.t += 20_000;
  a.engine.tick(clock.t);
  a.store.commit();
  expect(a.store.storedJobs()).toBe(0);
  close(a.store);
  const b = open(path, "batch", { keepFinished: 5, keepFinishedAgeMs: 10_000 });
  expect(b.engine.completedCount).toBe(0);
  expect(b.engine.nextId).toBe(21);
});

test("completed records come back oldest first, so retention still removes the oldest", () => {
  const path = tmpPath();
  const a = open(path, "sync", { keepFinished: 2 });
  const ids = [1, 2, 3].map((i) => a.engine.push({ queue: "q", data: d(i) }));
  a.engine.pull("q", 3);
  // Completed in reverse id order.
  for (const id of [...ids].reverse()) {
    clock.t += 10;
    a.engine.complete(id, undefined, null);
  }
  a.store.commit();
  close(a.store);
  const b = open(path, "sync", { keepFinished: 2 });
  b.engine.tick(clock.t);
  expect([...b.engine.queue("q").completed.values()].map((j) => j.id)).toEqual([ids[1]!, ids[0]!]);
});

test("a delayed job whose run-at passed while the server was down is promoted by the first tick", () => {
  const path = tmpPath();
  const a = open(path);
  const id = a.engine.push({ queue: "q", data: d(1), delay: 500 });
  a.store.commit();
  close(a.store);
  clock.t += 1_000;
  const b = open(path);
  expect(b.engine.getJob(id)!.state).toBe(JobState.Delayed);
  b.engine.tick(clock.t);
  expect(b.engine.pull("q", 1)[0]!.id).toBe(id);
});

test("durability=none defers the commit within its interval, and close writes what is pending", () => {
  const path = tmpPath();
  const a = open(path, "none");
  a.engine.push({ queue: "q", data: d(1) });
  a.store.commit(); // the first commit is not deferred
  expect(a.store.journal.pending).toBe(0);
  a.engine.push({ queue: "q", data: d(2) });
  a.store.commit();
  expect(a.store.journal.pending).toBe(1);
  expect(a.store.storedJobs()).toBe(1);
  clock.t += noneCommitIntervalMs;
  a.store.commit();
  expect(a.store.journal.pending).toBe(0);
  a.engine.push({ queue: "q", data: d(3) });
  a.store.commit();
  expect(a.store.journal.pending).toBe(1);
  close(a.store);
  expect(rows(path).length).toBe(3);
});

test("a file that is not a database is refused with a message naming it and what to do", () => {
  const path = tmpPath();
  writeFileSync(path, Buffer.alloc(16_384, 0x5a));
  expect(() => new SqliteStore(path, "sync")).toThrow(/is corrupt.*restore the file from a backup, or move it/);
  expect(() => new SqliteStore(path, "sync")).toThrow(path);
});

function filledDatabase(path: string): void {
  const a = open(path);
  for (let i = 0; i < 3000; i++) a.engine.push({ queue: "q", data: d("x".repeat(500) + i) });
  a.store.commit();
  close(a.store);
}

test("a database with garbage in its pages is refused, never opened empty", () => {
  const path = tmpPath();
  filledDatabase(path);
  const size = statSync(path).size;
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.alloc(64 * 1024, 0xff), 0, 64 * 1024, Math.floor(size / 2 / 4096) * 4096);
  closeSync(fd);
  expect(() => open(path)).toThrow(/is corrupt/);
});

test("a torn (truncated) database is refused", () => {
  const path = tmpPath();
  filledDatabase(path);
  truncateSync(path, Math.floor(statSync(path).size / 2));
  expect(() => open(path)).toThrow(/is corrupt/);
});

test("a SQLite file of another program is refused", () => {
  const path = tmpPath();
  const db = new Database(path, { create: true });
  db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)");
  db.close();
  expect(() => new SqliteStore(path, "sync")).toThrow(/not a ringq database \(table 'meta' is missing\)/);
});

test("a second store on the same file is refused while the first holds it", () => {
  const path = tmpPath();
  open(path);
  expect(() => new SqliteStore(path, "sync")).toThrow(/is locked/);
});

test("every field of every job record survives, and removed jobs stay removed", () => {
  const path = tmpPath();
  const a = open(path);
  const e = a.engine;
  const ids: number[] = [];
  // 100 jobs, each record different.
  for (let i = 0; i < 100; i++) {
    ids.push(e.push({ queue: i % 2 === 0 ? "even" : "odd", data: d({ i }), priority: i % 7, delay: i % 5 === 0 ? 1_000 + i : 0, maxAttempts: 1 + (i % 9), backoff: i * 10, stallTimeout: 1_000 + i, customId: `c${i}` }));
  }
  a.store.commit();
  // 70 removed (tombstones), 30 kept.
  for (const id of ids.slice(0, 70)) e.cancel(id);
  a.store.commit();
  close(a.store);
  expect(rows(path).map((r) => r.id)).toEqual(ids.slice(70));
  const b = open(path);
  for (let i = 70; i < 100; i++) {
    const j = b.engine.getJob(ids[i]!)!;
    // maxAttempts, backoff and stallTimeout live in x behind accessors but are stored in columns:
    // they must survive next to a blob that does not hold them.
    expect([j.queue.name, j.priority, j.maxAttempts, j.backoff, j.stallTimeout, j.x!.customId, j.state]).toEqual([
      i % 2 === 0 ? "even" : "odd", i % 7, 1 + (i % 9), i * 10, 1_000 + i, `c${i}`, i % 5 === 0 ? JobState.Delayed : JobState.Waiting,
    ]);
    expect(Array.from(j.data)).toEqual(Array.from(d({ i })));
  }
});

test("a job's name survives a restart, and a named job without options gets no extra record back", () => {
  const path = tmpPath();
  const a = open(path);
  const plain = a.engine.push({ queue: "n", data: d(1), name: "send-email" });
  const withOptions = a.engine.push({ queue: "n", data: d(2), name: "resize", customId: "img-7", maxAttempts: 9 });
  const unnamed = a.engine.push({ queue: "n", data: d(3) });
  a.store.commit();
  close(a.store);
  const b = open(path);
  const p = b.engine.getJob(plain)!;
  expect(p.name).toBe("send-email");
  expect(p.x).toBeNull(); // the name alone must not cost a JobExtra per job
  const o = b.engine.getJob(withOptions)!;
  expect([o.name, o.x?.customId, o.maxAttempts]).toEqual(["resize", "img-7", 9]);
  expect(b.engine.getJob(unnamed)!.name).toBeNull();
});

test("a rate limit over a window (a fractional rate) and its burst survive a restart", () => {
  const path = tmpPath();
  const a = open(path);
  a.engine.setRateLimit(a.engine.queue("rl"), 1000 / 3000, 1);
  a.store.commit();
  close(a.store);
  const b = open(path);
  const r = b.engine.queues.get("rl")!.rateLimit!;
  expect([r.perSecond, r.burst]).toEqual([1000 / 3000, 1]);
});
