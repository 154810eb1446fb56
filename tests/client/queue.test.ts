// Queue against a real server process: every producer/admin method, and that BullMQ options
// arrive under their wire names (checked by reading the job back, not by trusting the mapping).

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { BulkAddError, CommandError, Queue, RingqError } from "../../src/client/index.ts";
import { serverPerFile } from "./server.ts";

// Each test is bounded by its own waits; this only keeps a slow, shared machine from cutting
// a test short (bun kills the server child of a test that times out).
setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
/** A fresh queue per test so tests do not see each other's jobs. */
function queue(): Queue {
  return new Queue(`q-${++n}`, { connection: { port: server.port } });
}


describe("Queue", () => {
  test("add maps BullMQ options to wire names; getJob reads them back by id and by custom id", async () => {
    const q = queue();
    try {
      const job = await q.add(
        "email",
        { to: "a@b.c" },
        { attempts: 5, backoff: { type: "fixed", delay: 250 }, priority: 7, delay: 60_000, jobId: "order-1", lifo: true, timeout: 9000, ttl: 120_000, stallTimeout: 4000, tags: ["x"] },
      );
      expect(job.id).toMatch(/^\d+$/);
      expect(job.customId).toBe("order-1");

      const back = (await q.getJob(job.id))!;
      expect(back.data).toEqual({ to: "a@b.c" });
      expect(back.state).toBe("delayed");
      expect(back.opts.attempts).toBe(5);
      // The wire job has the backoff delay but not its type, so read-back opts leave it out.
      expect(back.opts.backoff).toBeUndefined();
      expect(back.opts.priority).toBe(7);
      expect(back.priority).toBe(7);
      expect(back.opts.lifo).toBe(true);
      expect(back.opts.timeout).toBe(9000);
      expect(back.opts.ttl).toBe(120_000);
      expect(back.opts.stallTimeout).toBe(4000);
      expect(back.customId).toBe("order-1");

      const byCustom = (await q.getJob("order-1"))!;
      expect(byCustom.id).toBe(job.id);
      // A live custom id added again returns the existing job (idempotent retry of a push).
      const again = await q.add("email", { to: "other" }, { jobId: "order-1" });
      expect(again.id).toBe(job.id);

      expect(await q.getJob(999_999)).toBeNull();
      expect(await q.getJob("no-such-custom-id")).toBeNull();
      expect(await q.getJobState(job.id)).toBe("delayed");
    } finally {
      await q.close();
    }
  });

  test("an option the server cannot honour is refused before sending", async () => {
    const q = queue();
    try {
      await expect(q.add("x", 1, { repeat: { every: 1000 } } as never)).rejects.toThrow(/repeat: queue.add does not schedule.*upsertJobScheduler/);
      await expect(q.add("x", 1, { removeOnFail: { count: 10, limit: 5 } } as never)).rejects.toThrow(/removeOnFail\.limit/);
      await expect(q.add("x", 1, { deduplication: { id: "d", ttl: 1000, extend: true } } as never)).rejects.toThrow(/deduplication\.extend/);
      await expect(q.add("x", 1, { backoff: { type: "exponential", delay: 10, jitter: 1.5 } })).rejects.toThrow(/backoff\.jitter: expected a number from 0 to 1/);
      await expect(q.add("x", 1, { backoff: { type: "custom" } } as never)).rejects.toThrow(/backoff\.type/);
      await expect(q.add("x", 1, { dependsOn: ["custom"] })).rejects.toThrow(/dependsOn: "custom" is not a job id/);
      await expect(q.add("x", 1, { sizeLimit: 10 }, )).resolves.toBeDefined();
      await expect(q.add("x", "a string longer than ten bytes", { sizeLimit: 10 })).rejects.toThrow(/sizeLimit: the job's data is 32 bytes/);
      await expect(q.add("x", 1, { atempts: 3 } as never)).rejects.toThrow(/unknown job option "atempts"/);
      expect((await q.getJobCounts()).waiting).toBe(1);
      // A bad default is refused when the Queue is made, not at every add.
      expect(() => new Queue("x", { connection: { port: server.port }, defaultJobOptions: { stackTraceLimit: 5 } as never })).toThrow(/stackTraceLimit/);
    } finally {
      await q.close();
    }
  });

  test("defaultJobOptions apply under per-job options", async () => {
    const q = new Queue(`q-${++n}`, { connection: { port: server.port }, defaultJobOptions: { attempts: 9, priority: 1 } });
    try {
      const a = await q.add("a", null);
      const b = await q.add("b", null, { priority: 4 });
      expect((await q.getJob(a.id))!.opts).toMatchObject({ attempts: 9, priority: 1 });
      expect((await q.getJob(b.id))!.opts).toMatchObject({ attempts: 9, priority: 4 });
    } finally {
      await q.close();
    }
  });

  test("addBulk over several PUSHB chunks keeps input order; partial rejection names the entries", async () => {
    const q = queue();
    try {
      const input = Array.from({ length: 2500 }, (_, i) => ({ name: "n", data: { i } }));
      const jobs = await q.addBulk(input);
      expect(jobs.length).toBe(2500);
      const ids = jobs.map((j) => Number(j.id));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids); // server ids increase in input order
      expect(new Set(ids).size).toBe(2500);
      expect((await q.getJob(jobs[2499]!.id))!.data).toEqual({ i: 2499 });
      expect((await q.getJobCounts()).waiting).toBe(2500);

      // A duplicate unique key is refused per entry: the others are added, the error names it.
      const err = await q
        .addBulk([
          { name: "ok", data: 1, opts: { uniqueKey: "k1" } },
          { name: "dup", data: 2, opts: { uniqueKey: "k1" } },
          { name: "ok", data: 3 },
        ])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BulkAddError);
      const bulk = err as BulkAddError;
      expect(bulk.ids[0]).toMatch(/^\d+$/);
      expect(bulk.ids[1]).toBeNull();
      expect(bulk.ids[2]).toMatch(/^\d+$/);
      expect(bulk.errors[1]).toMatch(/k1|unique|duplicate/i);
      expect((await q.getJobCounts()).waiting).toBe(2502);

      // A wrong field type is a schema error: the whole batch is refused with the field's name.
      const schema = await q.addBulk([{ name: "bad", data: 2, opts: { delay: "soon" as unknown as number } }]).catch((e: unknown) => e);
      expect(schema).toBeInstanceOf(CommandError);
      expect((schema as Error).message).toMatch(/jobs\.0\.delay/);
    } finally {
      await q.close();
    }
  });

  test("getJobCounts, count, getJobs and the per-state counters", async () => {
    const q = queue();
    try {
      await q.add("a", 1);
      await q.add("b", 2);
      await q.add("c", 3, { delay: 60_000 });
      expect(await q.getJobCounts()).toEqual({ waiting: 2, active: 0, delayed: 1, completed: 0, failed: 0 });
      expect(await q.getJobCounts("waiting", "delayed")).toEqual({ waiting: 2, delayed: 1 });
      expect(await q.count()).toBe(3);
      expect(await q.getWaitingCount()).toBe(2);
      expect(await q.getDelayedCount()).toBe(1);
      const waiting = await q.getJobs("waiting");
      expect(waiting.map((j) => j.data).sort()).toEqual([1, 2]);
      expect(waiting.every((j) => j.state === "waiting")).toBe(true);
      const both = await q.getJobs(["waiting", "delayed"]);
      expect(both.length).toBe(3);
    } finally {
      await q.close();
    }
  });

  test("pause/resume/isPaused", async () => {
    const q = queue();
    try {
      await q.add("a", 1);
      expect(await q.isPaused()).toBe(false);
      await q.pause();
      expect(await q.isPaused()).toBe(true);
      // A paused queue delivers nothing: a non-waiting pull comes back empty.
      const pulled = await q.connection.request("PULLB", { queue: q.name, count: 10, timeout: 0 });
      expect(pulled.jobs).toEqual([]);
      await q.resume();
      expect(await q.isPaused()).toBe(false);
      const again = await q.connection.request("PULLB", { queue: q.name, count: 10, timeout: 0 });
      expect(again.jobs.length).toBe(1);
    } finally {
      await q.close();
    }
  });

  test("drain removes waiting and delayed jobs; obliterate removes everything", async () => {
    const q = queue();
    try {
      await q.addBulk([{ name: "a", data: 1 }, { name: "b", data: 2 }]);
      await q.add("c", 3, { delay: 60_000 });
      expect(await q.drain()).toBe(3);
      expect(await q.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });

      await q.addBulk([{ name: "a", data: 1 }, { name: "b", data: 2 }]);
      expect(await q.obliterate()).toBeGreaterThanOrEqual(2);
      expect(await q.getJobCounts()).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 });
    } finally {
      await q.close();
    }
  });

  test("job handles: remove, promote, changePriority, updateData", async () => {
    const q = queue();
    try {
      const delayed = await q.add("d", 1, { delay: 60_000 });
      await delayed.promote();
      expect(await delayed.getState()).toBe("waiting");
      await delayed.changePriority({ priority: 50 });
      await delayed.updateData(2);
      const back = (await q.getJob(delayed.id))!;
      expect(back.opts.priority).toBe(50);
      expect(back.data).toBe(2);
      await delayed.remove();
      expect(await q.getJobState(delayed.id)).toBe("unknown");
    } finally {
      await q.close();
    }
  });

  test("a validation error carries the server's message and code", async () => {
    const q = queue();
    try {
      const err = await q.add("x", 1, { delay: "soon" as unknown as number }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommandError);
      expect((err as CommandError).code).toBe("INVALID");
      expect((err as Error).message).toMatch(/^PUSH: .*delay/);
      // A priority the client must translate is checked by the client, naming BullMQ's range.
      const prio = await q.add("x", 1, { priority: "high" as unknown as number }).catch((e: unknown) => e);
      expect((prio as RingqError).code).toBe("INVALID");
      expect((prio as Error).message).toMatch(/^priority: expected an integer from 0 to 2097151/);
      await expect(q.add("x", 1, { priority: 2 ** 21 })).rejects.toThrow(/priority/);
      await expect(q.add("x", 1, { priority: -1 })).rejects.toThrow(/priority/);
      const bad = new Queue("bad queue name!", { connection: { port: server.port } });
      const err2 = await bad.add("x", 1).catch((e: unknown) => e);
      await bad.close();
      expect(err2).toBeInstanceOf(RingqError);
      expect((err2 as Error).message).toMatch(/queue/i);
    } finally {
      await q.close();
    }
  });

  test("close waits for replies in flight, then later calls fail with ClosedError", async () => {
    const q = queue();
    const adds = Array.from({ length: 200 }, (_, i) => q.add("a", i));
    await q.close();
    const settled = await Promise.allSettled(adds);
    expect(settled.filter((s) => s.status === "fulfilled").length).toBe(200);
    const err = await q.add("late", 1).catch((e: unknown) => e);
    expect((err as RingqError).code).toBe("CLOSED");
    const check = queue();
    try {
      expect(await new Queue(q.name, { connection: check.connection }).getWaitingCount()).toBe(200);
    } finally {
      await check.close();
    }
  });
});
