// Conformance, connection lifecycle, against every I/O backend: a thousand clients at once, and
// clients that vanish abruptly (RST) mid-frame, mid-large-frame and with replies still owed.
// The server must survive each, must not lose a job it acknowledged, must not store a job
// whose frame never completed, and must not store any job twice.

import { describe, expect, test } from "bun:test";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { frame, line } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/connections");

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`connections [${name}]`, () => {
    let server!: ServerProcess;
    const open = serverPerSuite({ io, env }, (s) => (server = s));

    /** Every job in a queue, drained with PULLB on a fresh connection (data -> count). */
    async function drain(queue: string): Promise<{ ids: number[]; data: unknown[] }> {
      const c = await open();
      const ids: number[] = [];
      const data: unknown[] = [];
      for (;;) {
        const r = await c.call({ cmd: "PULLB", queue, count: 1000, timeout: 0 });
        expect(r.ok).toBe(true);
        if (r.jobs.length === 0) break;
        for (const j of r.jobs) {
          ids.push(j.id);
          data.push(j.data);
        }
      }
      c.close();
      return { ids, data };
    }


    if (io === "uring") {
      test("the server runs the file mode this variant asks for (so the suite covers it)", () => {
        expect(server.ioLine).toContain(env.RINGQ_URING_FILES === "direct" ? "direct descriptors (RINGQ_URING_FILES=direct)" : "plain fds,");
      });
    }

    test("a TCP port in use stops start-up with one message naming TCP_PORT", async () => {
      const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      try {
        const s = ServerProcess.spawn({ io, env: { ...env, TCP_PORT: String(holder.port) } });
        expect(await s.exited()).toBe(1);
        expect(s.log).toContain("EADDRINUSE");
        expect(s.log.split("set TCP_PORT").length - 1).toBe(1);
      } finally {
        holder.stop(true);
      }
    });

    test("1000 concurrent connections each PUSH and PULL; every job is delivered exactly once", async () => {
      const n = 1000;
      const fdsBefore = server.fdCount()!;
      expect(fdsBefore).toBeGreaterThan(3);
      const clients = await Promise.all(Array.from({ length: n }, () => open()));
      try {
        // Half the connections speak text, half binary, all at once.
        const results = await Promise.all(clients.map(async (c, i) => {
          const text = i % 2 === 1;
          const push = { cmd: "PUSH", queue: "c-thousand", data: i, reqId: `push-${i}` };
          const pull = { cmd: "PULL", queue: "c-thousand", timeout: 10_000, reqId: `pull-${i}` };
          c.send(text ? Buffer.concat([line(push), line(pull)]) : Buffer.concat([frame(push), frame(pull)]));
          const replies = text ? await c.lines(2, 20_000) : await c.frames(2, 20_000);
          const byId = Object.fromEntries(replies.map((r) => [r.reqId, r]));
          return { pushed: byId[`push-${i}`], pulled: byId[`pull-${i}`] };
        }));
        expect(results.every((r) => r.pushed?.ok === true && r.pulled?.ok === true)).toBe(true);
        const pushedIds = results.map((r) => r.pushed.id as number).sort((a, b) => a - b);
        const pulledIds = results.map((r) => r.pulled.job.id as number).sort((a, b) => a - b);
        expect(new Set(pushedIds).size).toBe(n);
        expect(pulledIds).toEqual(pushedIds);
        const pulledData = results.map((r) => r.pulled.job.data as number).sort((a, b) => a - b);
        expect(pulledData).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(server.fdCount()!).toBeGreaterThanOrEqual(fdsBefore + n); // all served, all open at once
      } finally {
        for (const c of clients) c.close();
      }
      const check = await open();
      expect((await check.call({ cmd: "COUNT", queue: "c-thousand" })).count).toBe(0);
      check.close();
      // All thousand closed at once: every descriptor comes back (bounded wait, closes are async).
      const deadline = Date.now() + 10_000;
      while (server.fdCount()! > fdsBefore + 2 && Date.now() < deadline) await Bun.sleep(50);
      expect(server.fdCount()!).toBeLessThanOrEqual(fdsBefore + 2);
    });

    test("200 connections push 128 KiB each at once (more than all receive buffers); every byte arrives", async () => {
      // 25 MiB in flight against the uring backend's 16 MiB of provided receive buffers: the
      // kernel runs out of buffers (ENOBUFS) and receives must be re-armed without losing data.
      const data = Buffer.alloc(128 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
      const clients = await Promise.all(Array.from({ length: 200 }, () => open()));
      try {
        const replies = await Promise.all(clients.map(async (c, i) => {
          c.send(frame({ cmd: "PUSH", queue: "c-flood", data, reqId: i }));
          return c.frame(20_000);
        }));
        expect(replies.every((r, i) => r.ok === true && r.reqId === i)).toBe(true);
      } finally {
        for (const c of clients) c.close();
      }
      const got = await drain("c-flood");
      expect(got.ids.length).toBe(200);
      expect(got.data.every((d) => Buffer.from(d as Uint8Array).equals(data))).toBe(true);
    });

    test("500 connections opened and ended every way leave no file descriptor behind", async () => {
      const { id } = await (async () => {
        const c = await open();
        const r = await c.call({ cmd: "PUSH", queue: "c-churn", data: Buffer.alloc(64 * 1024, 2) });
        c.close();
        return r;
      })();
      const steady = await open();
      expect((await steady.call({ cmd: "PING" })).pong).toBe(true);
      const baseline = server.fdCount()!;
      expect(baseline).toBeGreaterThan(3);
      let bad = 0;
      for (let round = 0; round < 50; round++) {
        // Ten at a time: read the reply and FIN, reset with the reply unread, reset mid-frame,
        // FIN without waiting, or never send anything.
        await Promise.all(Array.from({ length: 10 }, async (_, k) => {
          const c = await open();
          const req = frame({ cmd: "GETJOB", id });
          switch (k % 5) {
            case 0:
              c.send(req);
              if ((await c.frame()).job?.id !== id) bad++;
              c.close();
              break;
            case 1:
              c.send(req);
              c.reset();
              break;
            case 2:
              c.send(req.subarray(0, 7));
              c.reset();
              break;
            case 3:
              c.send(req);
              c.sock.end();
              break;
            default:
              c.close();
          }
        }));
        const g = await steady.call({ cmd: "GETJOB", id, reqId: round });
        if (g.reqId !== round || g.job?.data.length !== 64 * 1024) bad++;
      }
      expect(bad).toBe(0);
      // Closes finish asynchronously (cancel, close, free the slot): wait, bounded, for the
      // descriptors to come back.
      const deadline = Date.now() + 10_000;
      let fds = server.fdCount()!;
      while (fds > baseline + 2 && Date.now() < deadline) {
        await Bun.sleep(50);
        fds = server.fdCount()!;
      }
      expect(fds).toBeGreaterThan(3);
      expect(fds).toBeLessThanOrEqual(baseline + 2);
      steady.close();
    });

    test("clients that reset mid-frame: acknowledged jobs kept once, the partial one never stored", async () => {
      const clients = 50;
      const perClient = 20;
      await Promise.all(Array.from({ length: clients }, async (_, k) => {
        const c = await open();
        const text = k % 2 === 1;
        const reqs = Array.from({ length: perClient }, (_, i) => ({ cmd: "PUSH", queue: "c-reset", data: `${k}:${i}` }));
        c.send(Buffer.concat(reqs.map((r) => (text ? line(r) : frame(r)))));
        const replies = text ? await c.lines(perClient) : await c.frames(perClient);
        expect(replies.every((r) => r.ok === true)).toBe(true);
        // Half of one more request, then an abrupt reset.
        const partial = text ? line({ cmd: "PUSH", queue: "c-reset", data: `${k}:partial` }) : frame({ cmd: "PUSH", queue: "c-reset", data: `${k}:partial` });
        c.send(partial.subarray(0, Math.max(1, partial.length - 5 - (k % 7))));
        await new Promise<void>((r) => setImmediate(r));
        c.reset();
      }));
      const alive = await open();
      expect(await alive.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
      alive.close();
      const { data } = await drain("c-reset");
      const expected = [];
      for (let k = 0; k < clients; k++) for (let i = 0; i < perClient; i++) expected.push(`${k}:${i}`);
      expect([...data].sort()).toEqual(expected.sort());
    });

    test("a client that resets in the middle of a 1 MiB frame does not disturb the others", async () => {
      const big = frame({ cmd: "PUSH", queue: "c-reset-big", data: Buffer.alloc(1024 * 1024, 7) });
      const victims = await Promise.all(Array.from({ length: 8 }, () => open()));
      const bystander = await open();
      await Promise.all(victims.map(async (v, i) => {
        await v.sendInPieces(big.subarray(0, 100_000 + i * 100_000), 32 * 1024, i);
        v.reset();
      }));
      expect((await bystander.call({ cmd: "PUSH", queue: "c-reset-big", data: "small" })).ok).toBe(true);
      expect((await drain("c-reset-big")).data).toEqual(["small"]);
      bystander.close();
    });

    test("a client that resets while the server still owes it megabytes of replies", async () => {
      const c = await open();
      const pushed = await c.call({ cmd: "PUSH", queue: "c-owed", data: Buffer.alloc(256 * 1024, 1) });
      expect(pushed.ok).toBe(true);
      c.pause();
      // ~64 MiB of replies owed to a client that stops reading and then resets.
      c.send(Buffer.concat(Array.from({ length: 256 }, () => frame({ cmd: "GETJOB", id: pushed.id }))));
      const other = await open();
      expect((await other.call({ cmd: "PUSH", queue: "c-owed-2", data: 1 })).ok).toBe(true);
      c.reset();
      // The server keeps serving, and the job the vanished client read is untouched.
      const got = await other.call({ cmd: "GETJOB", id: pushed.id });
      expect(got.state).toBe("waiting");
      expect(got.job.data.length).toBe(256 * 1024);
      expect((await other.call({ cmd: "COUNT", queue: "c-owed-2" })).count).toBe(1);
      other.close();
    });

    // Guards half-close on uring (1dc660f): recv EOF used to report the connection gone before
    // the turn that makes the replies, so the requests were applied and all replies dropped
    // (`printf '{"cmd":"STATS"}\n' | nc -N host 6789` printed nothing).
    test("a client that half-closes (FIN) after its requests still gets every reply", async () => {
      const c = await open();
      try {
        c.send(Buffer.concat(Array.from({ length: 100 }, (_, i) => line({ cmd: "PUSH", queue: "c-half", data: i, reqId: i }))));
        c.sock.end(); // shutdown(SHUT_WR): "that is all I am sending; now answer"
        const replies = await c.lines(100, 5_000);
        expect(replies.map((r) => r.reqId)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        expect(replies.every((r) => r.ok === true)).toBe(true);
        expect(await c.waitClosed()).toBe(true);
      } finally {
        c.close();
      }
    });

    test("a client that closes cleanly right after sending gets its requests applied exactly once", async () => {
      const c = await open();
      c.send(Buffer.concat(Array.from({ length: 100 }, (_, i) => frame({ cmd: "PUSH", queue: "c-fin", data: i }))));
      c.sock.end(); // FIN: everything sent before it must still be read and applied
      await c.waitClosed();
      const got = await drain("c-fin");
      expect([...(got.data as number[])].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(server.exitCode).toBeNull();
    });
  });
}
