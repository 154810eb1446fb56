// QueueEvents and job.waitUntilFinished against a real server process: events of jobs run by a
// worker on another connection, results and failure reasons, and only events after start-up.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { pack, unpack } from "msgpackr";
import * as net from "node:net";
import { JobFailedError, Queue, QueueEvents, TimeoutError, Worker } from "../../src/client/index.ts";
import { serverPerFile, startServer, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const sleep = Bun.sleep;


describe("QueueEvents", () => {
  for (const mode of ["push", "poll"] as const) {
  test(`${mode}: completed, failed, progress and active of any job, with results and reasons`, async () => {
    const name = `e-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    // A job finished before QueueEvents started is history, not an event.
    const old = await q.add("old", 0);
    await q.connection.request("PULLB", { queue: name, count: 1, timeout: 0 });
    await q.connection.request("ACK", { id: Number(old.id), result: "old" });

    const events = new QueueEvents(name, { connection: { port: server.port }, pollMs: 20, mode });
    const completed: { jobId: string; returnvalue: unknown }[] = [];
    const failed: { jobId: string; failedReason: string }[] = [];
    const progress: { jobId: string; data: unknown }[] = [];
    const active: string[] = [];
    events.on("completed", (e) => completed.push(e));
    events.on("failed", (e) => failed.push(e));
    events.on("progress", (e) => progress.push(e));
    events.on("active", (e) => active.push(e.jobId));
    await events.waitUntilReady();
    expect(events.transport).toBe(mode);

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const worker = new Worker(
      name,
      async (job) => {
        if (job.data === "slow") {
          await job.updateProgress(42);
          await gate;
          return "slow done";
        }
        if (job.data === "bad") throw new Error("bad input");
        return { echo: job.data };
      },
      { connection: { port: server.port }, concurrency: 4, drainDelay: 0.2 },
    );
    try {
      const slow = await q.add("s", "slow");
      await until(() => progress.some((p) => p.jobId === slow.id), "progress of the slow job");
      expect(progress.find((p) => p.jobId === slow.id)!.data).toBe(42);
      expect(active).toContain(slow.id);

      const ok = await q.add("o", "fine");
      const bad = await q.add("b", "bad", { attempts: 1 });
      release();
      await until(() => completed.length === 2 && failed.length === 1, "2 completed and 1 failed event");
      expect(completed.find((c) => c.jobId === ok.id)!.returnvalue).toEqual({ echo: "fine" });
      expect(completed.find((c) => c.jobId === slow.id)!.returnvalue).toBe("slow done");
      expect(failed).toEqual([{ jobId: bad.id, failedReason: "bad input", prev: "active" } as never]);
      expect(completed.some((c) => c.jobId === old.id)).toBe(false);

      // Each job is announced once, however many polls see it.
      await sleep(100);
      expect(completed.length).toBe(2);
      expect(failed.length).toBe(1);
    } finally {
      await worker.close();
      await events.close();
      await q.close();
    }
  });
  }
});

describe("QueueEvents push (SUBSCRIBE)", () => {
  test("every transition, also of jobs too quick for a poll, and only this queue's", async () => {
    const name = `e-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    const other = new Queue(`${name}-other`, { connection: q.connection });
    const events = new QueueEvents(name, { connection: { port: server.port } });
    const seen: string[] = [];
    for (const e of ["waiting", "delayed", "active", "completed", "retried", "failed", "removed", "progress"]) {
      events.on(e, (p: { jobId: string }) => seen.push(`${e}:${p.jobId}`));
    }
    await events.waitUntilReady();
    expect(events.transport).toBe("push");
    const worker = new Worker(name, async (job) => {
      if (job.data === "retry" && job.attemptsMade === 0) throw new Error("once");
      return job.data;
    }, { connection: { port: server.port }, concurrency: 4, drainDelay: 0.2 });
    try {
      const quick = await q.add("q", "quick");
      const retry = await q.add("r", "retry", { attempts: 2, backoff: 1 });
      const later = await q.add("l", "later", { delay: 60_000 });
      const elsewhere = await other.add("x", "elsewhere");
      await later.remove();
      await until(() => seen.includes(`completed:${quick.id}`) && seen.includes(`completed:${retry.id}`) && seen.includes(`removed:${later.id}`), "the events");
      expect(seen.filter((e) => e.endsWith(`:${quick.id}`))).toEqual([`waiting:${quick.id}`, `active:${quick.id}`, `completed:${quick.id}`]);
      expect(seen).toContain(`retried:${retry.id}`);
      expect(seen.filter((e) => e === `active:${retry.id}`).length).toBe(2);
      expect(seen.filter((e) => e.endsWith(`:${later.id}`))).toEqual([`delayed:${later.id}`, `removed:${later.id}`]);
      expect(seen.some((e) => e.startsWith("failed:"))).toBe(false);
      expect(seen.some((e) => e.endsWith(`:${elsewhere.id}`))).toBe(false);
    } finally {
      await worker.close();
      await events.close();
      await q.close();
    }
  });

  test("subscribes again after a server restart", async () => {
    const restartable = await startServer();
    const q = new Queue("again", { connection: { port: restartable.port } });
    const events = new QueueEvents("again", { connection: { port: restartable.port } });
    const completed: string[] = [];
    events.on("completed", (e) => completed.push(e.jobId));
    events.on("error", () => {}); // the lost connection is reported; expected here
    try {
      await events.waitUntilReady();
      await restartable.restart();
      // Once the events connection is back, a job done by a raw pull/ack is reported again.
      await until(async () => {
        const id = (await q.add("j", 1)).id;
        const pulled = await q.connection.request("PULLB", { queue: "again", count: 10, timeout: 0 });
        await q.connection.request("ACKB", { ids: pulled.jobs.map((j: { id: number }) => j.id) });
        await sleep(50);
        return completed.includes(id);
      }, "a completed event after the restart");
    } finally {
      await events.close();
      await q.close();
      await restartable.stop();
    }
  });

  test("auto mode polls a server that does not know SUBSCRIBE", async () => {
    // A stub flashQ-like server: SUBSCRIBE is an unknown command, GETJOBS lists nothing.
    const stub = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          const req = unpack(buf.subarray(4, 4 + buf.readUInt32BE(0))) as { cmd: string; reqId: string };
          buf = buf.subarray(4 + buf.readUInt32BE(0));
          const reply = req.cmd === "SUBSCRIBE"
            ? { reqId: req.reqId, ok: false, error: "Unknown command: SUBSCRIBE" }
            : { reqId: req.reqId, ok: true, jobs: [], total: 0 };
          const body = pack(reply);
          const head = Buffer.alloc(4);
          head.writeUInt32BE(body.length);
          sock.write(Buffer.concat([head, body]));
        }
      });
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => stub.listen(0, "127.0.0.1", r));
    const port = (stub.address() as net.AddressInfo).port;
    const events = new QueueEvents("legacy", { connection: { port }, pollMs: 20 });
    try {
      await events.waitUntilReady();
      expect(events.transport).toBe("poll");
    } finally {
      await events.close();
      await new Promise((r) => stub.close(r));
    }
  });
});

