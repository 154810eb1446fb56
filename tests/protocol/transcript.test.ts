// Protocol transcripts over a real socket (Bun backend): send these bytes, expect these replies.
// Text (JSON lines) and binary (length-prefixed MessagePack) modes, framing edge cases,
// pipelining and reply order, validation, auth, and event-driven PULL.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pack } from "msgpackr";
import { frameBytesMax, pushBatchJobsMax } from "../../src/constants.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { frame, line, RawClient } from "../helpers/raw-client.ts";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", log: () => {} });
});
afterAll(async () => {
  await server.stop();
});

const open = () => RawClient.connect(server.port);

describe("text mode", () => {
  test("push, pull, ack round trip with reqId echo", async () => {
    const w = await open();
    const pushed = await w.ask({ cmd: "PUSH", queue: "t-basic", data: { n: 1 }, reqId: "a" });
    expect(pushed).toEqual({ reqId: "a", ok: true, id: expect.any(Number) });
    const pulled = await w.ask({ cmd: "PULL", queue: "t-basic", timeout: 0 });
    expect(pulled.job.id).toBe(pushed.id);
    expect(pulled.job.data).toEqual({ n: 1 });
    expect(typeof pulled.job.lock_token).toBe("string");
    expect(await w.ask({ cmd: "ACK", id: pushed.id, result: [1, 2] })).toEqual({ ok: true });
    expect(await w.ask({ cmd: "GETRESULT", id: pushed.id })).toEqual({ ok: true, id: pushed.id, result: [1, 2] });
    w.close();
  });

  test("malformed JSON gets an error carrying the reqId, and the connection stays open", async () => {
    const w = await open();
    w.send('{"cmd":"PING","reqId":"x1", oops}\n');
    expect(await w.line()).toEqual({ reqId: "x1", ok: false, error: expect.stringContaining("Malformed JSON"), code: "BAD_FRAME" });
    expect(await w.ask({ cmd: "PING" })).toEqual({ ok: true, pong: true });
    w.close();
  });

  test("a blank line gets an error reply; CRLF lines work", async () => {
    const w = await open();
    w.send('{"cmd":"PING"}\r\n\n');
    expect(await w.line()).toEqual({ ok: true, pong: true });
    expect((await w.line()).error).toContain("Empty line");
    w.close();
  });

  test("an over-long line is discarded with an error and the next line is served", async () => {
    const w = await open();
    const big = '{"cmd":"PUSH","queue":"t-big","data":"' + "x".repeat(frameBytesMax + 10) + '"}\n';
    w.send(big);
    w.send(line({ cmd: "PING", reqId: "after" }));
    const first = await w.line(10_000);
    expect(first.ok).toBe(false);
    expect(first.error).toContain("Line too long");
    expect(await w.line(10_000)).toEqual({ reqId: "after", ok: true, pong: true });
    expect((await w.ask({ cmd: "COUNT", queue: "t-big" })).count).toBe(0);
    w.close();
  });

  test("validation errors name the field", async () => {
    const w = await open();
    const r = await w.ask({ cmd: "PUSH", queue: "t-val", data: 1, priority: "high" });
    expect(r.ok).toBe(false);
    expect(r.code).toBe("INVALID");
    expect(r.error).toContain("'priority'");
    const q = await w.ask({ cmd: "PUSH", queue: "bad name!", data: 1 });
    expect(q.error).toContain("'queue'");
    const m = await w.ask({ cmd: "PULLB", queue: "t-val" });
    expect(m.error).toContain("'count'");
    expect((await w.ask({ cmd: "NOPE" })).code).toBe("UNKNOWN_COMMAND");
    expect((await w.ask({ cmd: "PING" })).ok).toBe(true);
    w.close();
  });

  test("PUSHB over the limit is an error, not an empty success", async () => {
    const w = await open();
    const jobs = Array.from({ length: pushBatchJobsMax + 1 }, (_, i) => ({ data: i }));
    const r = await w.ask({ cmd: "PUSHB", queue: "t-pushb", jobs });
    expect(r.ok).toBe(false);
    expect(r.error).toContain("'jobs'");
    expect((await w.ask({ cmd: "COUNT", queue: "t-pushb" })).count).toBe(0);
    w.close();
  });
});

