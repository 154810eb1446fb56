// BullMQ's listings against a real server: the state names, start/end/asc paging (pages of the
// server's GETJOBS underneath), priority in BullMQ's order on the client and flashQ's on the wire,
// and the job moves that map to single commands (promoteJobs, retry, changeDelay, discard,
// moveToFailed, moveToDelayed + DelayedError, deduplication, remove).

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DelayedError, Queue, type RingqError, Worker } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

let n = 0;
const opened: Queue[] = [];
function queue(): Queue {
  const q = new Queue(`getters-${++n}`, { connection: { port: server.port } });
  opened.push(q);
  return q;
}

// Registered before serverPerFile's hooks, so the queues close before the server stops.
afterAll(async () => {
  await Promise.all(opened.map((q) => q.close()));
});
const server = serverPerFile();

const data = (jobs: { data: unknown }[]) => jobs.map((j) => j.data);

describe("priority", () => {
  test("the wire keeps flashQ's order: a raw positive priority runs before every job the client adds", async () => {
    const q = queue();
    await q.add("p2", "p2", { priority: 2 });
    await q.add("none", "none");
    await q.connection.request("PUSH", { queue: q.name, data: "flashq-urgent", priority: 5 });
    await q.add("p1", "p1", { priority: 1 });
    // getWaiting lists in the order the jobs will run.
    expect(data(await q.getWaiting())).toEqual(["flashq-urgent", "none", "p1", "p2"]);
    const wire = (await q.connection.request("GETJOBS", { queue: q.name, state: "waiting" })).jobs.map((j: { data: string; priority: number }) => [j.data, j.priority]);
    expect(wire).toEqual([["flashq-urgent", 5], ["none", 0], ["p1", -1], ["p2", -2]]);
    const jobs = await q.getWaiting();
    expect(jobs.map((j) => j.priority)).toEqual([0, 0, 1, 2]);
    expect(jobs.map((j) => j.state)).toEqual(["waiting", "waiting", "prioritized", "prioritized"]);
    // changePriority takes BullMQ's numbers too.
    await jobs[3]!.changePriority({ priority: 0 });
    // p2 was added before "none": first in, first out within a priority.
    expect(data(await q.getWaiting())).toEqual(["flashq-urgent", "p2", "none", "p1"]);
    await expect(jobs[2]!.changePriority({ priority: 3, lifo: true })).rejects.toThrow(/lifo/);
  });
});

