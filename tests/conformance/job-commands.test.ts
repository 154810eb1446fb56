// Job commands of the full surface over real sockets, on every backend: CANCEL of an active job
// (the worker's next ACK/HEARTBEAT/FAIL gets JOB_CANCELLED, a subscriber sees `removed`), CANCEL
// of a finished job, FAIL with a stack and `unrecoverable` (failed_reason and stacktrace on the
// job, in GETJOB and the DLQ), PARTIAL streamed to a subscriber as a `partial` event, and CLEAN
// of waiting jobs spread over the ready line's heap and deque, and payloads intact while most jobs
// leave in random order (the payload arena compacts under them).

import { describe, expect, test } from "bun:test";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { rng } from "../helpers/rng.ts";

const avail = await availableBackends("conformance/job-commands");

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`job commands [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    test("CANCEL of an active job: cancelled then removed, and its worker is told JOB_CANCELLED", async () => {
      const [admin, worker, sub, cancels] = [await open(), await open(), await open(), await open()];
      const q = "jc-cancel";
      await sub.call({ cmd: "SUBSCRIBE", queue: q, events: ["cancelled", "removed"] });
      await cancels.call({ cmd: "SUBSCRIBE", queue: q, events: ["cancelled"] });
      // A record that retention drops is removed, not cancelled: `cancelled` is for CANCEL alone.
      const dropped = (await admin.call({ cmd: "PUSH", queue: q, data: 0, remove_on_complete: true })).id;
      await worker.call({ cmd: "PULL", queue: q, timeout: 0 });
      await worker.call({ cmd: "ACK", id: dropped });
      expect(await sub.frame()).toMatchObject({ event: "removed", queue: q, id: dropped });
      const { id } = await admin.call({ cmd: "PUSH", queue: q, data: 1 });
      const { job } = await worker.call({ cmd: "PULL", queue: q, timeout: 0 });
      expect(job.id).toBe(id);
      expect(await admin.call({ cmd: "CANCEL", id })).toEqual({ ok: true });
      expect(await sub.frame()).toMatchObject({ event: "cancelled", queue: q, id });
      expect(await sub.frame()).toMatchObject({ event: "removed", queue: q, id });
      // The cancelled-only subscriber saw nothing of the dropped record: this is its first event.
      expect(await cancels.frame()).toMatchObject({ event: "cancelled", queue: q, id });
      for (const req of [{ cmd: "HEARTBEAT", id }, { cmd: "ACK", id, lock_token: job.lock_token }, { cmd: "FAIL", id, error: "x" }]) {
        expect(await worker.call(req)).toMatchObject({ ok: false, code: "JOB_CANCELLED" });
      }
      expect(await admin.call({ cmd: "GETJOB", id })).toMatchObject({ ok: true, job: null, state: "unknown" });
      expect((await admin.call({ cmd: "GETJOBCOUNTS", queue: q })).active).toBe(0);
      // A finished job's record is removed too; an unknown id stays NOT_FOUND.
      const done = (await admin.call({ cmd: "PUSH", queue: q, data: 2 })).id;
      await worker.call({ cmd: "PULL", queue: q, timeout: 0 });
      await worker.call({ cmd: "ACK", id: done });
      expect(await admin.call({ cmd: "CANCEL", id: done })).toEqual({ ok: true });
      expect((await admin.call({ cmd: "GETJOB", id: done })).job).toBeNull();
      expect(await admin.call({ cmd: "CANCEL", id: 99_999_999 })).toMatchObject({ ok: false, code: "NOT_FOUND" });
      for (const c of [admin, worker, sub, cancels]) c.close();
    });

    test("FAIL with a stack: failed_reason and stacktrace on the job; unrecoverable skips the retries", async () => {
      const c = await open();
      const t = await open();
      const q = "jc-fail";
      const { id } = await c.call({ cmd: "PUSH", queue: q, data: 1, max_attempts: 5 });
      await c.call({ cmd: "PULL", queue: q, timeout: 0 });
      await c.call({ cmd: "FAIL", id, error: "first", stack: "Error: first\n    at a (x.js:1)" });
      let job = (await c.call({ cmd: "GETJOB", id })).job;
      expect(job).toMatchObject({ failed_reason: "first", stacktrace: ["Error: first\n    at a (x.js:1)"], attempts: 1 });
      expect((await c.call({ cmd: "GETSTATE", id })).state).toBe("waiting");
      await c.call({ cmd: "PULL", queue: q, timeout: 0 });
      await c.call({ cmd: "FAIL", id, error: "fatal", stack: "Error: fatal", unrecoverable: true });
      expect((await c.call({ cmd: "GETSTATE", id })).state).toBe("failed");
      const dlq = await t.ask({ cmd: "DLQ", queue: q });
      expect(dlq.jobs).toEqual([expect.objectContaining({ id, failed_reason: "fatal", stacktrace: ["Error: first\n    at a (x.js:1)", "Error: fatal"], attempts: 2 })]);
      job = (await t.ask({ cmd: "GETJOBS", queue: q, state: "failed" })).jobs[0];
      expect(job).toMatchObject({ id, failed_reason: "fatal", state: "failed" });
      c.close();
      t.close();
    });

    test("a pushed job's first event says added (with its name); a later move into the same state does not", async () => {
      const [c, sub] = [await open(), await open()];
      const q = "jc-added";
      await sub.call({ cmd: "SUBSCRIBE", queue: q, events: ["waiting", "delayed"] });
      const { id } = await c.call({ cmd: "PUSH", queue: q, data: 1, delay: 60_000, name: "welcome" });
      expect(await sub.frame()).toMatchObject({ event: "delayed", id, added: true, name: "welcome" });
      await c.call({ cmd: "PROMOTE", id });
      const promoted = await sub.frame();
      expect([promoted.event, promoted.id, promoted.added]).toEqual(["waiting", id, undefined]);
      c.close();
      sub.close();
    });

    test("METRICS: totals, recent completions a second, mean processing time, queues with their rate limit", async () => {
      const c = await open();
      const q = "jc-metrics";
      const before = (await c.call({ cmd: "METRICS" })).metrics;
      await c.call({ cmd: "RATELIMIT", queue: q, limit: 1000 });
      for (let i = 0; i < 5; i++) await c.call({ cmd: "PUSH", queue: q, data: i });
      for (let i = 0; i < 5; i++) {
        const { job } = await c.call({ cmd: "PULL", queue: q, timeout: 0 });
        await new Promise((r) => setTimeout(r, 30));
        await c.call({ cmd: "ACK", id: job.id });
      }
      await c.call({ cmd: "PUSH", queue: q, data: "left" });
      // The window counts full seconds: wait for the one holding these completions to end.
      await new Promise((r) => setTimeout(r, 1100));
      const m = (await c.call({ cmd: "METRICS" })).metrics;
      expect(m.total_pushed - before.total_pushed).toBe(6);
      expect(m.total_completed - before.total_completed).toBe(5);
      expect(m.jobs_per_second).toBeGreaterThan(0);
      expect(m.avg_latency_ms).toBeGreaterThanOrEqual(10); // 30 ms each here; other tests of this server share the window
      expect(m.avg_latency_ms).toBeLessThan(1000);
      expect(m.queues.find((x: { name: string }) => x.name === q)).toEqual({ name: q, pending: 1, processing: 0, dlq: 0, rate_limit: 1000 });
      c.close();
    });

    test("PARTIAL: a partial event with the data and index, in both framings; refused for a job not active", async () => {
      const [w, sub, tsub] = [await open(), await open(), await open()];
      const q = "jc-partial";
      await sub.call({ cmd: "SUBSCRIBE", queue: q, events: ["partial"] });
      expect(await tsub.ask({ cmd: "SUBSCRIBE", queue: q, events: ["partial"] })).toEqual({ ok: true });
      const { id } = await w.call({ cmd: "PUSH", queue: q, data: 1 });
      expect(await w.call({ cmd: "PARTIAL", id, data: { chunk: "a" } })).toMatchObject({ ok: false, code: "INVALID_STATE" });
      await w.call({ cmd: "PULL", queue: q, timeout: 0 });
      expect(await w.call({ cmd: "PARTIAL", id, data: { chunk: "a", bytes: new Uint8Array([1, 2]) }, index: 0 })).toEqual({ ok: true });
      expect(await w.call({ cmd: "PARTIAL", id, data: [2], index: 1 })).toEqual({ ok: true });
      const e1 = await sub.frame();
      expect(e1).toMatchObject({ event: "partial", queue: q, id, index: 0 });
      expect(e1.data.chunk).toBe("a");
      expect([...e1.data.bytes]).toEqual([1, 2]);
      expect(await sub.frame()).toMatchObject({ event: "partial", id, data: [2], index: 1 });
      expect(await tsub.line()).toMatchObject({ event: "partial", id, data: { chunk: "a" }, index: 0 });
      for (const c of [w, sub, tsub]) c.close();
    });

    test("CLEAN of waiting jobs at mixed priorities removes every old one; GETJOBS and PULL keep delivery order", async () => {
      const c = await open();
      const q = "jc-clean-prio";
      // Priorities out of order send jobs to the ready line's heap, FIFO runs to its deque.
      const r = rng(17);
      const prios = Array.from({ length: 3000 }, () => (r() < 0.5 ? 0 : Math.floor(r() * 10)));
      const push = async (from: number, to: number): Promise<number[]> => {
        const ids: number[] = [];
        for (let at = from; at < to; at += 1000) {
          const jobs = prios.slice(at, Math.min(to, at + 1000)).map((priority, i) => ({ data: at + i, priority }));
          ids.push(...(await c.call({ cmd: "PUSHB", queue: q, jobs })).ids);
        }
        return ids;
      };
      // Old jobs and young ones mixed in the line: the walk keeps the young, removes the old.
      await push(0, 1500);
      await Bun.sleep(500);
      await push(1500, 3000);
      expect(await c.call({ cmd: "CLEAN", queue: q, grace: 250, state: "waiting", limit: 10_000 })).toMatchObject({ ok: true, count: 1500 });
      expect((await c.call({ cmd: "GETJOBCOUNTS", queue: q })).waiting).toBe(1500);
      expect(await c.call({ cmd: "CLEAN", queue: q, grace: 0, state: "waiting", limit: 10_000 })).toMatchObject({ ok: true, count: 1500 });
      // Order after partial removals: higher priority first, then push order.
      const ids = await push(0, 300);
      expect((await c.call({ cmd: "CLEAN", queue: q, grace: 0, state: "waiting", limit: 100 })).count).toBe(100);
      const listed = (await c.call({ cmd: "GETJOBS", queue: q, state: "waiting", limit: 1000 })).jobs as { id: number; priority: number }[];
      expect(listed.length).toBe(200);
      const order = (a: { id: number; priority: number }, b: { id: number; priority: number }) => b.priority - a.priority || ids.indexOf(a.id) - ids.indexOf(b.id);
      expect(listed.map((j) => j.id)).toEqual([...listed].sort(order).map((j) => j.id));
      const pulled = (await c.call({ cmd: "PULLB", queue: q, count: 200, timeout: 0 })).jobs as { id: number }[];
      expect(pulled.map((j) => j.id)).toEqual(listed.map((j) => j.id));
      c.close();
    });

    test("payloads stay intact while jobs leave in any order (their slabs are compacted)", async () => {
      const c = await open();
      const q = "jc-payloads";
      const r = rng(23);
      // 0.2-2 KB mostly, a few of 70 KB (a slab of their own): about 12 MB in all.
      const dataOf = (i: number, n: number): string => `${i}:`.padEnd(n, String.fromCharCode(97 + (i % 26)));
      const sizes = Array.from({ length: 10_000 }, (_, i) => (i % 997 === 0 ? 70_000 : 200 + Math.floor(r() * 1800)));
      const want = new Map<number, string>();
      for (let at = 0; at < sizes.length; at += 500) {
        const jobs = sizes.slice(at, at + 500).map((n, k) => ({ data: dataOf(at + k, n), remove_on_complete: true }));
        const { ids } = await c.call({ cmd: "PUSHB", queue: q, jobs });
        ids.forEach((id: number, k: number) => want.set(id, jobs[k]!.data));
      }
      // Everything is pulled, 9 in 10 acknowledged at random (their payloads go), 1 in 10 kept.
      const kept: number[] = [];
      for (;;) {
        const { jobs } = await c.call({ cmd: "PULLB", queue: q, count: 500, timeout: 0 });
        if (jobs.length === 0) break;
        for (const j of jobs) expect(j.data).toBe(want.get(j.id));
        const done = (jobs as { id: number }[]).map((j) => j.id).filter((id) => (r() < 0.9 ? true : (kept.push(id), false)));
        expect(await c.call({ cmd: "ACKB", ids: done })).toMatchObject({ ok: true });
      }
      expect(kept.length).toBeGreaterThan(800);
      for (const id of kept) {
        const { job } = await c.call({ cmd: "GETJOB", id });
        if (job?.data !== want.get(id)) throw new Error(`job ${id}: data changed (${String(job?.data).slice(0, 20)}...)`);
      }
      // A retry delivers the same bytes again.
      for (const id of kept.slice(0, 50)) expect(await c.call({ cmd: "FAIL", id, error: "again" })).toMatchObject({ ok: true });
      const again = (await c.call({ cmd: "PULLB", queue: q, count: 50, timeout: 0 })).jobs as { id: number; data: string }[];
      expect(again.length).toBe(50);
      for (const j of again) expect(j.data).toBe(want.get(j.id)!);
      c.close();
    });
  });
}
