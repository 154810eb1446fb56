// What only the io_uring backend has: the start-up probe and its reasons, the two ways the
// hybrid loop gets woken (a POLL on Bun's epoll fd, or the eventfd doorbell when idle), and the
// two ways it holds accepted connections (direct descriptors, or plain fds). The
// behaviour both backends share is tests/conformance. Skips only where the kernel lacks
// io_uring, printing why.

import { afterEach, describe, expect, test } from "bun:test";
import { probeUring } from "../../src/io/uring-probe.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { readdirSync, readlinkSync } from "node:fs";
import { RawClient } from "../helpers/raw-client.ts";
import { heldSocketInodes } from "../helpers/server-process.ts";

const probe = await probeUring();
const why = probe.ok ? "" : `${probe.reason}; ${probe.remedy}`;
if (probe.ok) await probe.backend.stop(); // the probe's ring was never listened on
else console.error(`tests/io/uring.test.ts: io_uring unavailable here, skipping: ${why}`);

describe("probe", () => {
  test("a shim that cannot be loaded is a reason with a remedy, not a crash", async () => {
    const saved = process.env.RINGQ_URING_SHIM;
    process.env.RINGQ_URING_SHIM = "/nonexistent/libringq_uring.so";
    try {
      const p = await probeUring();
      expect(p.ok).toBe(false);
      if (!p.ok) {
        expect(p.reason).toContain("/nonexistent/libringq_uring.so");
        expect(p.remedy).toContain("RINGQ_URING_SHIM"); // rebuilding would not help
      }
    } finally {
      if (saved === undefined) delete process.env.RINGQ_URING_SHIM;
      else process.env.RINGQ_URING_SHIM = saved;
    }
  });

  test("a forced RINGQ_IO=uring that is unavailable fails start-up with the reason", async () => {
    process.env.RINGQ_URING_SHIM = "/nonexistent/libringq_uring.so";
    try {
      await expect(startServer({ host: "127.0.0.1", port: 0, io: "uring", log: () => {} })).rejects.toThrow(
        /RINGQ_IO=uring but io_uring is unavailable: shim not loadable/,
      );
      const s = await startServer({ host: "127.0.0.1", port: 0, io: "auto", log: () => {} });
      expect(s.backend.name).toBe("bun");
      expect(s.startupLine).toContain("io_uring unavailable (shim not loadable");
      await s.stop();
    } finally {
      delete process.env.RINGQ_URING_SHIM;
    }
  });
});

for (const wake of ["poll", "doorbell"] as const) {
  describe.skipIf(!probe.ok)(`io_uring loop woken by ${wake}`, () => {
    let server: RunningServer | null = null;
    afterEach(async () => {
      await server?.stop();
      server = null;
    });

    async function start(): Promise<RunningServer> {
      if (wake === "doorbell") process.env.RINGQ_URING_WAKE = "doorbell";
      try {
        server = await startServer({ host: "127.0.0.1", port: 0, io: "uring", log: () => {} });
      } finally {
        delete process.env.RINGQ_URING_WAKE;
      }
      return server;
    }

    test("the start-up line names the backend, its ring flags and how Bun wakes it", async () => {
      const s = await start();
      expect(s.backend.name).toBe("uring");
      expect(s.startupLine).toMatch(/IO backend: io_uring \(kernel-level async, (SINGLE_ISSUER\|DEFER_TASKRUN|COOP_TASKRUN\|TASKRUN_FLAG)/);
      expect(s.startupLine).toContain(wake === "poll" ? "POLL on Bun's epoll" : "eventfd doorbell");
    });

    test("a parked PULL is answered when another connection pushes", async () => {
      const s = await start();
      const worker = await RawClient.connect(s.port);
      const producer = await RawClient.connect(s.port);
      worker.send(
        new TextEncoder().encode(JSON.stringify({ cmd: "PULL", queue: "q", timeout: 5000 }) + "\n"),
      );
      expect(await worker.silentFor(30)).toBe(true); // parked: nothing to give yet
      expect((await producer.ask({ cmd: "PUSH", queue: "q", data: { n: 7 } })).ok).toBe(true);
      const reply = await worker.line();
      expect(reply.job.data).toEqual({ n: 7 });
      worker.close();
      producer.close();
    });

    test("an idle server wakes for the engine's own deadline: a delayed job reaches a parked PULL", async () => {
      const s = await start();
      const c = await RawClient.connect(s.port);
      expect((await c.ask({ cmd: "PUSH", queue: "d", data: 1, delay: 80 })).ok).toBe(true);
      const before = Date.now();
      c.send(JSON.stringify({ cmd: "PULL", queue: "d", timeout: 5000 }) + "\n");
      const reply = await c.line();
      expect(reply.job.id).toBeGreaterThan(0);
      expect(Date.now() - before).toBeGreaterThanOrEqual(60); // not served before its delay
      c.close();
    });

    test("Bun's own timers and sockets keep running while the ring waits", async () => {
      const s = await start();
      // An in-process Bun.listen echo server: its sockets live in Bun's epoll, not the ring.
      const echo = Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        socket: { data(sock, d) { sock.write(d); } },
      });
      try {
        const ticks: number[] = [];
        const timer = setInterval(() => ticks.push(Date.now()), 5);
        const e = await RawClient.connect(echo.port);
        const c = await RawClient.connect(s.port);
        for (let i = 0; i < 20; i++) {
          e.send(`{"i":${i}}\n`);
          expect((await e.line()).i).toBe(i);
          expect((await c.ask({ cmd: "PING" })).ok).toBe(true);
        }
        await Bun.sleep(60);
        clearInterval(timer);
        expect(ticks.length).toBeGreaterThan(3);
        e.close();
        c.close();
      } finally {
        echo.stop(true);
      }
    });
  });
}

