// CRON over real sockets, on every backend: a repeat_every schedule pushes jobs at its slots
// (each job's custom id names its slot; created within a generous margin of it: the precise
// figures are in bench/precision.ts), a limit ends it, CRONLIST shows it, CRONDELETE stops it,
// bad requests are refused naming the field; and across a restart with DATA_PATH the schedule
// goes on where it was, a slot missed while the server was down making one job, not one per slot.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { frame, RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/cron");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slotOf = (job: { custom_id: string }): number => Number(job.custom_id.split(":").at(-1));

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`cron [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    test("repeat_every with a limit: a job per slot, near its slot, then the schedule is gone", async () => {
      const c = await open();
      const q = `cron-${name.replace(/\W/g, "")}`;
      const made = await c.call({ cmd: "CRON", name: q, queue: q, data: { n: 1 }, repeat_every: 200, limit: 3, priority: 4, max_attempts: 7 });
      expect(made.ok).toBe(true);
      const listed = (await c.call({ cmd: "CRONLIST" })).crons.find((x: { name: string }) => x.name === q);
      expect(listed).toMatchObject({ queue: q, data: { n: 1 }, repeat_every: 200, limit: 3, priority: 4, executions: 0, next_run: made.next_run });
      const jobs: any[] = [];
      while (jobs.length < 3) {
        const { job } = await c.call({ cmd: "PULL", queue: q, timeout: 2000 });
        expect(job).not.toBeNull();
        jobs.push(job);
      }
      expect(jobs.map(slotOf)).toEqual([made.next_run, made.next_run + 200, made.next_run + 400]);
      for (const j of jobs) {
        expect(j.created_at - slotOf(j)).toBeGreaterThanOrEqual(0);
        expect(j.created_at - slotOf(j)).toBeLessThan(100);
        expect(j).toMatchObject({ priority: 4, max_attempts: 7, name: q, data: { n: 1 } });
      }
      expect((await c.call({ cmd: "CRONLIST" })).crons.some((x: { name: string }) => x.name === q)).toBe(false);
      expect(await c.call({ cmd: "CRONDELETE", name: q })).toMatchObject({ ok: false, code: "NOT_FOUND" });
      c.close();
    });

    test("CRONDELETE stops a schedule; bad requests are refused naming the field", async () => {
      const c = await open();
      await c.call({ cmd: "CRON", name: "stop-me", queue: "cron-stop", data: 1, repeat_every: 100 });
      await sleep(250);
      expect(await c.call({ cmd: "CRONDELETE", name: "stop-me" })).toEqual({ ok: true });
      const count = (await c.call({ cmd: "COUNT", queue: "cron-stop" })).count;
      expect(count).toBeGreaterThanOrEqual(1);
      await sleep(300);
      expect((await c.call({ cmd: "COUNT", queue: "cron-stop" })).count).toBe(count);
      const bad = async (req: Record<string, unknown>, field: string) => {
        const r = await c.call({ cmd: "CRON", name: "bad", queue: "q", data: 1, ...req });
        expect(r).toMatchObject({ ok: false, code: "INVALID" });
        expect(r.error).toContain(field);
      };
      await bad({ schedule: "not a cron" }, "schedule");
      await bad({ schedule: "* * * * *", tz: "Nowhere/Land" }, "tz");
      await bad({}, "'schedule' or 'repeat_every'");
      await bad({ schedule: "* * * * *", repeat_every: 1000 }, "'schedule' or 'repeat_every'");
      await bad({ repeat_every: 10 }, "repeat_every");
      await bad({ schedule: "* * * * *", job_id: "x" }, "job_id");
      c.close();
    });
  });
}

describe("cron across a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "ringq-cron-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the schedule goes on; the slots missed while down make one job", async () => {
    const env = { DATA_PATH: join(dir, "cron.db") };
    let s = await ServerProcess.start({ env });
    try {
      let c = await RawClient.connect(s.port);
      const made = await c.call({ cmd: "CRON", name: "tick", queue: "ticks", data: "t", repeat_every: 300 });
      await sleep(350); // one run
      c.close();
      await s.stop();
      const stoppedAt = Date.now();
      await sleep(1200); // ~4 slots missed
      const restarting = Date.now();
      s = await ServerProcess.start({ env });
      c = await RawClient.connect(s.port);
      await sleep(100);
      // GETJOBS and CRONLIST in one write, answered in one turn: a slot due between two round trips
      // made CRONLIST count a job GETJOBS had not listed (seen once, on a loaded machine).
      c.send(Buffer.concat([frame({ cmd: "GETJOBS", queue: "ticks" }), frame({ cmd: "CRONLIST" })]));
      const [got, list] = await c.frames(2);
      const jobs = got.jobs;
      // The run before the stop, one for all the slots missed while down, and maybe a new one.
      const slots = jobs.map(slotOf);
      expect(slots[0]).toBe(made.next_run);
      const missed = slots.filter((t: number) => t > made.next_run && t < restarting);
      expect(missed.length).toBe(1);
      expect(missed[0]).toBeLessThan(stoppedAt + 300);
      expect(jobs.length).toBeLessThanOrEqual(3);
      const listed = list.crons[0];
      expect(listed.executions).toBe(jobs.length);
      expect(listed.next_run).toBeGreaterThan(Date.now() - 50);
      expect((listed.next_run - made.next_run) % 300).toBe(0); // phase kept
      await c.call({ cmd: "CRONDELETE", name: "tick" });
      c.close();
    } finally {
      await s.stop();
    }
  });
});
