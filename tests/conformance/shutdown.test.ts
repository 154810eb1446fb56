// Conformance, graceful stop, against every I/O backend: SIGTERM while connections are open
// (one owed megabytes it has not read yet, one idle, one halfway through a frame, one parked in
// a PULL). Every reply the server owes for requests it has read is delivered, every connection
// is closed by the server, and the process exits 0.

import { describe, expect, test } from "bun:test";
import { availableBackends, variants } from "../helpers/backends.ts";
import { frame, line, RawClient } from "../helpers/raw-client.ts";
import { ServerProcess, tcpRows } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/shutdown");

/** Waits (bounded) until a TCP socket on `port` has at least `bytes` in its send queue
 *  (/proc/net/tcp tx_queue): the peer stopped reading and the kernel's buffers filled up. */
async function kernelQueueBacksUp(port: number, bytes: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (tcpRows(port).some((f) => parseInt(f[4]!.split(":")[0]!, 16) >= bytes)) return true;
    await Bun.sleep(10);
  }
  return false;
}

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`shutdown [${name}]`, () => {
    test("SIGTERM with connections open: owed replies are flushed, sockets closed, exit 0", async () => {
      const server = await ServerProcess.start({ io, env });
      const clients: RawClient[] = [];
      try {
        const open = async () => {
          const c = await RawClient.connect(server.port);
          clients.push(c);
          return c;
        };
        const data = Buffer.alloc(128 * 1024, 9);
        const setup = await open();
        const { id } = await setup.call({ cmd: "PUSH", queue: "sd-big", data });

        // Owed: 24 replies of 128 KiB (more than the socket buffers take) to a client that is
        // not reading, then a PUSH to a marker queue as its last request.
        const owed = await open();
        owed.pause();
        const n = 24;
        owed.send(Buffer.concat([
          ...Array.from({ length: n }, (_, i) => frame({ cmd: "GETJOB", id, reqId: i })),
          frame({ cmd: "PUSH", queue: "sd-marker", data: "last", reqId: "marker" }),
        ]));
        // When the marker job can be pulled, the server has read and answered everything the
        // owed client sent: those replies are what it must not drop on SIGTERM.
        const watcher = await open();
        const marker = await watcher.call({ cmd: "PULL", queue: "sd-marker", timeout: 10_000 });
        expect(marker.job.data).toBe("last");

        const idle = await open();
        expect(await idle.ask({ cmd: "PING" })).toEqual({ ok: true, pong: true });
        const midFrame = await open();
        const f = frame({ cmd: "PUSH", queue: "sd-partial", data: Buffer.alloc(64 * 1024) });
        midFrame.send(f.subarray(0, f.length / 2));
        const parked = await open();
        parked.send(line({ cmd: "PULL", queue: "sd-empty", timeout: 60_000, reqId: "parked" }));
        expect((await watcher.call({ cmd: "PING" })).pong).toBe(true); // the parked PULL has been read

        server.signal("SIGTERM");
        owed.resume();
        const replies = await owed.frames(n + 1);
        expect(replies.slice(0, n).map((r) => r.reqId)).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(replies.slice(0, n).every((r) => r.job?.id === id && r.job.data.length === data.length)).toBe(true);
        expect(replies[n]).toMatchObject({ reqId: "marker", ok: true });

        expect(await server.exited()).toBe(0);
        for (const c of clients) expect(await c.waitClosed()).toBe(true);
        expect(server.log).toContain("SIGTERM received");
        expect(server.log).toContain("ringq: stopped");
      } finally {
        for (const c of clients) c.close();
        server.kill();
      }
    });

    test("SIGTERM with a client that never reads: new connections refused, exit 0 after the bounded flush", async () => {
      const server = await ServerProcess.start({ io, env });
      const clients: RawClient[] = [];
      try {
        const setup = await RawClient.connect(server.port);
        clients.push(setup);
        const { id } = await setup.call({ cmd: "PUSH", queue: "sd-stuck", data: Buffer.alloc(128 * 1024, 1) });
        const stuck = await RawClient.connect(server.port);
        clients.push(stuck);
        stuck.pause();
        stuck.send(Buffer.concat(Array.from({ length: 128 }, () => frame({ cmd: "GETJOB", id })))); // 16 MiB owed
        expect((await setup.call({ cmd: "PING" })).pong).toBe(true);
        // Stuck for sure before the signal: the kernel's queue towards the client is full (so
        // the server holds the rest itself). Without this wait a slow machine could signal
        // before the server had read enough of the requests, flush what it owed and exit at
        // once, before a late connection could be tried.
        expect(await kernelQueueBacksUp(server.port, 64 * 1024)).toBe(true);
        await Bun.sleep(100);
        server.signal("SIGTERM");
        await server.waitForLog(/SIGTERM received/);
        // While it waits (bounded) for the stuck client, it has stopped accepting: a new
        // connection is refused while the process is still alive.
        let refusedWhileAlive = false;
        for (let i = 0; i < 50 && server.exitCode === null; i++) {
          try {
            const late = await RawClient.connect(server.port, "127.0.0.1", 2_000);
            late.close();
            await Bun.sleep(20);
          } catch {
            refusedWhileAlive = server.exitCode === null;
            break;
          }
        }
        expect(refusedWhileAlive).toBe(true);
        expect(await server.exited(15_000)).toBe(0);
        expect(server.log).toContain("ringq: stopped");
      } finally {
        for (const c of clients) c.close();
        server.kill();
      }
    }, 30_000);

    test("SIGTERM after the clients have gone exits 0", async () => {
      const server = await ServerProcess.start({ io, env });
      try {
        const c = await RawClient.connect(server.port);
        expect((await c.call({ cmd: "PING" })).pong).toBe(true);
        c.close();
        server.signal("SIGTERM");
        expect(await server.exited()).toBe(0);
      } finally {
        server.kill();
      }
    });
  });
}