describe("getJobs and the per-state getters", () => {
  test("state names, prioritized as the part of waiting with a priority, unknown names refused", async () => {
    const q = queue();
    for (let i = 0; i < 5; i++) await q.add("w", `w${i}`);
    await q.add("p", "p3", { priority: 3 });
    await q.add("p", "p1", { priority: 1 });
    await q.add("d", "d0", { delay: 60_000 });
    await q.add("d", "d1", { delay: 60_000 });
    expect(data(await q.getJobs("wait", 0, -1, true))).toEqual(["w0", "w1", "w2", "w3", "w4", "p1", "p3"]);
    expect(data(await q.getJobs("waiting", 0, -1, true))).toEqual(data(await q.getWaiting()));
    expect(data(await q.getPrioritized())).toEqual(["p1", "p3"]);
    expect(data(await q.getPrioritized(1, 1))).toEqual(["p3"]);
    expect(data(await q.getJobs("prioritized"))).toEqual(["p3", "p1"]); // getJobs: newest first by default
    expect(data(await q.getDelayed())).toEqual(["d0", "d1"]);
    expect(await q.getJobCounts("waiting", "prioritized", "delayed", "paused", "waiting-children")).toEqual({
      waiting: 7, prioritized: 2, delayed: 2, paused: 0, "waiting-children": 0,
    });
    expect(await q.getPrioritizedCount()).toBe(2);
    // Each job once even when two types hold it (waiting and prioritized).
    expect((await q.getJobs(["waiting", "prioritized", "delayed"])).length).toBe(9);
    expect((await q.getJobs()).length).toBe(9);
    // paused: the waiting jobs while the queue is paused.
    expect(await q.getJobs("paused")).toEqual([]);
    await q.pause();
    expect((await q.getJobs("paused")).length).toBe(7);
    expect(await q.getJobCounts("paused")).toEqual({ paused: 7 });
    await q.resume();
    const bad = await q.getJobs(["waiting", "wiating" as never]).catch((e: unknown) => e);
    expect((bad as RingqError).code).toBe("INVALID");
    expect((bad as Error).message).toMatch(/unknown job type "wiating"/);
    await expect(q.getJobs("repeat")).rejects.toThrow(/"repeat": a schedule is not a job here.*getJobSchedulers/);
    await expect(q.getJobCounts("nope" as never)).rejects.toThrow(/unknown job type "nope"/);
  });

  test("start/end/asc: inclusive ranges, negative indexes from the end, newest first by default, across pages", async () => {
    const q = queue();
    const total = 2500; // more than two GETJOBS pages
    await q.addBulk(Array.from({ length: total }, (_, i) => ({ name: "n", data: i })));
    const worker = new Worker(q.name, async () => {}, { connection: { port: server.port }, concurrency: 50, drainDelay: 0.2 });
    try {
      await until(async () => (await q.getCompletedCount()) === total, "all completed");
    } finally {
      await worker.close();
    }
    // Completed: the last finished first (BullMQ's getCompleted); asc: the first finished first.
    const finishOrder = data(await q.getJobs("completed", 0, -1, true)) as number[];
    expect(finishOrder.length).toBe(total);
    expect(new Set(finishOrder).size).toBe(total);
    const newest = data(await q.getCompleted(0, 9));
    expect(newest).toEqual(finishOrder.slice(-10).reverse());
    expect(data(await q.getCompleted(1000, 1001))).toEqual(finishOrder.slice(-1002, -1000).reverse());
    expect(data(await q.getJobs("completed", 0, 2, true))).toEqual(finishOrder.slice(0, 3));
    expect(data(await q.getJobs("completed", -3, -1, true))).toEqual(finishOrder.slice(-3));
    expect(data(await q.getJobs("completed", -3, -1, false))).toEqual(finishOrder.slice(0, 3).reverse());
    expect(data(await q.getJobs("completed", 1998, 2001, true))).toEqual(finishOrder.slice(1998, 2002));
    expect(data(await q.getJobs("completed", total - 2, total + 50, true))).toEqual(finishOrder.slice(-2));
    expect(await q.getJobs("completed", 5, 4)).toEqual([]);
    expect(await q.getJobs("completed", total, -1, true)).toEqual([]);
    expect((await q.getCompleted()).length).toBe(total);
  });
});

