// Numbered migrations, tested on a database written by the 2026-11-25 release (schema version 1,
// tests/fixtures/ringq-v1.db): it opens in this one, every job and setting comes back, the file
// is migrated once and says so; a file from a newer release is refused; a migration that fails
// leaves the file as it was. Plus the record codecs: every JobExtra field has a stored form, and
// a job with every field set survives a round trip. And OBLITERATE across a restart.

import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack, unpack } from "msgpackr";
import { Engine } from "../../src/engine/engine.ts";
import { Job, JobExtra, JobState, kindPolicyFields, kindSpec, QueueState } from "../../src/engine/model.ts";
import { obliterate, runAll } from "../../src/engine/queries.ts";
import { blobExtraKeys, blobKindKeys, columnExtraFields, decodeExtra, extraEncoder, runtimeExtraFields } from "../../src/persistence/codecs.ts";
import { decodeJob, recordExtraFields, SegmentWriter, walkSegment } from "../../src/persistence/segments.ts";
import { migrations, schemaVersion } from "../../src/persistence/migrations.ts";
import { SqliteStore } from "../../src/persistence/sqlite-store.ts";

const fixture = join(import.meta.dir, "..", "fixtures", "ringq-v1.db");
const paths: string[] = [];
const stores: SqliteStore[] = [];

function tmpPath(): string {
  const p = join(tmpdir(), `ringq-migrate-${process.pid}-${Math.random().toString(36).slice(2)}.db`);
  paths.push(p);
  return p;
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const p of paths.splice(0)) for (const suffix of ["", "-wal", "-shm"]) rmSync(p + suffix, { force: true });
});

const t0 = 1_764_000_000_000;
const now = () => t0 + 60;

function open(path: string) {
  const store = new SqliteStore(path, "sync", now);
  stores.push(store);
  const engine = new Engine({ now, journal: store.journal });
  store.recover(engine);
  return { store, engine };
}

function closeAll(): void {
  for (const s of stores.splice(0)) s.close();
}

function version(path: string): unknown {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: unknown }).value;
  } finally {
    db.close();
  }
}

test("the migrations are numbered 1..n, and this release writes the last", () => {
  expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
  expect(schemaVersion).toBe(migrations.length);
  expect(schemaVersion).toBeGreaterThan(1);
});

test("a database written by the 2026-11-25 release (version 1) opens, is migrated once, and keeps everything", () => {
  const path = tmpPath();
  copyFileSync(fixture, path);
  expect(version(path)).toBe(1);
  const { store, engine } = open(path);
  expect(store.description).toContain(`schema migrated from version 1 to ${schemaVersion}`);
  expect(store.description).toContain("recovered 7 jobs in 3 queues");
  const state = (id: number) => engine.getJob(id)?.state;
  expect([1, 2, 3, 4, 5, 6, 7].map(state)).toEqual([
    JobState.Waiting, JobState.Waiting, JobState.Delayed, JobState.Waiting /* was active */, JobState.Completed, JobState.Failed, JobState.Waiting,
  ]);
  expect(engine.getJob(1)!.name).toBe("welcome");
  expect(unpack(engine.getJob(1)!.data)).toEqual({ to: "ada@example.com" });
  const full = engine.getJob(2)!;
  expect({
    priority: full.priority, tags: full.x!.tags, uniqueKey: full.x!.uniqueKey, customId: full.x!.customId, groupId: full.x!.groupId,
    lifo: full.k.p.lifo, ttl: full.k.p.ttl, timeout: full.k.p.timeout, maxAttempts: full.maxAttempts, backoff: full.backoff,
    backoffFixed: full.k.p.backoffFixed, stallTimeout: full.stallTimeout,
  }).toEqual({
    priority: 5, tags: ["a", "b"], uniqueKey: "u-1", customId: "c-1", groupId: "g1", lifo: true, ttl: 999_999_999, timeout: 5000,
    maxAttempts: 7, backoff: 250, backoffFixed: true, stallTimeout: 12_345,
  });
  expect(engine.customIds.get("c-1")).toBe(2);
  expect(engine.queue("emails").uniqueKeys.get("u-1")).toBe(2);
  const wasActive = engine.getJob(4)!;
  expect(wasActive.x!.progress).toBe(40);
  expect(wasActive.x!.progressMsg).toBe("step 2");
  expect(wasActive.x!.logs!.map((l) => l.message)).toEqual(["started"]);
  expect(unpack(engine.getJob(5)!.x!.result!)).toEqual({ ok: true });
  expect(engine.getJob(6)!.x!.error).toBe("boom");
  expect(engine.queue("paused-q").paused).toBe(true);
  expect(engine.nextId).toBe(8);
  store.commit();
  closeAll();
  expect(version(path)).toBe(schemaVersion);
  // The rows of the old jobs table moved into segments at the first commit.
  const check = new Database(path, { readonly: true });
  expect((check.query("SELECT count(*) AS n FROM jobs").get() as { n: number }).n).toBe(0);
  expect((check.query("SELECT count(*) AS n FROM segments").get() as { n: number }).n).toBeGreaterThan(0);
  check.close();
  // Opened again: nothing more to migrate, same content, now read from the segments.
  const again = open(path);
  expect(again.store.description).not.toContain("migrated");
  expect(again.store.description).toContain("recovered 7 jobs in 3 queues");
  expect([1, 2, 3, 4, 5, 6, 7].map((id) => again.engine.getJob(id)?.state)).toEqual([
    JobState.Waiting, JobState.Waiting, JobState.Delayed, JobState.Waiting, JobState.Completed, JobState.Failed, JobState.Waiting,
  ]);
  const moved = again.engine.getJob(2)!;
  expect([moved.priority, moved.x!.tags, moved.x!.uniqueKey, moved.x!.customId, moved.x!.groupId, moved.k.p.lifo, moved.maxAttempts, moved.backoff, moved.stallTimeout]).toEqual([
    5, ["a", "b"], "u-1", "c-1", "g1", true, 7, 250, 12_345,
  ]);
  expect(again.engine.getJob(1)!.name).toBe("welcome");
  expect(unpack(again.engine.getJob(5)!.x!.result!)).toEqual({ ok: true });
  expect(again.engine.getJob(4)!.x!.logs!.map((l) => l.message)).toEqual(["started"]);
  expect(again.engine.queue("paused-q").paused).toBe(true);
  expect(again.engine.nextId).toBe(8);
});

