// Rate limits and global concurrency in BullMQ's terms against a real server: the Queue's
// set/get/remove methods on RATELIMIT and SETCONCURRENCY (read back from LISTQUEUES), the
// Worker's `limiter` (set when the queue has none), Worker.rateLimit(ms) with RateLimitError
// (this worker held, the job back with no attempt counted), isMaxed, and the refusals where the
// server cannot say what BullMQ would (a rate that is not whole jobs a second, a queue hold).

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Queue, RateLimitError, RingqError, Worker } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const sleep = Bun.sleep;

function queue(): Queue {
  return new Queue(`wl-${++n}`, { connection: { port: server.port } });
}

/** The queue's row of LISTQUEUES, as the server reports it. */
async function row(q: Queue): Promise<Record<string, unknown>> {
  const reply = await q.connection.request("LISTQUEUES", { limit: 1000 });
  return (reply.queues as Record<string, unknown>[]).find((r) => r.name === q.name)!;
}


describe("Queue: global rate limit and concurrency", () => {
  test("set, read back (as it was set) and remove; a window of any length; bad values refused by name", async () => {
    const q = queue();
    try {
      await q.add("x", 1);
      expect(await q.getGlobalRateLimit()).toBeNull();
      await q.setGlobalRateLimit(600, 60_000); // 10 a second, 600 at once
      expect(await q.getGlobalRateLimit()).toEqual({ max: 600, duration: 60_000 });
      expect((await row(q)).rate_limit).toBe(10);
      // One job every 3 s: the bucket holds one, the next comes 3 s later.
      await q.setGlobalRateLimit(1, 3000);
      expect(await q.getGlobalRateLimit()).toEqual({ max: 1, duration: 3000 });
      await q.add("y", 2);
      const first = await q.connection.request("PULLB", { queue: q.name, count: 2, timeout: 0 });
      expect(first.jobs.length).toBe(1);
      expect((await q.connection.request("PULLB", { queue: q.name, count: 2, timeout: 0 })).jobs.length).toBe(0);
      await q.connection.request("ACKB", { ids: first.jobs.map((j: { id: number }) => j.id) });
      await expect(q.setGlobalRateLimit(0, 1000)).rejects.toThrow(/max must be an integer/);
      await q.removeGlobalRateLimit();
      expect(await q.getGlobalRateLimit()).toBeNull();

      expect(await q.getGlobalConcurrency()).toBeNull();
      await q.setGlobalConcurrency(3);
      expect(await q.getGlobalConcurrency()).toBe(3);
      await expect(q.setGlobalConcurrency(0)).rejects.toThrow(/concurrency must be an integer/);
      // A per-group limit (ringq's group_id) survives removing the global one.
      await q.connection.request("SETCONCURRENCY", { queue: q.name, group_concurrency: 4 });
      await q.removeGlobalConcurrency();
      expect(await q.getGlobalConcurrency()).toBeNull();
      expect((await row(q)).group_concurrency).toBe(4);
      // A queue the server has never seen has neither.
      const fresh = new Queue(`wl-never-${n}`, { connection: q.connection });
      expect(await fresh.getGlobalConcurrency()).toBeNull();
      expect(await fresh.isMaxed()).toBe(false);
    } finally {
      await q.close();
    }
  });

  test("the rate limit holds deliveries: after the burst, about `rate` jobs a second", async () => {
    const q = queue();
    const done: number[] = [];
    try {
      await q.setGlobalRateLimit(10, 1000); // 10 a second, 10 at once
      await q.addBulk(Array.from({ length: 25 }, (_, i) => ({ name: "x", data: i })));
      const worker = new Worker(q.name, async (job) => void done.push(job.data), { connection: { port: server.port }, concurrency: 50, drainDelay: 0.2 });
      try {
        await until(() => done.length >= 10, "the burst");
        const burstAt = Date.now();
        await sleep(300);
        // 300 ms at 10 a second: about 3 more, never the 15 waiting (slack for a slow machine
        // only makes this bound looser, not tighter).
        const elapsed = (Date.now() - burstAt) / 1000;
        expect(done.length).toBeLessThanOrEqual(10 + Math.ceil(elapsed * 10) + 1);
        await until(() => done.length === 25, "every job in the end", 10_000);
      } finally {
        await worker.close();
      }
    } finally {
      await q.close();
    }
  });

  test("global concurrency caps active jobs across workers; isMaxed says when it is reached", async () => {
    const q = queue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let running = 0;
    let peak = 0;
    const processor = async () => {
      peak = Math.max(peak, ++running);
      await gate;
      running--;
    };
    await q.setGlobalConcurrency(2);
    const workers = [1, 2].map(() => new Worker(q.name, processor, { connection: { port: server.port }, concurrency: 5, drainDelay: 0.2 }));
    try {
      await q.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: "x", data: i })));
      await until(async () => (await q.getActiveCount()) === 2, "two active");
      await sleep(200);
      expect(peak).toBe(2);
      expect(await q.isMaxed()).toBe(true);
      release();
      await until(async () => (await q.getCompletedCount()) === 6, "all completed");
      expect(peak).toBe(2);
      expect(await q.isMaxed()).toBe(false);
      // With a rate limit the server cannot say whether the queue is held: refused.
      await q.setGlobalRateLimit(5, 1000);
      await expect(q.isMaxed()).rejects.toThrow(/isMaxed: this queue has a rate limit/);
    } finally {
      release();
      for (const w of workers) await w.close();
      await q.close();
    }
  });

  test("rateLimit and getRateLimitTtl are refused: the server cannot hold a queue or say its tokens", async () => {
    const q = queue();
    try {
      expect(() => (q as unknown as { rateLimit(ms: number): void }).rateLimit(1000)).toThrow(/Queue.rateLimit: the server cannot hold a queue/);
      expect(() => (q as unknown as { getRateLimitTtl(): void }).getRateLimitTtl()).toThrow(/Queue.getRateLimitTtl: the server does not report/);
    } finally {
      await q.close();
    }
  });
});

