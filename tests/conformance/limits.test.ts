// Queue limits over real sockets, on every backend: RATELIMIT holds the delivery rate (PULL and
// PULLB alike; PULLB gets at most the tokens there are; a parked PULL is served when the next
// token comes), SETCONCURRENCY caps active jobs across several workers, group_concurrency lets N
// jobs of a group run while groups take turns, LISTQUEUES shows the limits, and the limits
// survive a restart with DATA_PATH. Margins are generous: the accurate figures are in
// bench/limits.ts.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/limits");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pushN(c: RawClient, queue: string, n: number, opts: Record<string, unknown> = {}): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < n; i += 1000) {
    const jobs = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ data: i + k, ...opts }));
    ids.push(...(await c.call({ cmd: "PUSHB", queue, jobs })).ids);
  }
  return ids;
}

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`queue limits [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    test("RATELIMIT: PULLB gets at most the tokens; 2 s of pulling delivers burst + rate x time", async () => {
      const c = await open();
      const q = "rl-rate";
      await pushN(c, q, 1000);
      expect(await c.call({ cmd: "RATELIMIT", queue: q, limit: 100, burst: 10 })).toEqual({ ok: true });
      const first = await c.call({ cmd: "PULLB", queue: q, count: 100, timeout: 0 });
      expect(first.jobs.length).toBe(10);
      const t0 = performance.now();
      let delivered = first.jobs.length;
      while (performance.now() - t0 < 2000) {
        delivered += (await c.call({ cmd: "PULLB", queue: q, count: 100, timeout: 0 })).jobs.length;
        await sleep(5);
      }
      const seconds = (performance.now() - t0) / 1000;
      const expected = 10 + 100 * seconds;
      expect(delivered).toBeGreaterThan(expected * 0.85);
      expect(delivered).toBeLessThan(expected * 1.1 + 2);
      const list = await c.call({ cmd: "LISTQUEUES" });
      expect(list.queues.find((x: { name: string }) => x.name === q)).toMatchObject({ rate_limit: 100, concurrency_limit: null });
      c.close();
    });

    test("RATELIMIT: a parked PULL is served when the next token comes; RATELIMITCLEAR lifts it", async () => {
      const c = await open();
      const q = "rl-park";
      await pushN(c, q, 10);
      await c.call({ cmd: "RATELIMIT", queue: q, limit: 4, burst: 1 });
      expect((await c.call({ cmd: "PULL", queue: q, timeout: 0 })).job).not.toBeNull();
      expect((await c.call({ cmd: "PULL", queue: q, timeout: 0 })).job).toBeNull();
      const t0 = performance.now();
      const parked = await c.call({ cmd: "PULL", queue: q, timeout: 5000 });
      const waited = performance.now() - t0;
      expect(parked.job).not.toBeNull();
      expect(waited).toBeGreaterThan(100); // the next token is ~250 ms away
      expect(waited).toBeLessThan(2000);
      await c.call({ cmd: "RATELIMITCLEAR", queue: q });
      expect((await c.call({ cmd: "PULLB", queue: q, count: 100, timeout: 0 })).jobs.length).toBe(8);
      c.close();
    });

    test("SETCONCURRENCY: never more active jobs than the limit across five workers, and all get done", async () => {
      const setup = await open();
      const q = "rl-conc";
      await setup.call({ cmd: "SETCONCURRENCY", queue: q, limit: 3 });
      const ids = await pushN(setup, q, 60);
      let active = 0;
      let maxActive = 0;
      let done = 0;
      const workers = await Promise.all(Array.from({ length: 5 }, () => open()));
      await Promise.all(workers.map(async (w) => {
        while (done < ids.length) {
          const r = await w.call({ cmd: "PULL", queue: q, timeout: 200 });
          if (r.job === null) continue;
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(3);
          active--;
          expect(await w.call({ cmd: "ACK", id: r.job.id })).toEqual({ ok: true });
          done++;
        }
      }));
      expect(done).toBe(ids.length);
      expect(maxActive).toBe(3);
      for (const w of workers) w.close();
      setup.close();
    });

    test("group_concurrency: two jobs of a group at a time, and a later group is not starved", async () => {
      const c = await open();
      const q = "rl-groups";
      await c.call({ cmd: "SETCONCURRENCY", queue: q, limit: 2, group_concurrency: 2 });
      const big = await pushN(c, q, 30, { group_id: "big" });
      const small = await pushN(c, q, 2, { group_id: "small" });
      const order: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await c.call({ cmd: "PULL", queue: q, timeout: 0 });
        order.push(r.job.id);
        await c.call({ cmd: "ACK", id: r.job.id });
      }
      expect(order.indexOf(small[0]!)).toBeLessThan(3);
      expect(order.indexOf(small[1]!)).toBeLessThan(6);
      expect(order.filter((id) => big.includes(id))).toEqual(big.slice(0, 6));
      const two = await c.call({ cmd: "PULLB", queue: q, count: 10, timeout: 0 });
      expect(two.jobs.length).toBe(2);
      expect(two.jobs.every((j: { group_id: string }) => j.group_id === "big")).toBe(true);
      expect((await c.call({ cmd: "SETCONCURRENCY", queue: q })).code).toBe("INVALID");
      c.close();
    });
  });
}

describe("queue limits across a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "ringq-limits-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("RATELIMIT and SETCONCURRENCY are stored with the queue, also while it is empty", async () => {
    const env = { DATA_PATH: join(dir, "q.db") };
    let s = await ServerProcess.start({ env });
    let c = await RawClient.connect(s.port);
    await c.call({ cmd: "RATELIMIT", queue: "kept", limit: 7, burst: 2 });
    await c.call({ cmd: "SETCONCURRENCY", queue: "kept", limit: 4, group_concurrency: 3 });
    c.close();
    await s.stop();
    s = await ServerProcess.start({ env });
    c = await RawClient.connect(s.port);
    const list = await c.call({ cmd: "LISTQUEUES" });
    expect(list.queues).toEqual([expect.objectContaining({ name: "kept", rate_limit: 7, concurrency_limit: 4, group_concurrency: 3 })]);
    await pushN(c, "kept", 5);
    expect((await c.call({ cmd: "PULLB", queue: "kept", count: 5, timeout: 0 })).jobs.length).toBe(2); // the burst
    await c.call({ cmd: "CLEARCONCURRENCY", queue: "kept" });
    await c.call({ cmd: "RATELIMITCLEAR", queue: "kept" });
    c.close();
    await s.stop();
    s = await ServerProcess.start({ env });
    c = await RawClient.connect(s.port);
    expect((await c.call({ cmd: "LISTQUEUES" })).queues).toEqual([expect.objectContaining({ name: "kept", rate_limit: null, concurrency_limit: null, group_concurrency: 1 })]);
    c.close();
    await s.stop();
  });
});
