// The segment store (persistence/segments.ts, journal.ts): jobs stored as records packed into a
// row per commit. Against a model under random pushes, pulls, acks, cancels and restarts, the
// file holds exactly the engine's jobs with every field; compaction keeps the file near the live
// data under churn with held jobs pinning old segments; a flipped bit anywhere in a segment is a
// refusal at start-up, naming the segment.

import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { compactBytesPerCommit, segmentBytesMax, segmentLiveFraction, segmentSmallBytes, segmentsSmallMax } from "../../src/constants.ts";
import { JobState } from "../../src/engine/model.ts";
import { storedJobStates } from "../../src/persistence/recovery.ts";
import { rng } from "../helpers/rng.ts";
import { storeHarness } from "./store-harness.ts";

const { tmpPath, open: openWith, close, stores } = storeHarness("seg");
const open = (path: string) => openWith(path, "batch");

function segmentBytes(path: string): { rows: number; bytes: number } {
  const db = new Database(path, { readonly: true });
  try {
    const r = db.query("SELECT count(*) AS rows, coalesce(sum(length(body)), 0) AS bytes FROM segments").get() as { rows: number; bytes: number };
    return r;
  } finally {
    db.close();
  }
}

function metaRows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.query("SELECT key, value FROM meta ORDER BY key").all();
  } finally {
    db.close();
  }
}

function fileStates(path: string): Map<number, number> {
  const db = new Database(path, { readonly: true });
  try {
    return storedJobStates(db);
  } finally {
    db.close();
  }
}

const payload = (i: number, size: number) => {
  const b = new Uint8Array(size);
  for (let k = 0; k < size; k++) b[k] = (i * 31 + k) & 255;
  return b;
};

test("against a model: random pushes, pulls, acks, cancels and restarts leave exactly the engine's jobs in the file", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = rng(seed);
    const path = tmpPath();
    let { store, engine } = open(path);
    /** id -> what must come back: state, payload size and last byte, priority. */
    const model = new Map<number, { state: JobState; size: number; last: number; priority: number }>();
    const held: number[] = [];
    for (let step = 0; step < 400; step++) {
      const op = r();
      if (op < 0.35) {
        // A batch; now and then one big enough to split a commit into several segments.
        const n = 1 + Math.floor(r() * (r() < 0.05 ? 3_000 : 40));
        const size = r() < 0.1 ? 2_000 : 1 + Math.floor(r() * 200);
        for (let i = 0; i < n; i++) {
          const priority = Math.floor(r() * 3);
          const id = engine.push({ queue: r() < 0.5 ? "a" : "b", data: payload(i, size), priority });
          model.set(id, { state: JobState.Waiting, size, last: payload(i, size)[size - 1]!, priority });
        }
      } else if (op < 0.6) {
        for (const j of engine.pull(r() < 0.5 ? "a" : "b", 1 + Math.floor(r() * 50))) {
          model.get(j.id)!.state = JobState.Active;
          held.push(j.id);
        }
      } else if (op < 0.8) {
        // Ack some held jobs: most records go, a few are kept as completed.
        const k = Math.floor(r() * held.length);
        for (const id of held.splice(0, k)) {
          if (r() < 0.8) {
            engine.complete(id, undefined, null);
            engine.cancel(id); // a completed job removed: its record must not come back
            model.delete(id);
          } else {
            engine.complete(id, undefined, null);
            model.get(id)!.state = JobState.Completed;
          }
        }
      } else if (op < 0.9) {
        const waiting = [...model].filter(([, m]) => m.state === JobState.Waiting);
        for (let i = 0; i < Math.min(waiting.length, 20); i++) {
          const [id] = waiting[Math.floor(r() * waiting.length)]!;
          if (!model.has(id)) continue;
          engine.cancel(id);
          model.delete(id);
        }
      }
      if (r() < 0.7) store.commit();
      if (r() < 0.04) {
        expect(engine.jobs.size).toBe(model.size);
        close(store);
        const states = fileStates(path);
        expect(states.size).toBe(model.size);
        ({ store, engine } = open(path));
        // Active jobs come back waiting; their workers are gone.
        for (const m of model.values()) if (m.state === JobState.Active) m.state = JobState.Waiting;
        held.length = 0;
        expect(engine.jobs.size).toBe(model.size);
        for (const [id, m] of model) {
          const j = engine.getJob(id);
          expect(j === undefined ? undefined : [j.state, j.data.length, j.priority, j.data[j.data.length - 1]]).toEqual([m.state, m.size, m.priority, m.last]);
        }
      }
    }
    close(store);
    const back = open(path);
    expect(new Map([...back.engine.jobs].map(([id, j]) => [id, j.state]))).toEqual(
      new Map([...model].map(([id, m]) => [id, m.state === JobState.Active ? JobState.Waiting : m.state])),
    );
    for (const [id, j] of back.engine.jobs) expect([j.data.length, j.data[j.data.length - 1]]).toEqual([model.get(id)!.size, model.get(id)!.last]);
  }
}, 60_000);

