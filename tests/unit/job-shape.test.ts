// A waiting job is most of the server's memory: JSC sizes objects in steps (8 own fields: 80
// bytes, 9-12: 112, 13-16: 160), so the Job class keeps at most 8 own fields. Adding one means
// moving another behind an accessor (see model.ts) or accepting 32 more bytes per job: this test
// makes that a decision, not an accident.
import { expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { jobKindsPerNameMax, jobKindsPerQueueMax } from "../../src/constants.ts";
import { Engine } from "../../src/engine/engine.ts";
import { copyKind, Job, KindPolicy, type KindSpec, kindPolicyFields, kindSpec, QueueState } from "../../src/engine/model.ts";
import { encodeValue } from "../../src/protocol/msgpack.ts";

test("a Job has at most 8 own fields, and a plain, named or client-made waiting job allocates no extra record", () => {
  const e = new Engine({ now: () => 1 });
  const plain = e.getJob(e.push({ queue: "q", data: encodeValue(1) }))!;
  const named = e.getJob(e.push({ queue: "q", data: encodeValue(1), name: "n" }))!;
  // What the shipped client sends for queue.add(name, data): BullMQ's one attempt.
  const client = e.getJob(e.push({ queue: "q", data: encodeValue(1), name: "n", maxAttempts: 1 }))!;
  // And with the options BullMQ users give most: what happens to the record, a fixed backoff.
  const options = {
    queue: "q", data: encodeValue(1), name: "n", maxAttempts: 5, backoff: 1000, backoffFixed: true, removeOnComplete: true,
    removeOnFail: false, keepFailedCount: 100, timeout: 60_000, lifo: true,
  };
  const opted = e.getJob(e.push(options))!;
  expect(Object.keys(plain).length).toBeLessThanOrEqual(8);
  for (const j of [plain, named, client, opted]) {
    expect(j.x).toBeNull();
    expect(j.r).toBeNull();
    expect([j.runAt, j.startedAt, j.lockToken, j.lastHeartbeat, j.attempts, j.deadline]).toEqual([1, 0, 0, 0, 0, 0]);
  }
  expect([named.name, client.name, plain.name]).toEqual(["n", "n", null]);
  expect([named.maxAttempts, client.maxAttempts]).toEqual([3, 1]);
  const k = opted.k.p;
  expect([k.maxAttempts, k.backoff, k.backoffFixed, k.removeOnComplete, k.removeOnFail, k.keepFailedCount, k.timeout, k.lifo]).toEqual([5, 1000, true, true, false, 100, 60_000, true]);
  // The next job pushed with the same options shares the kind.
  expect(e.getJob(e.push({ ...options, data: encodeValue(2) }))!.k).toBe(opted.k);
});

test("a waiting job takes 80 bytes of heap besides its payload", () => {
  const q = new QueueState("m");
  const data = new Uint8Array(0);
  const n = 100_000;
  Bun.gc(true);
  const h0 = heapStats().heapSize;
  const jobs = Array.from({ length: n }, (_, i) => new Job(i + 1, q, data, 0, 0, kindSpec({ name: "email" })));
  Bun.gc(true);
  const perJob = (heapStats().heapSize - h0) / n;
  // 80 for the Job, 8 for the array slot holding it, 8 for the arena's record header and
  // 8 for its owner slot: 104; a ninth field would make it 136. (Only the upper bound is
  // asserted: garbage of the tests before this one, collected in between, can lower the figure.)
  expect(perJob).toBeLessThan(120);
  expect(jobs.length).toBe(n);
});

test("jobs share kinds: one per name, priority and retry policy in each queue, bounded", () => {
  const e = new Engine({ now: () => 1 });
  const a = e.getJob(e.push({ queue: "q", data: encodeValue(1), name: "a", priority: 5, maxAttempts: 1, backoff: 100 }))!;
  const b = e.getJob(e.push({ queue: "q", data: encodeValue(2), name: "a", priority: 5, maxAttempts: 1, backoff: 100 }))!;
  const c = e.getJob(e.push({ queue: "q", data: encodeValue(3), name: "a", priority: 6, maxAttempts: 1, backoff: 100 }))!;
  const other = e.getJob(e.push({ queue: "other", data: encodeValue(4), name: "a", priority: 5, maxAttempts: 1, backoff: 100 }))!;
  expect(a.k).toBe(b.k);
  expect(c.k).not.toBe(a.k);
  expect(other.k).not.toBe(a.k);
  expect([a.priority, a.maxAttempts, a.backoff, a.stallTimeout, a.queue.name]).toEqual([5, 1, 100, 30_000, "q"]);
  // Changing one job's priority moves it to another kind and leaves its neighbours alone.
  e.changePriority(b, 6);
  expect(b.k).toBe(c.k);
  expect([a.priority, b.priority]).toEqual([5, 6]);
  // A producer naming every job differently: the table never holds more than its bound; when
  // full it starts again, and every job still has its own name and options.
  const q = a.queue;
  const plainKind = e.getJob(e.push({ queue: "q", data: encodeValue(0) }))!.k;
  const ids: number[] = [];
  for (let i = 0; i < jobKindsPerQueueMax + 500; i++) {
    ids.push(e.push({ queue: "q", data: encodeValue(i), name: `n${i}`, maxAttempts: 2 }));
    expect(q.kindsKept).toBeLessThanOrEqual(jobKindsPerQueueMax);
  }
  expect(q.kindTablesForgotten).toBe(1);
  ids.forEach((id, i) => {
    const j = e.getJob(id)!;
    expect([j.name, j.maxAttempts]).toEqual([`n${i}`, 2]);
  });
  // After the restart, new names are shared again (before it, a full table gave each of their
  // jobs a kind of its own for as long as the queue lived), and so are the old ones, anew; a
  // push of another name between the two makes each one a lookup in the table.
  const kindOf = (name?: string): unknown => e.getJob(e.push({ queue: "q", data: encodeValue(0), name, maxAttempts: 2 }))!.k;
  const last = e.getJob(ids[ids.length - 1]!)!;
  kindOf("n1");
  expect(kindOf(last.name!)).toBe(last.k);
  const first = kindOf("n0");
  kindOf("n1");
  expect(kindOf("n0")).toBe(first);
  // The default kind and the policy in use are kept across the restart, not made twice.
  expect((first as typeof last.k).p).toBe(last.k.p);
  expect(e.getJob(e.push({ queue: "q", data: encodeValue(0) }))!.k).toBe(plainKind);
  // A restart met by an unnamed job: its kind goes after the default one, and is shared.
  const r = e.getJob(e.push({ queue: "r", data: encodeValue(0) }))!.queue;
  for (let i = 0; i < jobKindsPerQueueMax - 1; i++) e.push({ queue: "r", data: encodeValue(i), name: `n${i}` });
  expect(r.kindTablesForgotten).toBe(0);
  const unnamed = e.getJob(e.push({ queue: "r", data: encodeValue(0), priority: 7 }))!;
  expect([r.kindTablesForgotten, r.kindsKept, unnamed.priority, unnamed.name]).toEqual([1, 2, 7, null]);
  e.push({ queue: "r", data: encodeValue(0), name: "n0" });
  expect(e.getJob(e.push({ queue: "r", data: encodeValue(0), priority: 7 }))!.k).toBe(unnamed.k);
  // One name at ever new priorities: at most jobKindsPerNameMax of them are kept.
  const before = e.getJob(e.push({ queue: "p", data: encodeValue(0), name: "x" }))!.queue.kindsKept;
  const policy = e.getJob(e.push({ queue: "p", data: encodeValue(0), name: "x", priority: 99 }))!.k.p;
  for (let i = 1; i <= 50; i++) {
    const j = e.getJob(e.push({ queue: "p", data: encodeValue(i), name: "x", priority: i }))!;
    expect(j.priority).toBe(i);
    // A kind of its own still shares the queue's policy: 64 bytes more for the job, not 224.
    expect(j.k.p).toBe(policy);
  }
  expect(e.getJob(e.push({ queue: "p", data: encodeValue(0), name: "x" }))!.queue.kindsKept).toBe(before + jobKindsPerNameMax - 1);
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

test("every KindSpec field reaches the kind: compared, copied back, and counted in plainPolicy", () => {
  const q = new QueueState("k");
  const base = kindSpec();
  const other = (v: unknown): unknown => (typeof v === "boolean" ? !v : typeof v === "number" ? v + 7 : "a name");
  const plainFields = new Set<string>(kindPolicyFields);
  for (const key of Object.keys(base) as (keyof KindSpec)[]) {
    const changed = { ...base, [key]: other(base[key]) } as KindSpec;
    const policy = new KindPolicy(changed);
    const kind = q.kindOf(changed);
    // A kind made for the changed spec gives that spec back, field for field.
    expect([key, copyKind(kind, kindSpec())]).toEqual([key, changed]);
    // And it is not the plain kind: the changed field is compared.
    expect([key, kind === q.kindOf(base)]).toEqual([key, false]);
    if (key !== "name" && key !== "priority") expect([key, new KindPolicy(base).is(changed), policy.is(changed)]).toEqual([key, false, true]);
    expect([key, policy.plainPolicy]).toEqual([key, !plainFields.has(key)]);
  }
});
