// Job option values against a real server process, each checked by what it does: deduplication
// with a ttl (BullMQ's debounce: one job per window, then a new one) with the `deduplicated` and
// `debounced` events, and removeOnComplete / removeOnFail as a count or {age, count} (BullMQ's
// KeepJobs, age in seconds).

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Job, Queue, QueueEvents, Worker } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const conn = () => ({ port: server.port });
const sleep = Bun.sleep;


/** Run every job of `q` with `processor` until `count` have finished. */
async function runAll(q: Queue, count: number, processor: (job: Job) => Promise<unknown>): Promise<void> {
  let finished = 0;
  const worker = new Worker(q.name, processor, { connection: conn(), concurrency: 4, drainDelay: 0.2 });
  worker.on("completed", () => finished++);
  worker.on("failed", () => finished++);
  try {
    await until(() => finished === count, `${count} jobs to finish`);
  } finally {
    await worker.close();
  }
}

describe("deduplication", () => {
  test("with a ttl: adds inside the window return the first job and emit deduplicated/debounced; after it, a new job", async () => {
    const q = new Queue(`dedup-${++n}`, { connection: conn() });
    const events = new QueueEvents(q.name, { connection: conn() });
    const deduplicated: unknown[] = [];
    const debounced: unknown[] = [];
    events.on("deduplicated", (e) => deduplicated.push(e));
    events.on("debounced", (e) => debounced.push(e));
    await events.waitUntilReady();
    try {
      const first = await q.add("x", 1, { deduplication: { id: "key", ttl: 1000 } });
      const second = await q.add("x", 2, { deduplication: { id: "key", ttl: 1000 } });
      const [third] = await q.addBulk([{ name: "x", data: 3, opts: { deduplication: { id: "key", ttl: 1000 } } }]);
      expect(second.id).toBe(first.id);
      expect(third!.id).toBe(first.id);
      expect(await q.getJobCounts("waiting")).toEqual({ waiting: 1 });
      await until(() => deduplicated.length === 2, "two deduplicated events");
      expect(deduplicated[0]).toEqual({ jobId: first.id, deduplicationId: "key" });
      expect(debounced[0]).toEqual({ jobId: first.id, debounceId: "key" });
      // The window lasts its ttl even though the first job is still waiting.
      await sleep(1100);
      const later = await q.add("x", 4, { deduplication: { id: "key", ttl: 1000 } });
      expect(later.id).not.toBe(first.id);
      expect(await q.getJobCounts("waiting")).toEqual({ waiting: 2 });
    } finally {
      await Promise.all([events.close(), q.close()]);
    }
  });

  test("without a ttl: the window lasts while the job is unfinished", async () => {
    const q = new Queue(`dedup-${++n}`, { connection: conn() });
    try {
      const first = await q.add("x", 1, { deduplication: { id: "k" } });
      expect((await q.add("x", 2, { deduplication: { id: "k" } })).id).toBe(first.id);
      await runAll(q, 1, async () => "ok");
      expect((await q.add("x", 3, { deduplication: { id: "k" } })).id).not.toBe(first.id);
    } finally {
      await q.close();
    }
  });
});

describe("retention: removeOnComplete and removeOnFail", () => {
  test("a count keeps the queue's last n records; true keeps none", async () => {
    const q = new Queue(`keep-${++n}`, { connection: conn() });
    try {
      for (let i = 0; i < 5; i++) await q.add("ok", i, { removeOnComplete: 2 });
      for (let i = 0; i < 4; i++) await q.add("bad", i, { removeOnFail: 3 });
      await q.add("ok", 99, { removeOnComplete: true });
      await runAll(q, 10, async (job) => {
        if (job.name === "bad") throw new Error("no");
        return job.data;
      });
      expect((await q.getCompleted()).map((j) => j.data).sort()).toEqual([3, 4]);
      expect((await q.getFailed()).length).toBe(3);
    } finally {
      await q.close();
    }
  });

  test("{age, count}: age is in seconds, as in BullMQ", async () => {
    const q = new Queue(`keep-${++n}`, { connection: conn() });
    try {
      await q.add("short", 1, { removeOnComplete: { age: 3 } });
      await q.add("long", 2, { removeOnComplete: { age: 3600, count: 10 } });
      await runAll(q, 2, async () => "done");
      expect((await q.getCompleted()).map((j) => j.name).sort()).toEqual(["long", "short"]);
      await until(async () => (await q.getCompleted()).length === 1, "the 3 s record to go", 8_000);
      expect((await q.getCompleted())[0]!.name).toBe("long");
    } finally {
      await q.close();
    }
  });
});

describe("logs and retries", () => {
  test("keepLogs keeps the job's last n lines; addJobLog(id, line, keepLogs) trims after adding", async () => {
    const q = new Queue(`logs-${++n}`, { connection: conn() });
    try {
      const job = await q.add("x", 1, { keepLogs: 2 });
      for (const line of ["a", "b", "c", "d"]) await job.log(line);
      expect((await job.getLogs()).map((l) => l.message)).toEqual(["c", "d"]);
      const other = await q.add("y", 1);
      for (const line of ["a", "b", "c"]) await q.addJobLog(other.id, line);
      await q.addJobLog(other.id, "d", 1);
      expect(await q.getJobLogs(other.id)).toEqual({ logs: ["d"], count: 1 });
      await expect(q.add("x", 1, { keepLogs: 5000 })).rejects.toThrow(/keep_logs/);
    } finally {
      await q.close();
    }
  });

  test("backoff jitter draws each retry's delay from [delay x (1 - jitter), delay]", async () => {
    const q = new Queue(`jitter-${++n}`, { connection: conn() });
    try {
      const count = 8;
      for (let i = 0; i < count; i++) await q.add("x", i, { attempts: 2, backoff: { type: "fixed", delay: 10_000, jitter: 1 } });
      const pulled = await q.connection.request("PULLB", { queue: q.name, count, timeout: 0 });
      const failedAt = Date.now();
      await Promise.all((pulled.jobs as { id: number }[]).map((j) => q.connection.request("FAIL", { id: j.id, error: "again" })));
      const delays = await Promise.all(
        (pulled.jobs as { id: number }[]).map(async (j) => ((await q.connection.request("GETJOB", { id: j.id })).job.run_at as number) - failedAt),
      );
      for (const d of delays) expect(d).toBeLessThanOrEqual(10_000 + 1_000);
      // Without jitter every delay would be 10 s; with jitter 1 they spread below it.
      expect(delays.filter((d) => d < 9_000).length).toBeGreaterThan(0);
      expect(new Set(delays).size).toBeGreaterThan(1);
    } finally {
      await q.close();
    }
  });
});
