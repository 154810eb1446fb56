// A waiting job is most of the server's memory: JSC sizes objects in steps (11-12 own fields:
// 112 bytes, 13-16: 160), so the Job class keeps at most 12 own fields. Adding one means moving
// another behind an accessor (see model.ts) or accepting 48 more bytes per job: this test makes
// that a decision, not an accident.
import { expect, test } from "bun:test";
import { Engine } from "../../src/engine/engine.ts";
import { encodeValue } from "../../src/protocol/msgpack.ts";

test("a Job has at most 12 own fields, and a plain or named waiting job allocates no extra record", () => {
  const e = new Engine({ now: () => 1 });
  const plain = e.getJob(e.push({ queue: "q", data: encodeValue(1) }))!;
  const named = e.getJob(e.push({ queue: "q", data: encodeValue(1), name: "n" }))!;
  expect(Object.keys(plain).length).toBeLessThanOrEqual(12);
  for (const j of [plain, named]) {
    expect(j.x).toBeNull();
    expect(j.r).toBeNull();
    expect([j.runAt, j.startedAt, j.lockToken, j.lastHeartbeat, j.attempts]).toEqual([1, 0, 0, 0, 0]);
  }
  expect(named.name).toBe("n");
});

test("the run record comes with the first delivery or a delay, and keeps what it is given", () => {
  let now = 10;
  const e = new Engine({ now: () => now });
  const delayed = e.getJob(e.push({ queue: "q", data: encodeValue(1), delay: 5 }))!;
  expect(delayed.r).not.toBeNull();
  expect(delayed.runAt).toBe(15);
  const plain = e.getJob(e.push({ queue: "q", data: encodeValue(1) }))!;
  now = 20;
  e.tick(now);
  const [first, second] = e.pull("q", 2);
  expect([first!.id, second!.id].sort()).toEqual([delayed.id, plain.id].sort());
  expect(plain.r).not.toBeNull();
  expect(plain.startedAt).toBe(20);
  expect(plain.lastHeartbeat).toBe(20);
  expect(plain.lockToken).toBeGreaterThan(0);
  expect(plain.runAt).toBe(10);
  e.failAttempt(plain.id, plain.lockToken, "boom");
  expect(plain.attempts).toBe(1);
  expect(plain.lockToken).toBe(0);
});

test("finishedAt shares the deadline slot: 0 until the job finishes, its time after", () => {
  let now = 100;
  const e = new Engine({ now: () => now });
  const id = e.push({ queue: "q", data: encodeValue(1), delay: 50 });
  const job = e.getJob(id)!;
  expect(job.finishedAt).toBe(0); // delayed: deadline is its run-at, not a finish time
  now = 200;
  e.tick(now);
  e.pull("q", 1);
  expect(job.finishedAt).toBe(0); // active: deadline is its lease end
  now = 300;
  e.complete(id, undefined, null);
  expect(job.finishedAt).toBe(300);
});