describe("QueueEvents polling on a queue with history", () => {
  test("new completions are reported when more than one listing's worth of finished jobs exist", async () => {
    const name = `e-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    // 2500 finished jobs before QueueEvents starts (more than one GETJOBS page of 1000).
    await q.addBulk(Array.from({ length: 2500 }, (_, i) => ({ name: "old", data: i })));
    for (let left = 2500; left > 0; ) {
      const pulled = await q.connection.request("PULLB", { queue: name, count: 1000, timeout: 0 });
      const ids = pulled.jobs.map((j: { id: number }) => j.id);
      await q.connection.request("ACKB", { ids });
      left -= ids.length;
    }
    expect((await q.getJobCounts()).completed).toBe(2500);

    const events = new QueueEvents(name, { connection: { port: server.port }, pollMs: 20, mode: "poll" });
    const completed: string[] = [];
    events.on("completed", (e) => completed.push(e.jobId));
    await events.waitUntilReady();
    const worker = new Worker(name, async (job) => job.data, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const fresh = await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: "new", data: i })));
      await until(() => completed.length === 5, "5 completed events");
      expect(completed.sort()).toEqual(fresh.map((j) => j.id).sort());
      await sleep(100);
      expect(completed.length).toBe(5); // none of the 2500 old ones
    } finally {
      await worker.close();
      await events.close();
      await q.close();
    }
  });
});

describe("QueueEvents polling while retention drops old records", () => {
  test("a burst larger than a page, with the oldest records dropped meanwhile, is reported in full", async () => {
    // Retention of 1500 completed records: a burst of 1200 drops 1200 old ones, so the list
    // shifts towards the front by more than the page QueueEvents re-reads.
    const small = await startServer({ KEEP_COMPLETED: "1500" });
    const name = "burst";
    const q = new Queue(name, { connection: { port: small.port } });
    // Started after the history exists (autorun: false), so the history is not news.
    const events = new QueueEvents(name, { connection: { port: small.port }, pollMs: 250, autorun: false, mode: "poll" });
    const completed = new Set<string>();
    events.on("completed", (e) => completed.add(e.jobId));
    const completeAll = async (count: number) => {
      const jobs = await q.addBulk(Array.from({ length: count }, (_, i) => ({ name: "b", data: i })));
      for (let left = count; left > 0; ) {
        const pulled = await q.connection.request("PULLB", { queue: name, count: 1000, timeout: 0 });
        const ids = pulled.jobs.map((j: { id: number }) => j.id);
        await q.connection.request("ACKB", { ids });
        left -= ids.length;
      }
      return jobs.map((j) => j.id);
    };
    try {
      await completeAll(1500);
      await events.waitUntilReady();
      const burst = await completeAll(1200);
      expect((await q.getJobCounts()).completed).toBe(1500);
      await until(() => burst.every((id) => completed.has(id)), "all 1200 of the burst reported", 5_000);
      expect(completed.size).toBe(1200);
    } finally {
      await events.close();
      await q.close();
      await small.stop();
    }
  });
});

describe("job.waitUntilFinished", () => {
  test("resolves with the result, rejects with the failure reason, times out with TimeoutError", async () => {
    const name = `e-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    const worker = new Worker(
      name,
      async (job) => {
        if (job.data === "never") return new Promise(() => {});
        if (job.data === "fail") throw new Error("it broke");
        await sleep(30);
        return job.data * 2;
      },
      { connection: { port: server.port }, concurrency: 4, drainDelay: 0.2 },
    );
    try {
      const a = await q.add("a", 21);
      const f = await q.add("f", "fail", { attempts: 2, backoff: 10 });
      expect(await a.waitUntilFinished()).toBe(42);
      // Already finished: answered at once.
      expect(await a.waitUntilFinished()).toBe(42);
      const err = await f.waitUntilFinished().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobFailedError);
      expect((err as JobFailedError).message).toMatch(/it broke/);
      expect((err as JobFailedError).jobId).toBe(f.id);

      const stuck = await q.add("n", "never", { attempts: 1 });
      const t = await stuck.waitUntilFinished(undefined, 150).catch((e: unknown) => e);
      expect(t).toBeInstanceOf(TimeoutError);
      expect((t as Error).message).toMatch(new RegExp(`job ${stuck.id} did not finish within 150 ms`));
    } finally {
      await worker.close(true);
      await q.close();
    }
  });
});
