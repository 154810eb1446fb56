// The reply writer's job map is hand-specialised for speed; it must say exactly what the
// field table (jobToPlain, used for JSON) says, for plain jobs and jobs with every option set,
// in every state that changes a field (waiting, active with a lock token, completed).
import { expect, test } from "bun:test";
import { unpack } from "msgpackr";
import { Engine } from "../../src/engine/engine.ts";
import type { Job } from "../../src/engine/job.ts";
import { jobFields, jobToPlain } from "../../src/protocol/job-wire.ts";
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
  expect(Object.keys(b)).toEqual(jobFields.map(([n]) => n)); // same order as the table
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
  for (const id of [plainId, fullId, delayedId]) expectSame(e.getJob(id)!);

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