describe("job moves", () => {
  test("promoteJobs makes every delayed job waiting, page by page", async () => {
    const q = queue();
    await q.addBulk(Array.from({ length: 25 }, (_, i) => ({ name: "d", data: i, opts: { delay: 60_000 } })));
    expect(await q.promoteJobs({ count: 10 })).toBe(25);
    expect(await q.getJobCounts("waiting", "delayed")).toEqual({ waiting: 25, delayed: 0 });
    expect(await q.promoteJobs()).toBe(0);
  });

  test("job.retry, retryJobs, job.discard, job.changeDelay, Queue.remove", async () => {
    const q = queue();
    const worker = new Worker(q.name, async (job) => {
      if (job.data === "fail") throw new Error("boom");
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const failing = await q.add("f", "fail");
      await until(async () => (await failing.getState()) === "failed", "failed");
      await worker.pause();
      await failing.retry();
      expect(await failing.getState()).toBe("waiting");
      await expect(failing.retry()).rejects.toThrow(/not failed/);
      await expect(failing.retry("completed")).rejects.toThrow(/only failed jobs/);
      await expect(failing.retry("failed", { resetAttemptsMade: false })).rejects.toThrow(/resetAttemptsMade/);

      // discard of a job no worker here runs: to the DLQ at once (DISCARD).
      await failing.discard();
      expect(await failing.getState()).toBe("failed");
      expect(await q.retryJobs()).toBe(1);

      const later = await q.add("d", "later", { delay: 60_000 });
      await later.changeDelay(0);
      await until(async () => (await later.getState()) === "waiting", "delay changed to 0");
      await later.changeDelay(60_000);
      expect(await later.getState()).toBe("delayed");

      expect(await q.remove(later.id)).toBe(1);
      expect(await q.remove(later.id)).toBe(0);
      const custom = await q.add("c", "c", { jobId: "custom-remove" });
      expect(await q.remove("custom-remove")).toBe(1);
      expect(await q.getJob(custom.id)).toBeNull();
    } finally {
      await worker.close();
    }
  });

  test("in a processor: discard skips the retries, moveToDelayed + DelayedError, moveToFailed", async () => {
    const q = queue();
    const failed: string[] = [];
    const runs = new Map<string, number>();
    const worker = new Worker(q.name, async (job, token) => {
      runs.set(job.data, (runs.get(job.data) ?? 0) + 1);
      if (job.data === "discard") {
        await job.discard();
        throw new Error("fatal");
      }
      if (job.data === "later" && runs.get("later") === 1) {
        await job.moveToDelayed(Date.now() + 50, token);
        throw new DelayedError();
      }
      if (job.data === "manual") {
        await job.moveToFailed(new Error("by hand"), token!);
        return "ignored";
      }
      return "ok";
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    worker.on("failed", (job) => failed.push(job!.data));
    try {
      const discard = await q.add("x", "discard", { attempts: 5 });
      const later = await q.add("x", "later");
      const manual = await q.add("x", "manual", { attempts: 1 });
      await until(async () => (await discard.getState()) === "failed", "discarded job in the DLQ");
      expect(runs.get("discard")).toBe(1); // no retry though attempts remain
      expect(failed).toContain("discard");
      expect(await later.waitUntilFinished(undefined, 5000)).toBe("ok");
      expect(runs.get("later")).toBe(2);
      await until(async () => (await manual.getState()) === "failed", "moveToFailed job failed");
      // The Worker sent nothing more for jobs their processors moved: no error, no event.
      expect(failed).not.toContain("manual");
      expect(failed).not.toContain("later");
    } finally {
      await worker.close();
    }
  });

  test("remove takes a finished job, and an active one (its Worker drops the outcome quietly)", async () => {
    const q = queue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const errors: RingqError[] = [];
    const completed: string[] = [];
    const worker = new Worker(q.name, async (job) => {
      if (job.data === "hold") await gate;
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    worker.on("error", (e) => errors.push(e as RingqError));
    worker.on("completed", (job) => completed.push(job.data));
    try {
      const done = await q.add("x", "quick");
      await done.waitUntilFinished(undefined, 5000);
      expect(await q.remove(done.id)).toBe(1);
      expect(await q.getJob(done.id)).toBeNull();
      const held = await q.add("x", "hold");
      await until(async () => (await held.getState()) === "active", "held job active");
      await held.remove();
      expect(await q.getJob(held.id)).toBeNull();
      release();
      // The ACK is refused (JOB_CANCELLED): the job was removed on purpose, so that is neither
      // an error nor a completion; the worker goes on with the next job.
      const after = await q.add("x", "after");
      await after.waitUntilFinished(undefined, 5000);
      await until(() => completed.includes("after"), "the next job's completed event");
      expect(completed).toEqual(["quick", "after"]);
      expect(errors).toEqual([]);
    } finally {
      release();
      await worker.close();
    }
  });

  test("deduplication without ttl: a duplicate add resolves to the job holding the id (add and addBulk)", async () => {
    const q = queue();
    const first = await q.add("x", 1, { deduplication: { id: "same" } });
    const again = await q.add("x", 2, { deduplication: { id: "same" } });
    expect(again.id).toBe(first.id);
    const bulk = await q.addBulk([{ name: "x", data: 3, opts: { deduplication: { id: "same" } } }, { name: "x", data: 4 }]);
    expect(bulk[0]!.id).toBe(first.id);
    expect(await q.getJobCounts("waiting")).toEqual({ waiting: 2 });
    // uniqueKey (ringq's own) still refuses a duplicate.
    await q.add("x", 5, { uniqueKey: "u" });
    await expect(q.add("x", 6, { uniqueKey: "u" })).rejects.toThrow(/Duplicate/);
  });

  test("job logs through the Queue: addJobLog (keepLogs trims), getJobLogs with ranges, clearLogs", async () => {
    const q = queue();
    const job = await q.add("x", 1);
    for (const line of ["a", "b", "c"]) await q.addJobLog(job.id, line);
    expect(await q.getJobLogs(job.id)).toEqual({ logs: ["a", "b", "c"], count: 3 });
    expect(await q.getJobLogs(job.id, 0, 0, false)).toEqual({ logs: ["c"], count: 3 });
    await q.addJobLog(job.id, "d", 2);
    expect(await q.getJobLogs(job.id)).toEqual({ logs: ["c", "d"], count: 2 });
    await job.clearLogs(1);
    expect(await q.getJobLogs(job.id)).toEqual({ logs: ["d"], count: 1 });
    await job.clearLogs();
    expect(await q.getJobLogs(job.id)).toEqual({ logs: [], count: 0 });
    await expect(job.clearLogs(-1)).rejects.toThrow(/keep/);
  });
});