describe.skipIf(!probe.ok)("io_uring accepted connections: direct descriptors or plain fds", () => {
  let server: RunningServer | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
    delete process.env.RINGQ_URING_FILES;
  });

  /** This process's socket inodes, from /proc/self/fd. */
  function ownSockets(): Set<string> {
    const out = new Set<string>();
    for (const fd of readdirSync("/proc/self/fd")) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch {
        // closed since the listing
      }
    }
    return out;
  }

  async function served(files: string | undefined): Promise<{ s: RunningServer; held: string[]; inFdTable: boolean }> {
    if (files !== undefined) process.env.RINGQ_URING_FILES = files;
    const s = (server = await startServer({ host: "127.0.0.1", port: 0, io: "uring", log: () => {} }));
    const c = await RawClient.connect(s.port);
    expect((await c.ask({ cmd: "PING" })).ok).toBe(true);
    const held = heldSocketInodes(s.port); // the server's end of c
    const own = ownSockets();
    const inFdTable = held.length === 1 && own.has(held[0]!);
    c.close();
    const deadline = Date.now() + 5_000;
    while (heldSocketInodes(s.port).length > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(heldSocketInodes(s.port)).toEqual([]); // closed by the server once the client left
    return { s, held, inFdTable };
  }

  test("by default a connection is a plain fd, and the start-up line says so", async () => {
    const { s, held, inFdTable } = await served(undefined);
    expect(s.startupLine).toContain("plain fds,");
    expect(held.length).toBe(1);
    expect(inFdTable).toBe(true);
  });

  test("RINGQ_URING_FILES=direct makes it a direct descriptor: the server holds its socket, and no fd names it", async () => {
    const { s, held, inFdTable } = await served("direct");
    expect(s.startupLine).toContain("direct descriptors (RINGQ_URING_FILES=direct)");
    expect(held.length).toBe(1);
    expect(inFdTable).toBe(false);
  });

  test("RINGQ_URING_FILES=plain is the default, said the same way", async () => {
    const { s, inFdTable } = await served("plain");
    expect(s.startupLine).toContain("plain fds,");
    expect(inFdTable).toBe(true);
  });

  test("an unknown RINGQ_URING_FILES is refused by name (required io_uring) or falls back with it (auto)", async () => {
    process.env.RINGQ_URING_FILES = "fixed";
    await expect(startServer({ host: "127.0.0.1", port: 0, io: "uring", log: () => {} })).rejects.toThrow(
      /RINGQ_URING_FILES=fixed is not direct or plain/,
    );
    server = await startServer({ host: "127.0.0.1", port: 0, io: "auto", log: () => {} });
    expect(server.backend.name).toBe("bun");
    expect(server.startupLine).toContain("RINGQ_URING_FILES=fixed is not direct or plain");
  });
});
