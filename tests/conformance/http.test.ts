// Conformance of the HTTP face on every I/O backend: Bun.serve shares the main thread with the
// io_uring loop, which hands it back to Bun when Bun has work (a POLL on Bun's epoll, or the
// eventfd doorbell). HTTP work that changes the engine outside the backend's events (an HTTP
// push that serves a parked TCP pull, a TCP push that answers a parked HTTP pull, events to an
// SSE stream) must be carried out on each backend, also after the ring has gone idle.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { availableBackends, variants } from "../helpers/backends.ts";
import { freePort } from "../helpers/ports.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";
import { call, SseReader } from "../http/helpers.ts";

const avail = await availableBackends("conformance/http");

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`HTTP beside the protocol port [${name}]`, () => {
    let server: ServerProcess;
    let base: string;
    beforeAll(async () => {
      const httpPort = await freePort();
      server = await ServerProcess.start({ io, env: { ...env, HTTP_PORT: String(httpPort) } });
      base = `http://127.0.0.1:${httpPort}`;
    });
    afterAll(async () => {
      await server.stop();
    });

    test("the start-up line names both ports; /ready and /server name the backend that runs", async () => {
      expect(server.startupLine).toContain(`HTTP on 127.0.0.1:${new URL(base).port}`);
      expect((await call(base, "GET", "/ready")).status).toBe(200);
      expect((await call(base, "GET", "/server")).body.io_backend).toBe(io);
    });

    test("an HTTP push serves a parked TCP pull; a TCP push answers a parked HTTP pull; SSE sees both", async () => {
      const events = await SseReader.open(`${base}/events/xc?events=waiting`);
      const tcp = await RawClient.connect(server.port);
      // Let the ring go idle first (its long idle wait), so the HTTP request has to wake it.
      await Bun.sleep(400);
      const parked = tcp.call({ cmd: "PULL", queue: "xc", timeout: 5000 });
      await Bun.sleep(50);
      const pushed = await call(base, "POST", "/queues/xc/jobs", { data: { via: "http" } });
      expect((await parked).job).toMatchObject({ id: pushed.body.id, data: { via: "http" } });
      await Bun.sleep(400);
      const httpPull = call(base, "POST", "/queues/xc/pull?timeout=5000");
      await Bun.sleep(50);
      const { id } = await tcp.call({ cmd: "PUSH", queue: "xc", data: "via tcp" });
      expect((await httpPull).body.job).toMatchObject({ id, data: "via tcp" });
      expect((await events.next()).id).toBe(pushed.body.id);
      expect((await events.next()).id).toBe(id);
      events.close();
      tcp.close();
    });

    test("/metrics shows the backend's figures", async () => {
      const text = (await call(base, "GET", "/metrics")).text;
      expect(text).toContain(`io_backend="${io}"`);
      expect(text).toMatch(/^ringq_io_loop_turns_total [1-9]/m);
      if (io === "uring") expect(text).toMatch(/^ringq_io_uring_enters_total [1-9]/m);
      else expect(text).not.toContain("ringq_io_uring_enters_total");
    });
  });
}