test("a database from a newer release is refused, and left as it was", () => {
  const path = tmpPath();
  copyFileSync(fixture, path);
  const db = new Database(path);
  db.run("UPDATE meta SET value = ? WHERE key = 'schema_version'", [schemaVersion + 1]);
  db.close();
  expect(() => open(path)).toThrow(new RegExp(`schema version ${schemaVersion + 1}, written by a newer ringq`));
  expect(version(path)).toBe(schemaVersion + 1);
});

test("a migration that fails rolls back: the file keeps its version and its jobs", () => {
  const path = tmpPath();
  copyFileSync(fixture, path);
  const db = new Database(path);
  db.run("CREATE TABLE records (x INTEGER)"); // in the way of migration 2
  db.close();
  expect(() => open(path)).toThrow(/migrating the schema from version 1 to \d+ failed .*the file is unchanged/);
  expect(version(path)).toBe(1);
  const check = new Database(path, { readonly: true });
  expect((check.query("SELECT count(*) AS n FROM jobs").get() as { n: number }).n).toBe(7);
  check.close();
});

test("every JobExtra field has a stored form (a column, a blob key, or runtime-only)", () => {
  const covered = new Set<string>([...columnExtraFields, ...runtimeExtraFields, ...blobExtraKeys]);
  const fields = Object.keys(new JobExtra());
  expect(fields.filter((f) => !covered.has(f))).toEqual([]);
  // And nothing is stored that the engine does not have.
  expect([...covered].filter((f) => !fields.includes(f))).toEqual([]);
  // The kind's options (model.ts KindSpec, shared by like jobs) have their blob keys too, for
  // records that kept them in the blob.
  expect([...blobKindKeys].sort()).toEqual([...kindPolicyFields].sort());
});

