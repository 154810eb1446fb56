// Job schedulers (Queue.upsertJobScheduler and friends) on the server's CRON against a real
// server process: runs make jobs named after the scheduler with the template's data and
// options, `limit` ends a schedule, patterns take a time zone, ids are per queue as in BullMQ
// (one used by another queue is refused), and RepeatOptions the server lacks are refused by name.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Job, Queue, RingqError, Worker } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const queue = (opts: Record<string, unknown> = {}) => new Queue(`sched-${++n}`, { connection: { port: server.port }, ...opts });


describe("job schedulers", () => {
  test("every + limit: each run is a job named after the scheduler with the template's data and options; the schedule ends after its limit", async () => {
    const q = queue({ defaultJobOptions: { attempts: 4 } });
    const ran: Job[] = [];
    const worker = new Worker(q.name, async (job: Job) => void ran.push(job), { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const before = Date.now();
      expect(await q.upsertJobScheduler("tick", { every: 150, limit: 2 }, { data: { n: 1 }, opts: { priority: 2 } })).toBeUndefined();
      const s = (await q.getJobScheduler("tick"))!;
      expect(s).toMatchObject({ id: "tick", key: "tick", name: "tick", every: 150, limit: 2, iterationCount: 0, template: { data: { n: 1 } } });
      expect(s.next).toBeGreaterThanOrEqual(before + 150);
      expect(s.pattern).toBeUndefined();
      await until(() => ran.length === 2, "two runs");
      for (const job of ran) {
        expect(job.name).toBe("tick");
        expect(job.data).toEqual({ n: 1 });
        expect(job.opts.attempts).toBe(4);
        expect(job.opts.priority).toBe(2);
        expect(job.customId).toMatch(/^cron:tick:\d+$/);
      }
      // The limit was reached: the schedule is gone, and no third run comes.
      await until(async () => (await q.getJobScheduler("tick")) === undefined, "the schedule to end");
      await new Promise((r) => setTimeout(r, 300));
      expect(ran.length).toBe(2);
    } finally {
      await Promise.all([worker.close(), q.close()]);
    }
  });

  test("patterns with a time zone; listing, counting, replacing and removing a queue's schedulers", async () => {
    const q = queue();
    const other = queue();
    try {
      await q.upsertJobScheduler("nightly", { pattern: "0 2 * * *", tz: "Europe/Rome" }, { data: "n" });
      await q.upsertJobScheduler("hourly", { pattern: "0 * * * *", utc: true });
      await other.upsertJobScheduler("elsewhere", { every: 60_000 });
      const nightly = (await q.getJobScheduler("nightly"))!;
      expect(nightly).toMatchObject({ pattern: "0 2 * * *", tz: "Europe/Rome", template: { data: "n" } });
      // 02:00 in Rome is 00:00 or 01:00 UTC, by the season.
      expect([0, 1]).toContain(new Date(nightly.next).getUTCHours());
      expect(new Date(nightly.next).getUTCMinutes()).toBe(0);
      const hourly = (await q.getJobScheduler("hourly"))!;
      expect(hourly.tz).toBe("UTC");
      expect(hourly.next % 3_600_000).toBe(0);

      expect(await q.getJobSchedulersCount()).toBe(2);
      // BullMQ's default order: the latest next run first.
      const latestFirst = [nightly, hourly].sort((a, b) => b.next - a.next).map((s) => s.id);
      expect((await q.getJobSchedulers()).map((s) => s.id)).toEqual(latestFirst);
      expect((await q.getJobSchedulers(0, 0, true)).map((s) => s.next)).toEqual([Math.min(nightly.next, hourly.next)]);
      expect((await other.getJobSchedulers()).map((s) => s.id)).toEqual(["elsewhere"]);
      expect(await q.getJobScheduler("elsewhere")).toBeUndefined();

      // Upsert replaces; ids are per queue, as in BullMQ, but the server's names are not.
      await q.upsertJobScheduler("hourly", { pattern: "30 * * * *" });
      expect((await q.getJobScheduler("hourly"))!.pattern).toBe("30 * * * *");
      await expect(q.upsertJobScheduler("elsewhere", { every: 1000 })).rejects.toThrow(/scheduler id "elsewhere" is used by queue/);
      expect(await q.removeJobScheduler("elsewhere")).toBe(false);
      expect((await other.getJobScheduler("elsewhere"))!.every).toBe(60_000);

      expect(await q.removeJobScheduler("hourly")).toBe(true);
      expect(await q.removeJobScheduler("hourly")).toBe(false);
      expect(await q.getJobSchedulersCount()).toBe(1);
      await q.removeJobScheduler("nightly");
      await other.removeJobScheduler("elsewhere");
    } finally {
      await Promise.all([q.close(), other.close()]);
    }
  });

  test("what the server cannot do is refused by name; its own checks reach the caller", async () => {
    const q = queue();
    const refused = async (p: Promise<unknown>, text: RegExp) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(RingqError);
      expect((err as Error).message).toMatch(text);
    };
    try {
      await refused(q.upsertJobScheduler("s", { every: 1000, startDate: Date.now() } as never), /repeat\.startDate: the server's schedules have no start date/);
      await refused(q.upsertJobScheduler("s", { every: 1000, endDate: Date.now() } as never), /repeat\.endDate/);
      await refused(q.upsertJobScheduler("s", { every: 1000, immediately: true } as never), /repeat\.immediately/);
      await refused(q.upsertJobScheduler("s", { every: 1000, offset: 5 } as never), /repeat\.offset/);
      await refused(q.upsertJobScheduler("s", { every: 1000, pattern: "* * * * *" }), /one of them/);
      await refused(q.upsertJobScheduler("s", { pattern: "* * * * *", utc: false }), /repeat\.utc: false/);
      await refused(q.upsertJobScheduler("s", { every: 1000 }, { name: "other-name" }), /template\.name "other-name": the server names a schedule's jobs after the schedule/);
      await refused(q.upsertJobScheduler("s", { every: 1000 }, { opts: { jobId: "x" } }), /template\.opts\.jobId/);
      await refused(q.upsertJobScheduler("s", { every: 1000 }, { opts: { repeat: { every: 5 } } as never }), /repeat: queue.add does not schedule/);
      await refused(q.upsertJobScheduler("s", { pattern: "not a pattern" }), /schedule/);
      await refused(q.upsertJobScheduler("s", { every: 5 }), /repeat_every/);
      expect(await q.getJobSchedulersCount()).toBe(0);
      await refused(q.add("x", 1, { repeat: { every: 1000 } } as never), /repeat: .*use queue.upsertJobScheduler/);
      expect(() => (q as unknown as { getRepeatableJobs(): unknown }).getRepeatableJobs()).toThrow(/Queue.getRepeatableJobs: .*job scheduler API/);
    } finally {
      await q.close();
    }
  });
});