test("compaction: held jobs pinning old segments, under churn, keep the file near the live data", () => {
  const path = tmpPath();
  const { store, engine } = open(path);
  // Every 50th job is held (pulled, never acked); the rest are pushed, pulled and acked.
  let live = 0;
  for (let round = 0; round < 300; round++) {
    for (let i = 0; i < 100; i++) engine.push({ queue: "q", data: payload(i, 100) });
    store.commit();
    const jobs = engine.pull("q", 100);
    jobs.forEach((j, i) => {
      if (i % 50 === 0) live++;
      else {
        engine.complete(j.id, undefined, null);
        engine.cancel(j.id);
      }
    });
    store.commit();
  }
  expect(engine.jobs.size).toBe(live);
  const shape = store.journal.storedShape();
  expect(shape.jobs).toBe(live);
  close(store);
  const { rows, bytes } = segmentBytes(path);
  // 600 jobs of ~170 stored bytes: without compaction, 300 segments of ~17 KiB each stay pinned
  // (about 5 MiB). The bound: the live records times the live fraction, the small segments
  // waiting to be merged, and one commit's compaction budget not yet spent.
  const bound = live * 200 * segmentLiveFraction + (segmentsSmallMax + 1) * segmentSmallBytes + compactBytesPerCommit;
  expect(bytes).toBeLessThan(bound);
  expect(rows).toBeLessThanOrEqual(shape.segments);
  expect(rows).toBeLessThan(segmentsSmallMax + 20);
  expect(fileStates(path).size).toBe(live);
  const back = open(path);
  expect(back.engine.jobs.size).toBe(live);
  for (const [, j] of back.engine.jobs) expect(j.state).toBe(JobState.Waiting);
});

test("write amplification: a held job is rewritten a bounded number of times, and an ACKB of a whole PULLB writes no tombstone", () => {
  for (const split of [false, true]) {
    const path = tmpPath();
    const { store, engine } = open(path);
    let held = 0;
    const rounds = 300;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 100; i++) engine.push({ queue: "q", data: payload(i, 100), removeOnComplete: true });
      store.commit();
      const jobs = engine.pull("q", 100);
      if (split) store.commit(); // the pull and the acks in commits of their own
      jobs.forEach((j, i) => {
        if (i % 50 === 0) held++;
        else engine.complete(j.id, undefined, null);
      });
      store.commit();
    }
    const s = store.journal.storedShape();
    expect(s.jobs).toBe(held);
    // Every push is written once, every pull once more when it has a commit of its own; the
    // held jobs are written again by compaction a few times at most (mixed with fresh jobs they
    // were rewritten with each generation: 55 times each).
    const base = rounds * 100 * (split ? 2 : 1);
    expect(s.jobRecordsWritten).toBeGreaterThanOrEqual(base);
    expect(s.jobRecordsWritten - base).toBeLessThan(4 * held);
    // Acked in the commit that pulled them, their push segment goes whole: no tombstone at all.
    // Acked in a commit of their own, the held jobs keep their segment: a tombstone each, about.
    if (!split) expect(s.tombstonesWritten).toBe(0);
    else expect(s.tombstonesWritten).toBeLessThan(rounds * 100 * 1.1);
    close(store);
    expect(fileStates(path).size).toBe(held);
  }
});

test("one commit larger than a segment is split, and comes back whole", () => {
  const path = tmpPath();
  const a = open(path);
  const n = Math.ceil((3 * segmentBytesMax) / 1_000);
  for (let i = 0; i < n; i++) a.engine.push({ queue: "q", data: payload(i, 1_000) });
  a.store.commit();
  close(a.store);
  expect(segmentBytes(path).rows).toBeGreaterThanOrEqual(3);
  const b = open(path);
  expect(b.engine.jobs.size).toBe(n);
  const first = b.engine.getJob(1)!;
  expect(Array.from(first.data)).toEqual(Array.from(payload(0, 1_000)));
  expect(Array.from(b.engine.getJob(n)!.data)).toEqual(Array.from(payload(n - 1, 1_000)));
});

test("a flipped bit in a segment's payload is refused at start-up, naming the segment", () => {
  const path = tmpPath();
  const a = open(path);
  for (let i = 0; i < 10; i++) a.engine.push({ queue: "q", data: payload(i, 100) });
  a.store.commit();
  close(a.store);
  const db = new Database(path);
  const { id, body } = db.query("SELECT id, body FROM segments").get() as { id: number; body: Uint8Array };
  const bad = new Uint8Array(body);
  bad[bad.length - 50]! ^= 0x10;
  db.query("UPDATE segments SET body = ? WHERE id = ?").run(bad, id);
  db.close();
  expect(() => open(path)).toThrow(new RegExp(`is corrupt or not a ringq database \\(segment ${id}: checksum mismatch\\)`));
});

test("a segment whose CRC holds but which repeats a job, or has a state no release writes, is refused as corrupt", async () => {
  const { SegmentWriter } = await import("../../src/persistence/segments.ts");
  for (const bad of ["twice", "state"] as const) {
    const path = tmpPath();
    const a = open(path);
    const id = a.engine.push({ queue: "q", data: payload(1, 10) });
    a.store.commit();
    const job = a.engine.getJob(id)!;
    close(a.store);
    // A well-formed segment (valid CRC) that no journal writes.
    const w = new SegmentWriter();
    if (bad === "twice") {
      w.addJob(job, 1);
      w.addJob(job, 1);
    } else {
      job.state = 250 as JobState;
      w.addJob(job, 1);
    }
    const db = new Database(path);
    db.query("INSERT INTO segments (id, body) VALUES (?, ?)").run(1_000, w.finish().slice());
    db.close();
    const before = metaRows(path);
    expect(() => open(path)).toThrow(/is corrupt or not a ringq database \(restore: job \d+ (twice|in unknown state 250)\)/);
    // The store the failed open left behind is closed after the test: it must write nothing.
    for (const s of stores()) s.close();
    expect(metaRows(path)).toEqual(before);
  }
});
