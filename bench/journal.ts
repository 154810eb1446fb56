// The SQLite journal's own cost, in-process (no sockets, no protocol): an engine over a
// SqliteStore pushes `--batch` jobs of 100 bytes, then `journal.commit()` writes them, `--commits`
// times; then (`--churn`) the same jobs are pulled and acked, 1 in `--hold` (default 50; 0: none)
// held, so segments are deleted, tombstoned and compacted. `--options` pushes with removeOnComplete (implied by
// --churn), a job option stored in the record's MessagePack blob, so its encoding is counted. Prints per-job microseconds of the pushes and of the
// commits, medians and ranges over `--rounds` fresh files. `journal.commit()` is the write only:
// in sync mode the store's fsync (wal-sync.ts) runs after it, off the loop, and is not counted.
//
//   npx bun bench/journal.ts [--rounds=3] [--commits=3000] [--batch=100] [--mode=none|batch|sync] [--options] [--churn [--hold=N]]

import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../src/engine/engine.ts";
import { SqliteStore } from "../src/persistence/sqlite-store.ts";
import { jobData } from "./loadgen.ts";
import { median } from "./lib/stats.ts";

const args = { rounds: 3, commits: 3000, batch: 100, mode: "none" as "none" | "batch" | "sync", churn: false, options: false, hold: 50 };
for (const a of process.argv.slice(2)) {
  const [k, v] = a.replace(/^--/, "").split("=");
  if (k === "rounds" || k === "commits" || k === "batch" || k === "hold") args[k] = Number(v);
  else if (k === "mode" && (v === "none" || v === "batch" || v === "sync")) args.mode = v;
  else if (k === "churn" && v === undefined) args.churn = args.options = true;
  else if (k === "options" && v === undefined) args.options = true;
  else throw new Error(`journal bench: unknown argument ${a}`);
}
if (!(args.rounds >= 1 && args.commits >= 1 && args.batch >= 1 && args.hold >= 0)) throw new Error("journal bench: --rounds, --commits and --batch must be >= 1, --hold >= 0");

function round(i: number): { push: number; commit: number; maxMs: number; segments: number; fileJobs: number } {
  const path = join(tmpdir(), `ringq-journal-bench-${process.pid}-${i}.db`);
  const store = new SqliteStore(path, args.mode);
  const engine = new Engine({ now: Date.now, journal: store.journal });
  store.recover(engine);
  const data = jobData(100);
  let push = 0;
  let commit = 0;
  let maxMs = 0;
  const timed = (): void => {
    const t = performance.now();
    store.journal.commit();
    const ms = performance.now() - t;
    commit += ms;
    if (ms > maxMs) maxMs = ms;
  };
  for (let r = 0; r < args.commits; r++) {
    const t = performance.now();
    for (let k = 0; k < args.batch; k++) engine.push(args.options ? { queue: "q", data, removeOnComplete: true } : { queue: "q", data });
    push += performance.now() - t;
    timed();
    if (args.churn) {
      engine.pull("q", args.batch).forEach((j, k) => {
        if (args.hold === 0 || k % args.hold !== 0) engine.complete(j.id, undefined, null);
      });
      timed();
    }
  }
  const shape = store.journal.storedShape();
  store.close();
  for (const s of ["", "-wal", "-shm"]) rmSync(path + s, { force: true });
  const jobs = args.commits * args.batch;
  return { push: (push * 1000) / jobs, commit: (commit * 1000) / jobs, maxMs, segments: shape.segments, fileJobs: shape.jobs };
}

console.log(`journal bench: mode=${args.mode}, ${args.commits} commits of ${args.batch} jobs${args.options ? " with removeOnComplete" : ""}${args.churn ? `, then pulled and acked (${args.hold === 0 ? "none" : `1 in ${args.hold}`} held)` : ""}, ${args.rounds} rounds`);
const rs = [];
for (let i = 0; i < args.rounds; i++) {
  const r = round(i);
  rs.push(r);
  console.log(`  round ${i + 1}: push ${r.push.toFixed(2)} us/job, commit ${r.commit.toFixed(2)} us/job, slowest commit ${r.maxMs.toFixed(1)} ms; ${r.fileJobs} jobs stored in ${r.segments} segments`);
}
const show = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
console.log(`median (range): push ${show(rs.map((r) => r.push))} us/job, commit ${show(rs.map((r) => r.commit))} us/job`);
