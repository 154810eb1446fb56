// Conformance, hostile input, against every I/O backend: the defects found from outside (issue
// 10), each as the frames that showed it. Payloads that are not plain MessagePack are refused
// naming the field and change nothing; binary data inside a job comes back byte for byte from
// every read; a reply never outgrows the frame limit; a connection that does not read is not
// handed jobs; pulls of throwaway queue names cost nothing; a big DRAIN does not hold up other
// clients; and failed AUTHs close the connection and end what a good one set up.

import { describe, expect, test } from "bun:test";
import { pack } from "msgpackr";
import { frameBytesMax, payloadDepthMax } from "../../src/constants.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { frame, line } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/hostile");

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
/** A frame of a MessagePack body given as hex (the length prefix is computed). */
const rawFrame = (bodyHex: string): Buffer => {
  const body = hex(bodyHex);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
};
const str = (s: string): string => (pack(s) as Buffer).toString("hex");
/** {"cmd":"PUSH","queue":<q>,"data":<dataHex>} as raw MessagePack (data spliced in as given). */
const pushWithData = (q: string, dataHex: string): Buffer =>
  rawFrame("83" + str("cmd") + str("PUSH") + str("queue") + str(q) + str("data") + dataHex);

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`hostile input [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    test("1. data that is not plain MessagePack (ext type, 0xc1) is refused naming the field, and nothing is stored", async () => {
      const c = await open();
      // The frame: {cmd: PUSH, queue: q, data: ext(5, 0x01)}.
      c.send(rawFrame("83 a3636d64 a450555348 a57175657565 a171 a464617461 d40501"));
      expect(await c.frame()).toEqual({ ok: false, code: "INVALID", error: expect.stringMatching(/field 'data'.*ext type/) });
      c.send(pushWithData("h1", "c1"));
      expect(await c.frame()).toEqual({ ok: false, code: "INVALID", error: expect.stringMatching(/field 'data'.*0xc1/) });
      // Deep inside a PUSHB, the path names the entry.
      const okJob = "81" + str("data") + "01";
      const badJob = "81" + str("data") + "92 01 d7ff0000000000000000"; // {data: [1, timestamp ext]}
      c.send(rawFrame("83" + str("cmd") + str("PUSHB") + str("queue") + str("h1") + str("jobs") + "92" + okJob + badJob));
      expect(await c.frame()).toEqual({ ok: false, code: "INVALID", error: expect.stringContaining("field 'jobs.1.data'") });
      expect(await c.call({ cmd: "GETJOBCOUNTS", queue: "h1" })).toEqual({ ok: true, waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 });
      expect(await c.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
      c.close();
    });

    test("2. data nested 24,000 levels deep is refused (payloadDepthMax), and the connection's replies stay readable", async () => {
      const c = await open();
      c.send(pushWithData("h2", "91".repeat(24_000) + "c0"));
      expect(await c.frame()).toEqual({ ok: false, code: "INVALID", error: expect.stringContaining(`deeper than ${payloadDepthMax} levels`) });
      // At the limit it is kept, and every read of it is a whole frame.
      const ok = (await c.call({ cmd: "PUSH", queue: "h2", data: nested(payloadDepthMax) })).id;
      expect((await c.call({ cmd: "GETJOBSBATCH", ids: [ok] })).jobs[0].data).toEqual(nested(payloadDepthMax));
      const t = await open();
      t.send(line({ cmd: "PUSH", queue: "h2", data: nested(payloadDepthMax + 1) }));
      expect((await t.line()).error).toContain("field 'data'");
      expect(await c.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
      c.close();
      t.close();
    });

    test("3. binary data inside a job comes back byte for byte from GETJOB, GETJOBSBATCH and GETJOBS", async () => {
      const c = await open();
      for (const bin of ["c403920102", "c403010203"]) {
        c.send(pushWithData("h3", "81 a466696c65 " + bin)); // {file: bin(...)}
        const id = (await c.frame()).id;
        const want = { file: Buffer.from(hex(bin).subarray(2)) };
        expect((await c.call({ cmd: "GETJOB", id })).job.data).toEqual(want);
        expect((await c.call({ cmd: "GETJOBSBATCH", ids: [id] })).jobs[0].data).toEqual(want);
        const page = await c.call({ cmd: "GETJOBS", queue: "h3", state: "waiting", limit: 10 });
        expect(page.jobs.find((j: { id: number }) => j.id === id).data).toEqual(want);
      }
      expect(await c.call({ cmd: "PING" })).toEqual({ ok: true, pong: true });
      c.close();
    });

    test("4. a refused push does not reach a parked puller: nothing goes active, and the pull ends with job null", async () => {
      const text = await open();
      text.send(line({ cmd: "PULL", queue: "h4", timeout: 700, reqId: "parked" }));
      await Bun.sleep(50);
      const bin = await open();
      // The frame: a PUSH with reqId "p" and ext-type data.
      bin.send(rawFrame("84 a3636d64 a450555348 a57175657565 a171 a57265714964 a170 a464617461 d40501"));
      expect(await bin.frame()).toEqual({ reqId: "p", ok: false, code: "INVALID", error: expect.stringContaining("field 'data'") });
      expect((await bin.call({ cmd: "GETJOBCOUNTS", queue: "h4" })).active).toBe(0);
      expect(await text.line(3000)).toEqual({ reqId: "parked", ok: true, job: null });
      text.close();
      bin.close();
    });

    test("5. an ACK with an ext-type result is refused before it completes the job; WAITJOB and subscribers hear of the real ACK", async () => {
      const c = await open();
      const sub = await open();
      expect(await sub.call({ cmd: "SUBSCRIBE", queue: "h5", events: ["completed"] })).toEqual({ ok: true });
      const id = (await c.call({ cmd: "PUSH", queue: "h5", data: 1 })).id;
      expect((await c.call({ cmd: "PULL", queue: "h5", timeout: 0 })).job.id).toBe(id);
      const waiter = await open();
      waiter.send(frame({ cmd: "WAITJOB", id, timeout: 5000 }));
      // The frame: {cmd: ACK, id: 1, result: ext}, with this job's id.
      c.send(rawFrame("83 a3636d64 a341434b a26964 " + (pack(id) as Buffer).toString("hex") + " a6726573756c74 d40501"));
      expect(await c.frame()).toEqual({ ok: false, code: "INVALID", error: expect.stringContaining("field 'result'") });
      expect((await c.call({ cmd: "GETSTATE", id })).state).toBe("active");
      expect(await c.call({ cmd: "ACK", id, result: { fine: true } })).toEqual({ ok: true });
      expect(await waiter.frame()).toEqual({ ok: true, result: { fine: true } });
      expect(await sub.frame()).toEqual(expect.objectContaining({ event: "completed", id, result: { fine: true } }));
      for (const x of [c, sub, waiter]) x.close();
    });

    test("6. no reply exceeds the frame limit: PULLB returns fewer big jobs and the rest stay waiting", async () => {
      const c = await open();
      const big = Buffer.alloc(6 * 1024 * 1024, 7);
      for (let i = 0; i < 4; i++) expect((await c.call({ cmd: "PUSH", queue: "h6", data: big }, 20_000)).ok).toBe(true);
      c.send(frame({ cmd: "PULLB", queue: "h6", count: 4, timeout: 0 }));
      const first = await c.frameWithSize(20_000);
      expect(first.size).toBeLessThanOrEqual(frameBytesMax);
      expect(first.body.jobs.length).toBe(2);
      expect((await c.call({ cmd: "GETJOBCOUNTS", queue: "h6" })).waiting).toBe(2);
      const second = await c.call({ cmd: "PULLB", queue: "h6", count: 4, timeout: 0 }, 20_000);
      expect(second.jobs.length).toBe(2);
      expect(Buffer.from(second.jobs[0].data).equals(big)).toBe(true);
      // A listing of them is cut too, and says so.
      const page = await c.call({ cmd: "GETJOBS", queue: "h6", limit: 10 }, 20_000);
      expect({ n: page.jobs.length, total: page.total, truncated: page.truncated }).toEqual({ n: 2, total: 4, truncated: true });
      c.close();
    });

    test("8. a connection that parks pulls and never reads is not handed every job; others get them, and it gets its share once it reads", async () => {
      const slow = await open();
      const pulls = 200;
      const jobs = 200;
      const buf = Buffer.concat(Array.from({ length: pulls }, (_, i) => frame({ cmd: "PULL", queue: "h8", timeout: 20_000, reqId: i })));
      slow.pause();
      slow.send(buf);
      await Bun.sleep(100);
      const p = await open();
      const data = Buffer.alloc(256 * 1024, 1);
      for (let i = 0; i < jobs; i += 10) {
        expect((await p.call({ cmd: "PUSHB", queue: "h8", jobs: Array.from({ length: 10 }, () => ({ data })) }, 20_000)).ok).toBe(true);
      }
      await Bun.sleep(200);
      const counts = await p.call({ cmd: "GETJOBCOUNTS", queue: "h8" });
      // Only what fits in the kernel's socket buffers and under its output high-water mark
      // (4 MiB of 256 KiB jobs): tens, not all 200 (which would be 50 MiB held for it).
      expect(counts.active).toBeLessThan(100);
      expect(counts.waiting).toBe(jobs - counts.active);
      const other = await p.call({ cmd: "PULLB", queue: "h8", count: 20, timeout: 0 });
      expect(other.jobs.length).toBe(20);
      // Reading again, the slow client's parked pulls take the rest.
      slow.resume();
      const got = await slow.frames(jobs - 20, 30_000);
      expect(got.every((r) => r.ok && r.job !== null)).toBe(true);
      expect((await p.call({ cmd: "GETJOBCOUNTS", queue: "h8" })).waiting).toBe(0);
      slow.close();
      p.close();
    });

    test("9. pulls on 5,000 throwaway queue names cost no queue: they are gone once answered", async () => {
      const c = await open();
      const before = (await c.call({ cmd: "LISTQUEUES" })).total;
      const batch = Buffer.concat(Array.from({ length: 5000 }, (_, i) => frame({ cmd: "PULL", queue: `tmp-${i}`, timeout: 0 })));
      c.send(batch);
      const replies = await c.frames(5000, 20_000);
      expect(replies.every((r) => r.ok && r.job === null)).toBe(true);
      expect((await c.call({ cmd: "LISTQUEUES" })).total).toBe(before);
      c.close();
    });

    test("10. a DRAIN of 50,000 jobs runs in steps: another client's PING is answered before the DRAIN is", async () => {
      const a = await open();
      const b = await open();
      for (let i = 0; i < 50; i++) {
        await a.call({ cmd: "PUSHB", queue: "h10", jobs: Array.from({ length: 1000 }, (_, j) => ({ data: j })) });
      }
      a.send(frame({ cmd: "DRAIN", queue: "h10" }));
      await Bun.sleep(1); // the DRAIN is read first
      b.send(frame({ cmd: "PING" }));
      const order: string[] = [];
      await Promise.all([a.frame(20_000).then((r) => order.push(`drain ${r.count}`)), b.frame(20_000).then(() => order.push("ping"))]);
      expect(order).toEqual(["ping", "drain 50000"]);
      expect((await a.call({ cmd: "GETJOBS", limit: 1 })).ok).toBe(true);
      a.close();
      b.close();
    });
  });
}

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`failed AUTH [${name}]`, () => {
    let server!: ServerProcess;
    const open = serverPerSuite({ io, env: { ...env, AUTH_TOKENS: "s3cret" } }, (s) => (server = s));

    test("three failed AUTHs close the connection", async () => {
      const c = await open();
      for (let i = 0; i < 2; i++) expect((await c.call({ cmd: "AUTH", token: `guess-${i}` })).code).toBe("AUTH_FAILED");
      c.send(frame({ cmd: "AUTH", token: "guess-3" }));
      c.send(frame({ cmd: "PING" }));
      expect((await c.frame()).error).toContain("closing the connection");
      expect(await c.waitClosed(5000)).toBe(true);
      expect(server.exitCode).toBeNull();
    });

    test("a failed AUTH after a good one ends the parked pulls and the events the good one allowed", async () => {
      const c = await open();
      expect(await c.call({ cmd: "AUTH", token: "s3cret" })).toEqual({ ok: true });
      expect(await c.call({ cmd: "SUBSCRIBE", queue: "*" })).toEqual({ ok: true });
      c.send(frame({ cmd: "PULL", queue: "auth-q", timeout: 10_000, reqId: "parked" }));
      await Bun.sleep(50);
      c.send(frame({ cmd: "AUTH", token: "wrong", reqId: "bad" }));
      const replies = await c.frames(2);
      expect(replies).toContainEqual({ reqId: "bad", ok: false, code: "AUTH_FAILED", error: "Invalid token" });
      expect(replies).toContainEqual({ reqId: "parked", ok: false, code: "AUTH_REQUIRED", error: expect.stringContaining("revoked") });
      const p = await open();
      expect(await p.call({ cmd: "AUTH", token: "s3cret" })).toEqual({ ok: true });
      expect((await p.call({ cmd: "PUSH", queue: "auth-q", data: 1 })).ok).toBe(true);
      expect(await c.silentFor(200)).toBe(true); // no delivery, no event
      expect((await p.call({ cmd: "GETJOBCOUNTS", queue: "auth-q" })).waiting).toBe(1);
      c.close();
      p.close();
    });
  });
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}
