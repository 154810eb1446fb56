// Conformance, fuzzing, against every I/O backend: 20,000 mutated binary frames and 5,000 mutated
// text lines per backend, from a seed (RINGQ_FUZZ_SEED to replay one; the seed is printed when a
// test fails). The server must not crash, must answer what it can read (every reply parses, and
// all but the few requests a mutation left parked are answered), keep its memory bounded and
// still do a PUSH/PULL/ACK round trip afterwards. Framing mutations (lengths) get connections of
// their own: each is answered and then closed with a reason, or keeps working.
// A longer soak (1M frames): npx bun scripts/fuzz-soak.ts.

import { describe, expect, test } from "bun:test";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { binaryBatch, frameOf, textBatch } from "../helpers/fuzz.ts";
import { rng } from "../helpers/rng.ts";
import { frame, line, RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/fuzz");
const seed = Number(process.env.RINGQ_FUZZ_SEED ?? 20261201);
const binaryFrames = 20_000;
const textLines = 5_000;
const MiB = 1024 * 1024;

/** Reads replies until `n` arrived or none came for `quietMs`; checks each one parses. */
async function collect(c: RawClient, n: number, mode: "binary" | "text", quietMs = 1500): Promise<number> {
  let got = 0;
  for (; got < n; got++) {
    try {
      const r = mode === "binary" ? await c.frame(quietMs) : await c.line(quietMs);
      if (typeof r !== "object" || r === null || typeof r.ok !== "boolean") throw new Error(`reply without ok: ${JSON.stringify(r)}`);
    } catch (e) {
      if (/took over|timed out|waiting for|no reply/.test(String(e))) break; // quiet: what is left is parked
      throw e;
    }
  }
  return got;
}

async function roundTrip(c: RawClient, queue: string): Promise<void> {
  const id = (await c.call({ cmd: "PUSH", queue, data: { after: "fuzz" }, reqId: "rt1" })).id;
  expect(id).toBeGreaterThan(0);
  const job = (await c.call({ cmd: "PULL", queue, timeout: 1000, reqId: "rt2" })).job;
  expect(job.data).toEqual({ after: "fuzz" });
  expect(await c.call({ cmd: "ACK", id: job.id, lock_token: job.lock_token, reqId: "rt3" })).toEqual({ reqId: "rt3", ok: true });
}

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`fuzz [${name}] (seed ${seed})`, () => {
    let server!: ServerProcess;
    const open = serverPerSuite({ io, env }, (s) => (server = s));

    test(`${binaryFrames} mutated binary frames: no crash, replies parse, almost all answered, memory bounded`, async () => {
      const before = server.memoryKiB("VmRSS")!;
      const conns = 4;
      let answered = 0;
      await Promise.all(Array.from({ length: conns }, async (_, k) => {
        const c = await open();
        const batch = binaryBatch(seed + k, binaryFrames / conns, `fz-${k}`);
        c.send(batch.bytes);
        const n = await collect(c, batch.count, "binary");
        answered += n;
        // The connection is still served: a PING with a reqId is not held behind anything.
        expect(await c.call({ cmd: "PING", reqId: "alive" })).toEqual({ reqId: "alive", ok: true, pong: true });
        c.close();
      })).catch((e) => {
        throw new Error(`fuzz seed ${seed} (RINGQ_FUZZ_SEED to replay): ${e}`);
      });
      if (answered < binaryFrames * 0.99) throw new Error(`fuzz seed ${seed}: ${answered} of ${binaryFrames} frames answered`);
      expect(server.exitCode).toBeNull();
      expect(server.memoryKiB("VmRSS")! - before).toBeLessThan(64 * 1024);
      const c = await open();
      await roundTrip(c, "fz-after");
      c.close();
    }, 60_000);

    test(`${textLines} mutated text lines: no crash, each line answered, and the connection goes on`, async () => {
      const c = await open();
      c.send(line({ cmd: "PING" })); // text mode for the connection, whatever the first mutation does
      expect((await c.line()).pong).toBe(true);
      const batch = textBatch(seed, textLines, "fz-text");
      c.send(batch.bytes);
      const answered = await collect(c, batch.count, "text");
      if (answered < batch.count * 0.99) throw new Error(`fuzz seed ${seed}: ${answered} of ${batch.count} lines answered`);
      expect(await c.ask({ cmd: "PING", reqId: "alive" })).toEqual({ reqId: "alive", ok: true, pong: true });
      c.close();
      expect(server.exitCode).toBeNull();
    }, 60_000);

    test("framing mutations: oversized, zero and half lengths on connections of their own", async () => {
      const r = rng(seed);
      for (let i = 0; i < 30; i++) {
        const c = await open();
        const body = Buffer.from(frame({ cmd: "PING", reqId: i }).subarray(4));
        const kind = i % 3;
        if (kind === 0) {
          // A length over the frame limit: an error frame, then the server closes this connection.
          const bad = Buffer.alloc(4);
          bad.writeUInt32BE(0x7fffffff - Math.floor(r() * 1000), 0);
          c.send(bad);
          expect((await c.frame(5000)).code).toBe("TOO_LARGE");
          expect(await c.waitClosed(5000)).toBe(true);
        } else if (kind === 1) {
          c.send(frameOf(new Uint8Array(0)));
          expect((await c.frame()).code).toBe("BAD_FRAME");
          expect(await c.call({ cmd: "PING", reqId: "z" })).toEqual({ reqId: "z", ok: true, pong: true });
          c.close();
        } else {
          // Half a frame, then the client goes away.
          const f = frameOf(body);
          c.send(f.subarray(0, 2 + Math.floor(r() * (f.length - 2))));
          await Bun.sleep(5);
          c.reset();
        }
      }
      const c = await open();
      await roundTrip(c, "fz-framing");
      c.close();
      expect(server.exitCode).toBeNull();
      expect(server.memoryKiB("VmRSS")!).toBeLessThan(512 * MiB / 1024);
    }, 60_000);
  });
}
