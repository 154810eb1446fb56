// Retention on disk under a steady workload: with KEEP_COMPLETED / KEEP_COMPLETED_AGE_MS the jobs
// table holds at most what the engine keeps, and the file (database + WAL) stops growing once
// freed pages are reused, instead of growing with the number of jobs ever processed.
// In-process with a fake clock for the bounds, and once through a real server process for the
// configuration path (environment -> engine -> rows on disk). store.test.ts checks the pruning
// itself on one batch; crash.test.ts the crash safety.

import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { existsSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "msgpackr";
import { Engine } from "../../src/engine/engine.ts";
import { storedJobStates } from "../../src/persistence/recovery.ts";
import { SqliteStore } from "../../src/persistence/sqlite-store.ts";
import { FrameClient, killAllServers, ServerProcess } from "./server-process.ts";

const paths: string[] = [];
const stores: SqliteStore[] = [];

function tmpPath(): string {
  const p = join(tmpdir(), `ringq-retention-${process.pid}-${Math.random().toString(36).slice(2)}.db`);
  paths.push(p);
  return p;
}

afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await killAllServers();
  for (const p of paths.splice(0)) for (const suffix of ["", "-wal", "-shm"]) rmSync(p + suffix, { force: true });
});

/** Database plus WAL: what the data directory really costs. */
function bytesOnDisk(path: string): number {
  const wal = `${path}-wal`;
  return statSync(path).size + (existsSync(wal) ? statSync(wal).size : 0);
}

const MiB = 1024 * 1024;
const payload = pack("x".repeat(1000)) as Uint8Array;

/**
 * `rounds` loop turns of a steady workload: push `perRound` jobs, pull and complete them, tick,
 * commit; the clock advances 1 s per round. Returns rows and bytes on disk after each round.
 */
function steadyWorkload(keepFinished: number, keepFinishedAgeMs: number, rounds: number, perRound: number) {
  const clock = { t: 1_000_000 };
  const path = tmpPath();
  const store = new SqliteStore(path, "batch", () => clock.t);
  stores.push(store);
  const engine = new Engine({ now: () => clock.t, journal: store.journal, keepFinished, keepFinishedAgeMs });
  store.recover(engine);
  const rows: number[] = [];
  const bytes: number[] = [];
  for (let r = 0; r < rounds; r++) {
    clock.t += 1_000;
    engine.tick(clock.t);
    for (let i = 0; i < perRound; i++) engine.push({ queue: "steady", data: payload });
    for (const j of engine.pull("steady", perRound)) engine.complete(j.id, undefined, null);
    store.commit();
    rows.push(store.storedJobs());
    bytes.push(bytesOnDisk(path));
  }
  return { path, store, engine, clock, rows, bytes };
}

test("KEEP_COMPLETED bounds the rows and the file under a steady workload", () => {
  const keep = 1_000;
  const perRound = 500;
  const rounds = 60; // 30,000 jobs of ~1 KB: ~30 MB if nothing were pruned
  const w = steadyWorkload(keep, 24 * 3600_000, rounds, perRound);
  // Each round's tick prunes to `keep` before the new completions: the table never holds more
  // than keep + one round.
  for (let r = 0; r < rounds; r++) expect(w.rows[r]).toBe(Math.min((r + 1) * perRound, keep + perRound));
  // Freed pages are reused: the second half of the run does not grow the file...
  const half = w.bytes[rounds / 2 - 1]!;
  const end = w.bytes[rounds - 1]!;
  expect(end).toBeLessThanOrEqual(half * 1.1);
  // ...and it is far below what 30,000 rows would take.
  expect(end).toBeLessThan(12 * MiB);
  w.engine.tick(w.clock.t);
  w.store.commit();
  expect(w.store.storedJobs()).toBe(keep);
});

test("KEEP_COMPLETED_AGE_MS bounds the rows by age under a steady workload, and an idle tick empties them", () => {
  const ageMs = 10_000;
  const perRound = 500;
  const rounds = 60; // one round per second: at most ~10 s of completions are kept
  const w = steadyWorkload(1_000_000, ageMs, rounds, perRound);
  for (let r = 0; r < rounds; r++) expect(w.rows[r]).toBeLessThanOrEqual((ageMs / 1_000 + 1) * perRound);
  expect(w.rows[rounds - 1]).toBe((ageMs / 1_000) * perRound);
  expect(w.bytes[rounds - 1]!).toBeLessThanOrEqual(w.bytes[rounds / 2 - 1]! * 1.1);
  w.clock.t += ageMs + 1;
  w.engine.tick(w.clock.t);
  w.store.commit();
  expect(w.store.storedJobs()).toBe(0);
});

test("a real server with KEEP_COMPLETED and KEEP_COMPLETED_AGE_MS keeps only that on disk", async () => {
  const path = tmpPath();
  const keep = 300;
  const env = { DATA_PATH: path, DURABILITY: "sync", KEEP_COMPLETED: String(keep) };
  let s = await ServerProcess.start(env);
  const c = await FrameClient.connect(s.port);
  const data = "y".repeat(2000);
  let processed = 0;
  for (let round = 0; round < 10; round++) {
    await c.ok({ cmd: "PUSHB", queue: "ret", jobs: Array.from({ length: 500 }, () => ({ data })) });
    for (;;) {
      const r = await c.ok({ cmd: "PULLB", queue: "ret", count: 250, timeout: 0 });
      if (r.jobs.length === 0) break;
      const a = await c.ok({ cmd: "ACKB", ids: r.jobs.map((j: { id: number }) => j.id) });
      processed += a.count;
    }
  }
  expect(processed).toBe(5_000);
  c.close();
  expect(await s.stop()).toBe(0);
  const stored = (p: string) => {
    const db = new Database(p, { readonly: true });
    try {
      const n = new Map<number, number>();
      for (const state of storedJobStates(db).values()) n.set(state, (n.get(state) ?? 0) + 1);
      return [...n].map(([state, count]) => ({ state, n: count }));
    } finally {
      db.close();
    }
  };
  // All 5,000 completed; only the newest `keep` records are on disk.
  const rows = stored(path);
  expect(rows.length).toBe(1);
  expect(rows[0]!.n).toBe(keep);

  // The age bound: restarted with a tiny age, the recovered records age out at the next tick
  // and their rows disappear from the file.
  s = await ServerProcess.start({ ...env, KEEP_COMPLETED_AGE_MS: "1" });
  expect(s.log).toContain(`recovered ${keep} jobs`);
  const probe = await FrameClient.connect(s.port);
  let completed = -1;
  for (let i = 0; i < 200 && completed !== 0; i++) {
    completed = (await probe.ok({ cmd: "GETJOBCOUNTS", queue: "ret" })).completed;
    if (completed !== 0) await Bun.sleep(25);
  }
  probe.close();
  expect(completed).toBe(0);
  expect(await s.stop()).toBe(0);
  expect(stored(path)).toEqual([]);
});
