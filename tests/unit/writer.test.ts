// The reply writer's job map is hand-specialised for speed; it must say exactly what the
// field table (jobToPlain, used for JSON) says, for plain jobs and jobs with every option set,
// in every state that changes a field (waiting, active with a lock token, completed).
import { expect, test } from "bun:test";
import { unpack } from "msgpackr";
import { Engine } from "../../src/engine/engine.ts";
import type { Job } from "../../src/engine/model.ts";
import { jobFieldNames, jobToPlain, SparseJobs } from "../../src/protocol/job-wire.ts";
import { encodeValue } from "../../src/protocol/msgpack.ts";
import { ReplyWriter } from "../../src/protocol/writer.ts";

function binary(job: Job): unknown {
  const w = new ReplyWriter();
  w.frame({ ok: true, job });
  return (unpack(w.buf.subarray(4, w.pos)) as { job: unknown }).job;
}

function text(job: Job): unknown {
  const w = new ReplyWriter();
  w.line({ ok: true, job });
  return JSON.parse(new TextDecoder().decode(w.buf.subarray(0, w.pos))).job;
}

function expectSame(job: Job): void {
  const plain = jobToPlain(job);
  const b = binary(job) as Record<string, unknown>;
  expect(b).toEqual(plain);
  expect(Object.keys(b)).toEqual([...jobFieldNames]); // same order as the table
  expect(text(job)).toEqual(JSON.parse(JSON.stringify(plain)));
}

test("the specialised job encoder agrees with the field table in every state", () => {
  let now = 1_700_000_000_000;
  const e = new Engine({ now: () => now });
  const plainId = e.push({ queue: "q", data: encodeValue({ n: 1, s: "ü" }) });
  const fullId = e.push({
    queue: "qué-🙂", data: encodeValue([1, 2, 3]), priority: -5, ttl: 60_000, timeout: 5_000,
    maxAttempts: 7, backoff: 250, backoffFixed: true, uniqueKey: "u-1", customId: "order-42",
    tags: ["a", "b"], lifo: true, removeOnComplete: false, removeOnFail: true, stallTimeout: 9_000,
    groupId: "g1",
  });
  const delayedId = e.push({ queue: "q", data: encodeValue(null), delay: 1_000 });
  // Kind options without any rare field (no JobExtra): the writer's field-by-field path with x null.
  const optedId = e.push({ queue: "o", data: encodeValue(2), removeOnComplete: true, lifo: true, timeout: 30, keepCompletedCount: 5 });
  expect(e.getJob(optedId)!.x).toBeNull();
  for (const id of [plainId, fullId, delayedId, optedId]) expectSame(e.getJob(id)!);

  now += 10;
  const pulled = [...e.pull("q", 1), ...e.pull("qué-🙂", 1)];
  expect(pulled.length).toBe(2);
  for (const j of pulled) {
    expect(j.lockToken).toBeGreaterThan(0);
    expectSame(j);
    expect((binary(j) as { lock_token: string }).lock_token).toBe(String(j.lockToken));
  }
  now += 10;
  e.complete(plainId, undefined, encodeValue({ done: true }));
  expectSame(e.getJob(plainId)!);
});

test("lock tokens of every length encode as their decimal string", () => {
  const e = new Engine({ now: () => 1 });
  const w = new ReplyWriter();
  for (const token of [1, 9, 10, 99, 100, 123456789, 2 ** 31, 2 ** 53 - 1]) {
    const id = e.push({ queue: "t", data: encodeValue(0) });
    const job = e.pull("t", 1)[0]!;
    expect(job.id).toBe(id);
    job.lockToken = token;
    w.reset();
    w.frame({ job });
    expect((unpack(w.buf.subarray(4, w.pos)) as { job: { lock_token: string } }).job.lock_token).toBe(String(token));
  }
});

test("sparse jobs (PULLB EXT) are the field table without null and false fields, in both modes", () => {
  let now = 1_700_000_000_000;
  const e = new Engine({ now: () => now });
  const ids = [
    e.push({ queue: "s", data: encodeValue({ a: 1 }) }),
    e.push({ queue: "s", data: encodeValue("x".repeat(300)), name: "n".repeat(40), ttl: 60_000, timeout: 6, uniqueKey: "u", customId: "c", tags: ["t"], lifo: true, removeOnComplete: true, removeOnFail: true, groupId: "g", maxAttempts: 4, backoff: 10 }),
    // Kind options and no JobExtra.
    e.push({ queue: "s", data: encodeValue(3), removeOnFail: true, keepCompletedAge: 60_000, timeout: 9 }),
  ];
  now += 5;
  const jobs = e.pull("s", 3);
  expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
  const w = new ReplyWriter();
  w.frame({ ok: true, jobs: new SparseJobs(jobs) });
  const got = (unpack(w.buf.subarray(4, w.pos)) as { jobs: Record<string, unknown>[] }).jobs;
  const want = jobs.map((j) => {
    const o = jobToPlain(j);
    for (const k of Object.keys(o)) if (o[k] === null || o[k] === false) delete o[k];
    return o;
  });
  expect(got).toEqual(want);
  expect(Object.keys(got[jobs.findIndex((j) => j.id === ids[0])]!).length).toBeLessThan(jobFieldNames.length / 2 + 2);
  const t = new ReplyWriter();
  t.line({ ok: true, jobs: new SparseJobs(jobs) });
  expect(JSON.parse(new TextDecoder().decode(t.buf.subarray(0, t.pos))).jobs).toEqual(JSON.parse(JSON.stringify(want)));
});

test("a job map written at the very end of a small buffer is never cut (strings use the reserved room)", () => {
  const e = new Engine({ now: () => 1 });
  // Many short tags: each string ensures room for itself only; together they eat the room
  // reserved up front for the fixed-size fields that follow them.
  const tags = Array.from({ length: 60 }, (_, i) => `tag-${i}-xxxxx`);
  const job = e.getJob(e.push({ queue: "edge", data: encodeValue(1), name: "é".repeat(20), customId: "c", uniqueKey: "k".repeat(40), groupId: "g", tags }))!;
  const want = jobToPlain(job);
  for (let free = 200; free < 1600; free++) {
    const w = new ReplyWriter(); // 4096 bytes: fill it so the job starts with `free` bytes left
    w.bytes(new Uint8Array(w.buf.length - free));
    const start = w.pos;
    w.frame({ job });
    expect((unpack(w.buf.subarray(start + 4, w.pos)) as { job: unknown }).job).toEqual(want);
  }
});
