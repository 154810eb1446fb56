// A waiting job is most of the server's memory: JSC sizes objects in steps (16 own fields: 160
// bytes, 17-20: 224), so the Job class keeps at most 16 own fields. Adding one means moving
// another behind an accessor (see job.ts) or accepting 64 more bytes per job: this test makes
// that a decision, not an accident.
import { expect, test } from "bun:test";
import { Engine } from "../../src/engine/engine.ts";
import { encodeValue } from "../../src/protocol/msgpack.ts";

test("a Job has at most 16 own fields, and a plain or named job allocates no extra record", () => {
  const e = new Engine({ now: () => 1 });
  const plain = e.getJob(e.push({ queue: "q", data: encodeValue(1) }))!;
  const named = e.getJob(e.push({ queue: "q", data: encodeValue(1), name: "n" }))!;
  expect(Object.keys(plain).length).toBeLessThanOrEqual(16);
  expect(plain.x).toBeNull();
  expect(named.x).toBeNull();
  expect(named.name).toBe("n");
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