describe("binary mode", () => {
  test("100 pipelined commands in one write are answered in order", async () => {
    const w = await open();
    const parts: Buffer[] = [];
    for (let i = 0; i < 100; i++) parts.push(frame({ cmd: "PUSH", queue: "b-pipe", data: { i } }));
    w.send(Buffer.concat(parts));
    const ids: number[] = [];
    for (let i = 0; i < 100; i++) ids.push((await w.frame()).id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(100);
    const pulled = await w.call({ cmd: "PULLB", queue: "b-pipe", count: 100, timeout: 0 });
    expect(pulled.jobs.map((j: any) => j.data.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    w.close();
  });

  test("undecodable MessagePack gets an error and the connection stays open", async () => {
    const w = await open();
    const junk = Buffer.from([0x00, 0x00, 0x00, 0x02, 0xc1, 0xc1]);
    w.send(junk);
    const r = await w.frame();
    expect(r).toEqual({ ok: false, error: expect.stringContaining("Undecodable"), code: "BAD_FRAME" });
    expect(await w.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
    w.close();
  });

  test("a zero-length frame gets an error and the connection stays open", async () => {
    const w = await open();
    w.send(Buffer.from([0x80, 0, 0, 0]).subarray(1)); // not a valid start: first byte must not be '{'
    w.send(Buffer.from([0]));
    const r = await w.frame();
    expect(r.ok).toBe(false);
    expect(r.error).toContain("Empty frame");
    expect(await w.call({ cmd: "PING", reqId: 7 })).toEqual({ reqId: 7, ok: true, pong: true });
    w.close();
  });

  test("an oversize frame gets an error frame and the connection is closed; the server lives", async () => {
    const w = await open();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(frameBytesMax + 1, 0);
    w.send(header);
    const r = await w.frame();
    expect(r.ok).toBe(false);
    expect(r.code).toBe("TOO_LARGE");
    expect(await w.waitClosed()).toBe(true);
    const again = await open();
    expect(await again.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
    again.close();
  });

  test("frames split at every byte boundary are reassembled", async () => {
    const w = await open();
    const a = frame({ cmd: "PUSH", queue: "b-split", data: { s: "é✓ split" }, reqId: "s" });
    const b = frame({ cmd: "COUNT", queue: "b-split" });
    const both = Buffer.concat([a, b]);
    for (let cut = 1; cut < both.length; cut++) {
      w.send(both.subarray(0, cut));
      await Bun.sleep(0);
      w.send(both.subarray(cut));
      const pushed = await w.frame();
      expect(pushed.reqId).toBe("s");
      expect(pushed.ok).toBe(true);
      const count = await w.frame();
      expect(count.count).toBe(cut);
    }
    w.close();
  });

  test("a large payload spanning many reads comes back byte for byte", async () => {
    const w = await open();
    const data = { blob: Buffer.alloc(3 * 1024 * 1024, 7), s: "z".repeat(100_000) };
    const r = await w.call({ cmd: "PUSH", queue: "b-large", data });
    expect(r.ok).toBe(true);
    const got = await w.call({ cmd: "PULL", queue: "b-large", timeout: 0 });
    expect(Buffer.from(got.job.data.blob).equals(data.blob)).toBe(true);
    expect(got.job.data.s).toBe(data.s);
    w.close();
  });

  test("job data is returned as the exact bytes that were pushed", async () => {
    const w = await open();
    // A map with integer keys and a float32: decoding and re-encoding would change these bytes.
    const raw = Buffer.from([0x82, 0x01, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0xa1, 0x6b, 0xc0]);
    // Build {cmd, queue, data: <raw>} by hand: fixmap(3).
    const head = Buffer.from(pack("cmd")), cmd = Buffer.from(pack("PUSH"));
    const qk = Buffer.from(pack("queue")), qv = Buffer.from(pack("b-raw")), dk = Buffer.from(pack("data"));
    const map = Buffer.concat([Buffer.from([0x83]), head, cmd, qk, qv, dk, raw]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(map.length, 0);
    w.send(Buffer.concat([len, map]));
    expect((await w.frame()).ok).toBe(true);
    w.send(frame({ cmd: "PULL", queue: "b-raw", timeout: 0 }));
    const reply = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      w.sock.removeAllListeners("data");
      w.sock.on("data", (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) resolve(all);
      });
    });
    expect(reply.includes(Buffer.concat([Buffer.from(pack("data")), raw]))).toBe(true);
    w.close();
  });
});

describe("ordering and parking", () => {
  test("a parked PULL with reqId does not hold up a later PUSH on the same connection", async () => {
    const w = await open();
    w.send(frame({ cmd: "PULL", queue: "p-park-empty", timeout: 5000, reqId: "pull" }));
    w.send(frame({ cmd: "PUSH", queue: "p-park-other", data: "hi", reqId: "push" }));
    const first = await w.frame(1000);
    expect(first).toEqual({ reqId: "push", ok: true, id: expect.any(Number) });
    // The PULL is still parked; a push to its queue answers it.
    w.send(frame({ cmd: "PUSH", queue: "p-park-empty", data: "for-pull", reqId: "push2" }));
    const replies = [await w.frame(), await w.frame()];
    const pull = replies.find((r) => r.reqId === "pull");
    expect(pull.job.data).toBe("for-pull");
    expect(replies.some((r) => r.reqId === "push2" && r.ok)).toBe(true);
    w.close();
  });

  test("requests without reqId are answered in order, even behind a parked PULL", async () => {
    const w = await open();
    const other = await open();
    w.send(frame({ cmd: "PULL", queue: "p-order", timeout: 5000 }));
    w.send(frame({ cmd: "PING" }));
    expect(await w.silentFor(50)).toBe(true);
    await other.call({ cmd: "PUSH", queue: "p-order", data: 1 });
    expect((await w.frame()).job.data).toBe(1);
    expect(await w.frame()).toEqual({ ok: true, pong: true });
    w.close();
    other.close();
  });

  test("a parked PULL is answered when another connection pushes", async () => {
    const worker = await open();
    const producer = await open();
    worker.send(frame({ cmd: "PULLB", queue: "p-event", count: 10, timeout: 10_000, reqId: "w" }));
    await Bun.sleep(20);
    const pushed = await producer.call({ cmd: "PUSH", queue: "p-event", data: "x" });
    const got = await worker.frame();
    expect(got.jobs.map((j: any) => j.id)).toEqual([pushed.id]);
    worker.close();
    producer.close();
  });

  test("a parked PULL times out with a null job", async () => {
    const w = await open();
    expect(await w.call({ cmd: "PULL", queue: "p-timeout", timeout: 30 })).toEqual({ ok: true, job: null });
    w.close();
  });

  test("a closed connection's parked PULL does not swallow a job", async () => {
    const gone = await open();
    gone.send(frame({ cmd: "PULL", queue: "p-gone", timeout: 10_000 }));
    await Bun.sleep(20);
    gone.close();
    await Bun.sleep(20);
    const w = await open();
    await w.call({ cmd: "PUSH", queue: "p-gone", data: 1 });
    expect((await w.call({ cmd: "GETJOBCOUNTS", queue: "p-gone" })).waiting).toBe(1);
    w.close();
  });

  test("WAITJOB returns the result, and reports failure as failure", async () => {
    const w = await open();
    const other = await open();
    const { id } = await w.call({ cmd: "PUSH", queue: "p-wait", data: 1, max_attempts: 1 });
    w.send(frame({ cmd: "WAITJOB", id, timeout: 5000, reqId: "wait" }));
    const job = (await other.call({ cmd: "PULL", queue: "p-wait", timeout: 0 })).job;
    await other.call({ cmd: "ACK", id, result: "done", lock_token: job.lock_token });
    expect(await w.frame()).toEqual({ reqId: "wait", ok: true, result: "done" });
    const second = await w.call({ cmd: "PUSH", queue: "p-wait", data: 2, max_attempts: 1 });
    w.send(frame({ cmd: "WAITJOB", id: second.id, timeout: 5000, reqId: "wait2" }));
    await other.call({ cmd: "PULL", queue: "p-wait", timeout: 0 });
    await other.call({ cmd: "FAIL", id: second.id, error: "boom" });
    const failed = await w.frame();
    expect(failed.ok).toBe(false);
    expect(failed.error).toContain("Job failed: boom");
    w.close();
    other.close();
  });
});

describe("auth", () => {
  test("AUTH_TOKENS: commands before AUTH are refused; a good token opens the session", async () => {
    const secured = await startServer({ host: "127.0.0.1", port: 0, io: "bun", authTokens: ["s3cret"], log: () => {} });
    try {
      const w = await RawClient.connect(secured.port);
      expect(await w.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
      const refused = await w.call({ cmd: "PUSH", queue: "a", data: 1 });
      expect(refused.error).toContain("Authentication required");
      const bad = await w.call({ cmd: "AUTH", token: "nope" });
      expect(bad.ok).toBe(false);
      expect(bad.code).toBe("AUTH_FAILED");
      expect((await w.call({ cmd: "PUSH", queue: "a", data: 1 })).ok).toBe(false);
      expect(await w.call({ cmd: "AUTH", token: "s3cret" })).toEqual({ ok: true });
      expect((await w.call({ cmd: "PUSH", queue: "a", data: 1 })).ok).toBe(true);
      w.close();
    } finally {
      await secured.stop();
    }
  });
});

describe("server facts", () => {
  test("HELLO names the server, version and I/O backend; STATS reports the backend", async () => {
    const w = await open();
    const hello = await w.call({ cmd: "HELLO", protocol_version: 1 });
    expect(hello.server).toBe("ringq");
    expect(hello.io_backend).toBe("bun");
    expect(typeof hello.version).toBe("string");
    expect((await w.call({ cmd: "STATS" })).io_backend).toBe("bun");
    w.close();
  });
});

describe("inspection commands", () => {
  test("LOG/GETLOGS keep a job's log lines in order", async () => {
    const w = await open();
    const { id } = await w.call({ cmd: "PUSH", queue: "i-log", data: 1 });
    expect(await w.call({ cmd: "LOG", id, message: "started" })).toEqual({ ok: true });
    expect(await w.call({ cmd: "LOG", id, message: "careful", level: "warn" })).toEqual({ ok: true });
    const logs = (await w.call({ cmd: "GETLOGS", id })).logs;
    expect(logs.map((l: any) => [l.message, l.level])).toEqual([["started", "info"], ["careful", "warn"]]);
    expect(typeof logs[0].timestamp).toBe("number");
    expect((await w.call({ cmd: "LOG", id: 999_999, message: "x" })).code).toBe("NOT_FOUND");
    w.close();
  });

  test("GETJOBS filters by queue and state, pages, and reports the total", async () => {
    const w = await open();
    for (let i = 0; i < 5; i++) await w.call({ cmd: "PUSH", queue: "i-jobs", data: i, priority: i });
    await w.call({ cmd: "PUSH", queue: "i-jobs", data: "later", delay: 60_000 });
    const waiting = await w.call({ cmd: "GETJOBS", queue: "i-jobs", state: "waiting", limit: 2, offset: 1 });
    expect(waiting.total).toBe(5);
    expect(waiting.jobs.map((j: any) => j.data)).toEqual([3, 2]); // priority order, page 2..3
    expect(waiting.jobs.every((j: any) => j.state === "waiting")).toBe(true);
    const delayed = await w.call({ cmd: "GETJOBS", queue: "i-jobs", state: "delayed" });
    expect(delayed.jobs.map((j: any) => j.data)).toEqual(["later"]);
    expect((await w.call({ cmd: "GETJOBS", queue: "i-jobs" })).total).toBe(6);
    expect((await w.call({ cmd: "GETJOBS", queue: "i-nothing" })).total).toBe(0);
    expect((await w.call({ cmd: "GETJOBS", state: "sleeping" })).error).toContain("'state'");
    w.close();
  });

  test("CLEAN removes finished jobs older than the grace period", async () => {
    const w = await open();
    const { ids } = await w.call({ cmd: "PUSHB", queue: "i-clean", jobs: [{ data: 1 }, { data: 2 }] });
    const { jobs } = await w.call({ cmd: "PULLB", queue: "i-clean", count: 2, timeout: 0 });
    expect((await w.call({ cmd: "ACKB", ids })).count).toBe(2);
    expect(jobs.length).toBe(2);
    expect((await w.call({ cmd: "CLEAN", queue: "i-clean", grace: 60_000, state: "completed" })).count).toBe(0);
    expect((await w.call({ cmd: "CLEAN", queue: "i-clean", grace: 0, state: "completed" })).count).toBe(2);
    expect((await w.call({ cmd: "GETSTATE", id: ids[0] })).state).toBe("unknown");
    w.close();
  });

  test("a job's name (EXT) travels with it in both modes; none is null", async () => {
    const w = await open();
    const { id } = await w.call({ cmd: "PUSH", queue: "i-name", data: 1, name: "send-email" });
    const { ids } = await w.call({ cmd: "PUSHB", queue: "i-name", jobs: [{ data: 2, name: "resize" }, { data: 3 }] });
    const { jobs } = await w.call({ cmd: "PULLB", queue: "i-name", count: 3, timeout: 0 });
    expect(jobs.map((j: any) => [j.id, j.name])).toEqual([[id, "send-email"], [ids[0], "resize"], [ids[1], null]]);
    expect((await w.call({ cmd: "GETJOB", id })).job.name).toBe("send-email");
    const t = await open();
    expect((await t.ask({ cmd: "GETJOB", id: ids[0] })).job.name).toBe("resize");
    expect((await w.call({ cmd: "PUSH", queue: "i-name", data: 1, name: 7 })).error).toContain("'name'");
    w.close();
    t.close();
  });
});
