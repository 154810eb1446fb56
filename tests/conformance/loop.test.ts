// Conformance, the loop, against every I/O backend: an idle server must wake for the engine's
// own deadlines, not only for network events (the uring backend waits in the kernel, bounded by
// the next deadline, or parks on its doorbell; the bun backend arms a timer). Nothing here is
// timed: each wait is a generous bound on something that must happen.

import { describe, expect, test } from "bun:test";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import type { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/loop");

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`engine deadlines on an idle server [${name}]`, () => {
    let server: ServerProcess;
    const open = serverPerSuite({ io, env }, (s) => (server = s));

    test("a parked PULL with nothing to deliver times out with a null job", async () => {
      const c = await open();
      const r = await c.call({ cmd: "PULL", queue: "l-empty", timeout: 200, reqId: "p" }, 10_000);
      expect(r).toEqual({ reqId: "p", ok: true, job: null });
      c.close();
    });

    test("a delayed job reaches a worker parked before it was due, with no other traffic", async () => {
      const c = await open();
      const pushed = await c.call({ cmd: "PUSH", queue: "l-delay", data: "later", delay: 300 });
      expect((await c.call({ cmd: "GETSTATE", id: pushed.id })).state).toBe("delayed");
      const got = await c.call({ cmd: "PULL", queue: "l-delay", timeout: 10_000 }, 15_000);
      expect(got.job).toMatchObject({ id: pushed.id, data: "later" });
      c.close();
    });

    test("after the server has sat idle, a new connection, a PULL timeout and a delayed job are all served", async () => {
      // The uring loop lengthens its idle waits after ~200 ms without work; what arrives or
      // falls due during such a wait must still end it.
      await Bun.sleep(400);
      const c = await open();
      expect(await c.call({ cmd: "PING" }, 10_000)).toEqual({ ok: true, pong: true });
      await Bun.sleep(400);
      expect((await c.call({ cmd: "PULL", queue: "l-idle-empty", timeout: 100 }, 10_000)).job).toBeNull();
      await Bun.sleep(400);
      const pushed = await c.call({ cmd: "PUSH", queue: "l-idle", data: "x", delay: 100 });
      const got = await c.call({ cmd: "PULL", queue: "l-idle", timeout: 10_000 }, 15_000);
      expect(got.job.id).toBe(pushed.id);
      c.close();
    });

    test("a job due in a month does not keep the idle server awake (timers longer than 2^31 ms)", async () => {
      // setTimeout fires a longer delay after 1 ms: the bun backend woke every millisecond
      // (about 85 ms of CPU a second here) until the deadline was capped at timerDelayMsMax.
      const c = await open();
      await c.call({ cmd: "PUSH", queue: "l-far", data: 1, delay: 30 * 24 * 3600 * 1000 });
      await Bun.sleep(200);
      const before = server.cpuMs()!;
      await Bun.sleep(1000);
      expect(server.cpuMs()! - before).toBeLessThan(30);
      await c.call({ cmd: "OBLITERATE", queue: "l-far" });
      c.close();
    });

    test("an expired lease puts the job back for the next worker", async () => {
      const c = await open();
      const pushed = await c.call({ cmd: "PUSH", queue: "l-lease", data: 1, stall_timeout: 300 });
      const first = await c.call({ cmd: "PULL", queue: "l-lease", timeout: 0 });
      expect(first.job.id).toBe(pushed.id);
      // Nobody heartbeats; the lease runs out on an otherwise idle server.
      const again = await c.call({ cmd: "PULL", queue: "l-lease", timeout: 10_000 }, 15_000);
      expect(again.job.id).toBe(pushed.id);
      expect(again.job.stall_count).toBe(1);
      c.close();
    });
  });
}
