// QueueEvents' `added`, `retries-exhausted` and `drained` against a real server: `added` once
// per new job with its name (not for a job that waits again after a retry or a promotion),
// `retries-exhausted` after the failed event of a job whose attempts ran out (not of one an
// UnrecoverableError failed early), `drained` once the queue's last waiting job became active.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Queue, QueueEvents, UnrecoverableError, Worker } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const sleep = Bun.sleep;


describe("QueueEvents: added, retries-exhausted, drained", () => {
  test("added: once per new job, with its name; a retried or promoted job is not added again", async () => {
    const name = `we-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    const events = new QueueEvents(name, { connection: { port: server.port } });
    const added: { jobId: string; name: string }[] = [];
    const waiting: string[] = [];
    events.on("added", (e) => added.push(e));
    events.on("waiting", (e) => waiting.push(e.jobId));
    await events.waitUntilReady();
    let runs = 0;
    const worker = new Worker(name, async () => {
      if (++runs === 1) throw new Error("once");
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const one = await q.add("send-email", 1, { attempts: 2 });
      const later = await q.add("report", 2, { delay: 60_000 });
      const [b1, b2] = await q.addBulk([{ name: "resize", data: 3 }, { name: "resize", data: 4 }]);
      await one.waitUntilFinished(undefined, 5000);
      await later.promote();
      await later.waitUntilFinished(undefined, 5000);
      await until(() => added.length >= 4 && waiting.includes(later.id), "events");
      await sleep(100);
      expect(added.sort((a, b) => Number(a.jobId) - Number(b.jobId))).toEqual([
        { jobId: one.id, name: "send-email" },
        { jobId: later.id, name: "report" },
        { jobId: b1!.id, name: "resize" },
        { jobId: b2!.id, name: "resize" },
      ]);
      // The promotion made the job wait: `waiting`, not `added` (the retry is `retried`).
      expect(waiting).toContain(later.id);
      expect(runs).toBe(5); // send-email twice (its first attempt failed), the others once
    } finally {
      await worker.close();
      await events.close();
      await q.close();
    }
  });

  test("retries-exhausted: after the failed event of a job whose attempts ran out, not of one failed early", async () => {
    const name = `we-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    const events = new QueueEvents(name, { connection: { port: server.port } });
    const order: string[] = [];
    events.on("failed", (e) => order.push(`failed ${e.jobId}`));
    events.on("retries-exhausted", (e) => order.push(`exhausted ${e.jobId} ${e.attemptsMade}`));
    await events.waitUntilReady();
    const worker = new Worker(name, async (job) => {
      if (job.data === "fatal") throw new UnrecoverableError("no");
      throw new Error("again");
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const spent = await q.add("x", "spent", { attempts: 2 });
      const fatal = await q.add("x", "fatal", { attempts: 3 });
      const single = await q.add("x", "single", { attempts: 1 });
      // Its record is gone when the failed event arrives: only the event can say attempts ran out.
      const gone = await q.add("x", "gone", { attempts: 1, removeOnFail: true });
      await until(() => order.filter((e) => e.startsWith("exhausted")).length === 3 && order.length === 7, "events");
      expect(order).toContain(`exhausted ${gone.id} 1`);
      await sleep(100);
      expect(order).toContain(`exhausted ${spent.id} 2`);
      expect(order).toContain(`exhausted ${single.id} 1`);
      expect(order).toContain(`failed ${fatal.id}`);
      expect(order.some((e) => e.startsWith(`exhausted ${fatal.id}`))).toBe(false);
      // Each after its own failed event.
      expect(order.indexOf(`exhausted ${spent.id} 2`)).toBeGreaterThan(order.indexOf(`failed ${spent.id}`));
    } finally {
      await worker.close();
      await events.close();
      await q.close();
    }
  });

  test("drained: once when the last waiting job became active, again after new work", async () => {
    const name = `we-${++n}`;
    const q = new Queue(name, { connection: { port: server.port } });
    const events = new QueueEvents(name, { connection: { port: server.port } });
    let drained = 0;
    events.on("drained", () => drained++);
    await events.waitUntilReady();
    const worker = new Worker(name, async () => {}, { connection: { port: server.port }, drainDelay: 0.2, concurrency: 4 });
    try {
      await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: "x", data: i })));
      await until(() => drained === 1, "drained");
      await sleep(300);
      expect(drained).toBe(1);
      await (await q.add("x", "more")).waitUntilFinished(undefined, 5000);
      await until(() => drained === 2, "drained again");
    } finally {
      await worker.close();
      await events.close();
      await q.close();
    }
  });
});