describe("Worker: limiter, rateLimit and RateLimitError", () => {
  test("limiter sets the queue's rate limit when it has none; one already set wins", async () => {
    const q = queue();
    const other = queue();
    const done: number[] = [];
    const w1 = new Worker(q.name, async (job) => void done.push(job.data), { connection: { port: server.port }, limiter: { max: 5, duration: 1000 }, drainDelay: 0.2 });
    await other.setGlobalRateLimit(50, 1000);
    const w2 = new Worker(other.name, async () => {}, { connection: { port: server.port }, limiter: { max: 5, duration: 1000 }, drainDelay: 0.2 });
    try {
      await q.add("x", 1);
      await until(() => done.length === 1, "a job through the limited worker");
      expect(await q.getGlobalRateLimit()).toEqual({ max: 5, duration: 1000 });
      await (await other.add("x", 1)).waitUntilFinished(undefined, 5000);
      expect(await other.getGlobalRateLimit()).toEqual({ max: 50, duration: 1000 });
    } finally {
      await w1.close();
      await w2.close();
      await q.close();
      await other.close();
    }
    expect(() => new Worker("x", async () => {}, { autorun: false, connection: { port: 1 }, limiter: { max: 1, duration: 0 } })).toThrow(
      /Worker: limiter: duration must be an integer number of ms/,
    );
    expect(() => new Worker("x", async () => {}, { autorun: false, connection: { port: 1 }, limiter: { max: 1, duration: 1000, groupKey: "c" } as never })).toThrow(
      /limiter.groupKey: per-group rate limits are not supported/,
    );
  });

  test("rateLimit(ms) holds this worker; RateLimitError hands the job back with no attempt counted", async () => {
    const q = queue();
    const starts: { data: string; at: number }[] = [];
    const worker: Worker = new Worker(q.name, async (job) => {
      starts.push({ data: job.data, at: Date.now() });
      if (job.data === "first" && starts.length === 1) {
        await worker.rateLimit(600);
        throw Worker.RateLimitError();
      }
      return job.data;
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      expect(Worker.RateLimitError()).toBeInstanceOf(RateLimitError);
      const first = await q.add("x", "first", { attempts: 1 });
      await until(() => starts.length === 1, "first run");
      const heldAt = starts[0]!.at;
      await until(async () => (await first.getState()) === "delayed", "the job back, delayed until the hold ends");
      const second = await q.add("x", "second");
      expect(await first.waitUntilFinished(undefined, 5000)).toBe("first");
      expect(await second.waitUntilFinished(undefined, 5000)).toBe("second");
      // Nothing started on this worker during the hold, and the retry counted no attempt
      // (attempts: 1 would otherwise have failed the job).
      for (const s of starts.slice(1)) expect(s.at - heldAt).toBeGreaterThanOrEqual(590);
      expect((await q.getJob(first.id))!.attemptsMade).toBe(0);
      await expect(worker.rateLimit(-1)).rejects.toThrow(/Worker.rateLimit: ms must be a number/);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("maxStalledCount: 2 is what the server does; any other value is refused by name", async () => {
    const ok = new Worker("x", async () => {}, { autorun: false, connection: { port: 1 }, maxStalledCount: 2 });
    await ok.close();
    let err: unknown;
    try {
      new Worker("x", async () => {}, { autorun: false, connection: { port: 1 }, maxStalledCount: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingqError);
    expect((err as Error).message).toMatch(/option "maxStalledCount": the server recovers a job from 2 stalls/);
  });
});