test("a job with every stored field set survives the segment codec, and its bytes are checked", () => {
  const q = new QueueState("codec");
  const kind = kindSpec({
    priority: -3, maxAttempts: 9, backoff: 77, stallTimeout: 1234, ttl: 5, timeout: 6, backoffFixed: true, lifo: true,
    removeOnComplete: true, removeOnFail: true, backoffJitter: 0.25, keepLogs: 10, keepCompletedAge: 1_000,
    keepCompletedCount: 5, keepFailedAge: 2_000, keepFailedCount: 6,
  });
  const j = new Job(42, q, pack({ a: 1 }) as Uint8Array, 1000, 2000, kind);
  const x = j.extra();
  Object.assign(x, {
    stallCount: 2, uniqueKey: "u", customId: "c", groupId: "g", tags: ["t1", "t2"],
    progress: 55, progressMsg: "m", result: new Uint8Array([1, 2, 3]),
    error: "e", logs: [{ timestamp: 1, message: "l", level: "warn" }], dependsOn: [1, 2], pendingDeps: 1, dependents: [3],
    groupSeq: 12, dedupUntil: 9_999, parentId: 40, childrenCompleted: 2, onFailure: 2, childrenIds: [43, 44], dedupKey: "dk",
  });
  // Every scalar stored as a number of the record is set here, away from its default (0 or false):
  // the kind's from the job's kind, the rest from its JobExtra.
  const freshX = new JobExtra() as unknown as Record<string, unknown>;
  const freshK = kindSpec() as unknown as Record<string, unknown>;
  for (const k of recordExtraFields) {
    const onKind = (kindPolicyFields as readonly string[]).includes(k);
    const fresh = onKind ? freshK : freshX;
    const now = (onKind ? j.k : x) as unknown as Record<string, unknown>;
    expect([k, fresh[k] === 0 || fresh[k] === false]).toEqual([k, true]);
    expect([k, now[k] !== fresh[k]]).toEqual([k, true]);
  }
  // And every kind option is stored as a number of the record.
  expect(kindPolicyFields.filter((k) => !(recordExtraFields as readonly string[]).includes(k))).toEqual([]);
  j.name = "nm";
  j.state = JobState.Failed;
  j.seq = -17;
  j.startedAt = 3000;
  j.finishedAt = 4000;
  j.attempts = 4;
  const w = new SegmentWriter();
  w.addJob(j, 5);
  w.addTombstone(41, 7);
  const body = w.finish().slice();
  let back: Job | null = null;
  const seen: unknown[] = [];
  expect(
    walkSegment(body, {
      job: (id, qid, b, at, dv) => {
        seen.push(["job", id, qid]);
        back = decodeJob(b, dv, at, q);
      },
      tombstone: (id, first) => seen.push(["tomb", id, first]),
    }),
  ).toBe(2);
  expect(seen).toEqual([["job", 42, 5], ["tomb", 41, 7]]);
  // Any byte changed, or the body cut short, is refused.
  for (const at of [0, 5, 20, body.length - 1]) {
    const bad = body.slice();
    bad[at]! ^= 1;
    expect(() => walkSegment(bad, { job() {}, tombstone() {} })).toThrow(/magic|checksum|count|malformed|past the end/);
  }
  expect(() => walkSegment(body.subarray(0, body.length - 3), { job() {}, tombstone() {} })).toThrow(/checksum/);
  // `d` names where each copy's payload sits in the arena; the bytes are compared instead.
  const plain = (job: Job) => ({ ...job, x: { ...job.x, result: Array.from(job.x!.result!), ttlEntry: null }, queue: job.queue.name, d: null, data: Array.from(job.data), deadline: job.deadline });
  expect(plain(back!)).toEqual(plain(j));
});

test("a flow parent's children's results keep their queues through the codec; older records without one read as null", () => {
  const q = new QueueState("codec");
  const parent = new Job(50, q, pack(0) as Uint8Array, 1000, 1000, kindSpec());
  parent.extra().childValues = [[51, new Uint8Array([1]), "kids"], [52, null, "kids"]];
  const back = new Job(50, q, parent.data, 1000, 1000, kindSpec());
  decodeExtra(extraEncoder(new Set())(parent)!, back);
  expect(back.x!.childValues!.map(([id, r, queue]) => [id, r === null ? null : [...r], queue])).toEqual([[51, [1], "kids"], [52, null, "kids"]]);
  const older = new Job(50, q, parent.data, 1000, 1000, kindSpec());
  decodeExtra(pack({ childValues: [[51, new Uint8Array([1])]] }) as Uint8Array, older);
  expect(older.x!.childValues!.map(([id, r, queue]) => [id, [...r!], queue])).toEqual([[51, [1], null]]);
});

test("OBLITERATE of a paused queue is journaled: after a restart the queue is gone, not paused", () => {
  const path = tmpPath();
  const a = open(path);
  a.engine.setPaused(a.engine.queue("ob"), true);
  a.engine.push({ queue: "ob", data: pack(1) as Uint8Array });
  a.store.commit();
  expect(runAll(obliterate(a.engine, a.engine.queue("ob")))).toBe(1);
  a.store.commit();
  closeAll();
  const b = open(path);
  expect(b.engine.queues.has("ob")).toBe(false);
  expect(b.engine.queue("ob").paused).toBe(false);
  expect(b.engine.jobs.size).toBe(0);
});

test("a queue obliterated and pushed to again in the same turn is a fresh queue on disk", () => {
  const path = tmpPath();
  const a = open(path);
  a.engine.setPaused(a.engine.queue("re"), true);
  a.store.commit();
  runAll(obliterate(a.engine, a.engine.queue("re")));
  const id = a.engine.push({ queue: "re", data: pack(2) as Uint8Array });
  a.store.commit();
  closeAll();
  const b = open(path);
  expect(b.engine.queue("re").paused).toBe(false);
  expect(b.engine.getJob(id)!.queue.name).toBe("re");
});
