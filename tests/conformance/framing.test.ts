// Conformance, bytes in and out: the same tests against every I/O backend (RINGQ_IO=bun and
// RINGQ_IO=uring), each on its own server process. Framing in both modes under any split of the
// input, pipelining, and frames far larger than one receive buffer (the uring backend reads into
// 8 KiB provided buffers and sends from 16 KiB arena chunks, so a 1 MiB frame crosses ~128 of
// each). Protocol semantics proper are in tests/protocol; here the question is "does the backend
// deliver every byte, once, in order".

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { frameBytesMax, jobDataBytesMax } from "../../src/constants.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { freePort } from "../helpers/ports.ts";
import { frame, line, RawClient } from "../helpers/raw-client.ts";
import { rng } from "../helpers/rng.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/framing");

/** Bytes that are not all the same, so a lost, repeated or reordered chunk changes the hash. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  const next = rng(seed);
  for (let i = 0; i < n; i++) b[i] = (next() * 256) | 0;
  return b;
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`framing and pipelining [${name}]`, () => {
    let server!: ServerProcess;
    const open = serverPerSuite({ io, env }, (s) => (server = s));


    test("the start-up line, HELLO and STATS name the backend that is running", async () => {
      expect(server.ioLine).toMatch(io === "bun" ? /^IO backend: bun sockets/ : /^IO backend: io_uring/);
      // The variant really runs the wake-up path it is named after.
      if (env.RINGQ_URING_WAKE === "doorbell") expect(server.ioLine).toContain("eventfd doorbell");
      const c = await open();
      const hello = await c.call({ cmd: "HELLO", protocol_version: 1 });
      expect(hello).toMatchObject({ ok: true, server: "ringq", io_backend: io });
      expect((await c.call({ cmd: "STATS" })).io_backend).toBe(io);
      c.close();
      const t = await open();
      expect((await t.ask({ cmd: "HELLO", protocol_version: 1 })).io_backend).toBe(io);
      t.close();
    });

    test("text mode: JSON lines, CRLF, reqId echo, blank line error; binary mode: frames", async () => {
      const t = await open();
      t.send('{"cmd":"PUSH","queue":"f-text","data":{"n":1},"reqId":"a"}\r\n\n');
      const pushed = await t.line();
      expect(pushed).toEqual({ reqId: "a", ok: true, id: expect.any(Number) });
      expect((await t.line()).ok).toBe(false);
      const pulled = await t.ask({ cmd: "PULL", queue: "f-text", timeout: 0 });
      expect(pulled.job).toMatchObject({ id: pushed.id, data: { n: 1 } });
      t.close();

      const b = await open();
      const p = await b.call({ cmd: "PUSH", queue: "f-bin", data: { n: 2 }, reqId: "b" });
      expect(p).toEqual({ reqId: "b", ok: true, id: expect.any(Number) });
      expect((await b.call({ cmd: "PULL", queue: "f-bin", timeout: 0 })).job).toMatchObject({ id: p.id, data: { n: 2 } });
      b.close();
    });

    test("a line and a frame delivered one byte per write are reassembled", async () => {
      const t = await open();
      const writes = await t.sendInPieces(line({ cmd: "PING", reqId: "byte-by-byte" }), 1);
      expect(writes).toBeGreaterThan(30);
      expect(await t.line()).toEqual({ reqId: "byte-by-byte", ok: true, pong: true });
      t.close();

      const b = await open();
      // Two frames: the split falls inside the 4-byte length of the second one too.
      await b.sendInPieces(Buffer.concat([frame({ cmd: "PING", reqId: 1 }), frame({ cmd: "PING", reqId: 2 })]), 1);
      expect(await b.frames(2)).toEqual([
        { reqId: 1, ok: true, pong: true },
        { reqId: 2, ok: true, pong: true },
      ]);
      b.close();
    });

    test("1000 pipelined PUSHes split at random boundaries are answered once each, in order", async () => {
      for (const mode of ["binary", "text"] as const) {
        const c = await open();
        const enc = mode === "binary" ? frame : line;
        const n = 1000;
        const all = Buffer.concat(Array.from({ length: n }, (_, i) => enc({ cmd: "PUSH", queue: `f-pipe-${mode}`, data: i })));
        await c.sendInPieces(all, 3000, 7);
        const replies = mode === "binary" ? await c.frames(n) : await c.lines(n);
        const ids = replies.map((r) => r.id as number);
        expect(replies.every((r) => r.ok === true)).toBe(true);
        // In order: the server assigns increasing ids, so request order shows in the ids.
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
        expect(new Set(ids).size).toBe(n);
        const pulled = mode === "binary"
          ? await c.call({ cmd: "PULLB", queue: `f-pipe-${mode}`, count: n, timeout: 0 })
          : await c.ask({ cmd: "PULLB", queue: `f-pipe-${mode}`, count: n, timeout: 0 });
        expect(pulled.jobs.map((j: any) => j.data)).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(c.buffered).toBe(0);
        c.close();
      }
    });

    test("a parked PULL with reqId does not hold up later requests on the same connection", async () => {
      const c = await open();
      c.send(Buffer.concat([
        frame({ cmd: "PULL", queue: "f-park", timeout: 10_000, reqId: "pull" }),
        frame({ cmd: "PING", reqId: "ping" }),
        frame({ cmd: "PUSH", queue: "f-park", data: "wake", reqId: "push" }),
      ]));
      const replies = await c.frames(3);
      const byId = Object.fromEntries(replies.map((r) => [r.reqId, r]));
      expect(replies[0].reqId).toBe("ping");
      expect(byId.push.ok).toBe(true);
      expect(byId.pull.job).toMatchObject({ id: byId.push.id, data: "wake" });
      c.close();
    });

    test("a ~1 MiB job in many small writes comes back byte for byte, binary and text", async () => {
      const data = pattern(1024 * 1024 - 100, 11);
      const b = await open();
      const writes = await b.sendInPieces(frame({ cmd: "PUSH", queue: "f-big-bin", data }), 8 * 1024, 3);
      expect(writes).toBeGreaterThan(128);
      const pushed = await b.frame();
      expect(pushed.ok).toBe(true);
      const got = await b.call({ cmd: "PULL", queue: "f-big-bin", timeout: 0 });
      expect(got.job.id).toBe(pushed.id);
      expect(sha(got.job.data)).toBe(sha(data));
      b.close();

      const text = data.toString("base64"); // ~1.33 MiB line
      const t = await open();
      await t.sendInPieces(line({ cmd: "PUSH", queue: "f-big-text", data: text }), 16 * 1024, 4);
      const tp = await t.line();
      expect(tp.ok).toBe(true);
      const tg = await t.ask({ cmd: "PULL", queue: "f-big-text", timeout: 0 });
      expect(tg.job.id).toBe(tp.id);
      expect(tg.job.data === text).toBe(true);
      t.close();
    });

    test("large frames pipelined with small ones keep their order and content", async () => {
      const c = await open();
      const blobs = [300_000, 5, 700_000, 1, 1_000_000].map((n, i) => pattern(n, 100 + i));
      const req = Buffer.concat(blobs.flatMap((data, i) => [
        frame({ cmd: "PUSH", queue: "f-mixed", data, reqId: `big-${i}` }),
        frame({ cmd: "PING", reqId: `small-${i}` }),
      ]));
      await c.sendInPieces(req, 64 * 1024, 5);
      const replies = await c.frames(blobs.length * 2);
      expect(replies.map((r) => r.reqId)).toEqual(blobs.flatMap((_, i) => [`big-${i}`, `small-${i}`]));
      const pulled = await c.call({ cmd: "PULLB", queue: "f-mixed", count: 10, timeout: 0 });
      expect(pulled.jobs.map((j: any) => sha(j.data))).toEqual(blobs.map(sha));
      c.close();
    });

    test("a job near the data limit (~10 MiB) round-trips; a frame at the frame limit is answered", async () => {
      const data = pattern(jobDataBytesMax - 64 * 1024, 21);
      const c = await open();
      await c.sendInPieces(frame({ cmd: "PUSH", queue: "f-huge", data, reqId: "huge" }), 256 * 1024, 6);
      const pushed = await c.frame(20_000);
      expect(pushed).toMatchObject({ reqId: "huge", ok: true });
      const got = await c.call({ cmd: "PULL", queue: "f-huge", timeout: 0 }, 20_000);
      expect(sha(got.job.data)).toBe(sha(data));

      // Exactly frameBytesMax bytes of frame body: framing accepts it, the data limit refuses it,
      // and the connection stays usable.
      const body = Buffer.from(frame({ cmd: "PUSH", queue: "f-huge", reqId: "limit", data: Buffer.alloc(frameBytesMax - 80) }));
      const len = body.readUInt32BE(0);
      expect(len).toBeLessThanOrEqual(frameBytesMax);
      expect(len).toBeGreaterThan(frameBytesMax - 100);
      await c.sendInPieces(body, 512 * 1024, 8);
      const refused = await c.frame(20_000);
      expect(refused).toMatchObject({ reqId: "limit", ok: false });
      expect(refused.error).toMatch(/too large|limit/i);
      expect(await c.call({ cmd: "PING", reqId: "after" })).toEqual({ reqId: "after", ok: true, pong: true });
      c.close();
    });

    test("a line over the limit is discarded with an error, and the next line on it is served", async () => {
      const c = await open();
      const head = Buffer.from('{"cmd":"PUSH","queue":"f-long","data":"');
      const body = Buffer.alloc(frameBytesMax + 1024, 0x61);
      await c.sendInPieces(Buffer.concat([head, body, Buffer.from('"}\n')]), 512 * 1024, 9);
      c.send(line({ cmd: "PING", reqId: "after" }));
      const err = await c.line(20_000);
      expect(err.ok).toBe(false);
      expect(err.error).toContain("Line too long");
      expect(await c.line(20_000)).toEqual({ reqId: "after", ok: true, pong: true });
      expect((await c.ask({ cmd: "COUNT", queue: "f-long" })).count).toBe(0);
      c.close();
    });

    test("a fatal frame error behind 8 MiB of queued replies: every reply, then the error, then the close", async () => {
      // Close-after-flush with more output queued than one connection may hold in the uring
      // send arena (4 MiB): nothing queued before the error may be dropped by the close.
      const setup = await open();
      const { id } = await setup.call({ cmd: "PUSH", queue: "f-flush", data: Buffer.alloc(128 * 1024, 5) });
      const c = await open();
      c.pause();
      const header = Buffer.alloc(4);
      header.writeUInt32BE(0x7fffffff, 0);
      c.send(Buffer.concat([...Array.from({ length: 64 }, (_, i) => frame({ cmd: "GETJOB", id, reqId: i })), header]));
      expect((await setup.call({ cmd: "PING" })).pong).toBe(true);
      c.resume();
      const replies = await c.frames(64);
      expect(replies.map((r) => r.reqId)).toEqual(Array.from({ length: 64 }, (_, i) => i));
      expect(replies.every((r) => r.job?.data.length === 128 * 1024)).toBe(true);
      expect(await c.frame()).toMatchObject({ ok: false, code: "TOO_LARGE" });
      expect(await c.waitClosed()).toBe(true);
      setup.close();
    });

    test("a frame over the limit gets an error frame, then the server closes that connection only", async () => {
      const c = await open();
      const header = Buffer.alloc(4);
      header.writeUInt32BE(frameBytesMax + 1, 0);
      c.send(Buffer.concat([header, Buffer.alloc(1000)]));
      const err = await c.frame();
      expect(err).toMatchObject({ ok: false, code: "TOO_LARGE" });
      expect(await c.waitClosed()).toBe(true);
      const other = await open();
      expect(await other.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
      other.close();
    });
  });

  describe.skipIf(!avail[io].available)(`large replies to many connections at once [${name}]`, () => {
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

    // Connections written to in the same turns take send-arena chunks in turn, and chunks come
    // back in the order sends finish, so a connection's reply soon lies in chunks apart from
    // each other: the io_uring backend gathers them into one send (SENDMSG over several runs).
    test("every reply arrives whole and in order; on io_uring, sends gathered scattered chunks", async () => {
      const setup = await RawClient.connect(server.port);
      const next = rng(7);
      const blobs = Array.from({ length: 24 }, (_, i) => pattern(20_000 + Math.floor(next() * 50_000), 300 + i));
      const ids: number[] = [];
      for (const data of blobs) ids.push((await setup.call({ cmd: "PUSH", queue: "f-scatter", data })).id);
      setup.close();
      const conns = await Promise.all(Array.from({ length: 6 }, () => RawClient.connect(server.port)));
      for (let round = 0; round < 12; round++) {
        // Each connection asks for 1-4 jobs in one write; all writes go out back to back.
        const asked = conns.map(() => Array.from({ length: 1 + Math.floor(next() * 4) }, () => Math.floor(next() * blobs.length)));
        conns.forEach((c, k) => c.send(Buffer.concat(asked[k]!.map((b, j) => frame({ cmd: "GETJOB", id: ids[b], reqId: `${round}-${j}` })))));
        const replies = await Promise.all(conns.map((c, k) => c.frames(asked[k]!.length)));
        replies.forEach((got, k) => {
          expect(got.map((r) => r.reqId)).toEqual(asked[k]!.map((_, j) => `${round}-${j}`));
          expect(got.map((r) => sha(r.job.data))).toEqual(asked[k]!.map((b) => sha(blobs[b]!)));
        });
      }
      for (const c of conns) c.close();
      const metrics = (await (await fetch(`${base}/metrics`)).text());
      const gathered = Number(/^ringq_io_uring_gathered_sends_total (\d+)/m.exec(metrics)?.[1] ?? NaN);
      if (io === "uring") expect(gathered).toBeGreaterThan(0);
      else expect(metrics).not.toContain("ringq_io_uring_gathered_sends_total");
    });
  });
}
