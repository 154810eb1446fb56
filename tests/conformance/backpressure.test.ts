// Conformance, slow readers, against every I/O backend: a client pipelines requests whose
// replies add up to far more than any buffer ringq should hold (hundreds of MiB) and does not
// read. The server must keep its memory bounded (it stops reading that client's requests at
// the output high-water mark instead of answering them all into memory), keep serving everyone
// else, and deliver every reply, in order and intact, once the client reads.
// Memory is the child's peak RSS (VmHWM from /proc): a peak, so no timing is involved.

import { describe, expect, test } from "bun:test";
import { outputBytesHighWater } from "../../src/constants.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { frame, RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/backpressure");

const MiB = 1024 * 1024;
const jobBytes = 128 * 1024;
const requests = 2000;
/** What the slow client is owed: ~250 MiB, 60x the high-water mark. */
const owedBytes = requests * jobBytes;

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`slow readers and back-pressure [${name}]`, () => {
    let server!: ServerProcess;
    const open = serverPerSuite({ io, env }, (s) => (server = s));


    interface SlowReaderRun {
      /** Replies that came back wrong (reqId, job id, size or content). */
      bad: number;
      /** Bytes the paused client had received when it started reading. */
      bytesInWhilePaused: number;
      /** Growth of the server's peak RSS over the whole run, MiB. */
      peakGrowthMiB: number;
    }
    let run: Promise<SlowReaderRun> | null = null;

    /** The scenario, run once per backend and judged by the two tests below. */
    async function slowReader(): Promise<SlowReaderRun> {
      const data = Buffer.alloc(jobBytes);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
      const setup = await open();
      const { id } = await setup.call({ cmd: "PUSH", queue: "bp-big", data });
      // Warm up the reply path (JIT, buffers) so the baseline is not the cold process.
      for (let i = 0; i < 20; i++) expect((await setup.call({ cmd: "GETJOB", id })).job.id).toBe(id);
      const hwmBefore = server.memoryKiB("VmHWM")!;
      expect(hwmBefore).toBeGreaterThan(0);

      const slow = await open();
      slow.pause();
      // Half the requests in one write, half in many: the server meets both a burst that
      // arrives in one read and a trickle that arrives over many turns.
      const reqs = Array.from({ length: requests }, (_, i) => frame({ cmd: "GETJOB", id, reqId: i }));
      slow.send(Buffer.concat(reqs.slice(0, requests / 2)));
      for (let k = requests / 2; k < requests; k += 50) {
        slow.send(Buffer.concat(reqs.slice(k, k + 50)));
        await Bun.sleep(1);
      }

      // Everyone else keeps being served while the slow client's replies pile up.
      const other = await open();
      for (let i = 0; i < 50; i++) {
        const p = await other.call({ cmd: "PUSH", queue: "bp-other", data: i });
        const j = await other.call({ cmd: "PULL", queue: "bp-other", timeout: 5_000 });
        expect(j.job.id).toBe(p.id);
        expect(await other.call({ cmd: "ACK", id: p.id })).toEqual({ ok: true });
      }
      await Bun.sleep(200); // give the server every chance to (wrongly) answer everything into memory
      expect((await other.call({ cmd: "PING" })).pong).toBe(true);
      const bytesInWhilePaused = slow.bytesIn;

      slow.resume();
      let bad = 0;
      for (let i = 0; i < requests; i++) {
        const r = await slow.frame(20_000);
        if (r.reqId !== i || r.job?.id !== id || r.job.data.length !== jobBytes || r.job.data[jobBytes - 1] !== data[jobBytes - 1]) bad++;
      }
      expect(slow.buffered).toBe(0);
      const peakGrowthMiB = (server.memoryKiB("VmHWM")! - hwmBefore) / 1024;
      console.log(`[${name}] slow reader: server peak RSS +${peakGrowthMiB.toFixed(1)} MiB for ${owedBytes / MiB} MiB of replies owed`);
      slow.close();
      other.close();
      setup.close();
      return { bad, bytesInWhilePaused, peakGrowthMiB };
    }

    test("a client that does not read: others are served meanwhile, and it gets every reply once it reads", async () => {
      run ??= slowReader();
      const r = await run;
      // The premise: the slow client really had not taken its replies.
      expect(r.bytesInWhilePaused).toBeLessThan(owedBytes / 4);
      expect(r.bad).toBe(0);
    });

    // Guards the per-frame pause (1dc660f): before it, the reader paused only after a whole
    // turn and resume() parsed all held input at once, so every pipelined request was answered
    // into memory (+380..570 MiB here).
    test("a client that does not read: the server's memory stays bounded (peak far below what it owes)", async () => {
      expect(owedBytes).toBeGreaterThan(50 * outputBytesHighWater);
      run ??= slowReader();
      const r = await run;
      expect(r.bad).toBe(0);
      // Holding what it owes would take >= 250 MiB (and took +380..570); bounded output costs
      // +20..25 MiB on uring and +60..75 MiB on bun (garbage the GC has not collected yet).
      expect(r.peakGrowthMiB).toBeLessThan(owedBytes / MiB / 2);
    });

    // Guards the uring send arena: 1dc660f fixed permanent starvation (a connection that found
    // the arena empty never got a byte, even later); the reserve of chunks for connections that
    // hold few (uringSendChunksReserve) keeps 16+ slow readers at their 4 MiB cap, which fill
    // the shared 64 MiB, from starving everyone else.
    test("forty slow readers owed 8 MiB each starve no one, and all get everything", async () => {
      // More owed output than any fixed send buffer holds (the uring backend's send arena is
      // 64 MiB, at most 4 MiB per connection): everyone else must still get their replies.
      const clients: RawClient[] = [];
      const track = async () => {
        const c = await open();
        clients.push(c);
        return c;
      };
      try {
        const setup = await track();
        const { id } = await setup.call({ cmd: "PUSH", queue: "bp-many", data: Buffer.alloc(jobBytes, 5) });
        const perClient = 64; // x 128 KiB = 8 MiB each, 320 MiB in all
        const slow = await Promise.all(Array.from({ length: 40 }, () => track()));
        for (const c of slow) {
          c.pause();
          c.send(Buffer.concat(Array.from({ length: perClient }, () => frame({ cmd: "GETJOB", id }))));
        }
        await Bun.sleep(300); // let the server read and answer into its queues what it will
        const fast = await track();
        for (let i = 0; i < 20; i++) {
          const p = await fast.call({ cmd: "PUSH", queue: "bp-fast", data: i }, 5_000);
          expect((await fast.call({ cmd: "PULL", queue: "bp-fast", timeout: 5_000 }, 5_000)).job.id).toBe(p.id);
        }
        expect((await setup.call({ cmd: "PING" }, 5_000)).pong).toBe(true);
        for (const c of slow) c.resume();
        const counts = await Promise.all(slow.map(async (c) => {
          let n = 0;
          try {
            for (; n < perClient; n++) {
              const r = await c.frame(5_000);
              if (r.job?.id !== id || r.job.data.length !== jobBytes) break;
            }
          } catch {
            // counted below: fewer than perClient
          }
          return n;
        }));
        expect(counts).toEqual(slow.map(() => perClient));
      } finally {
        for (const c of clients) c.close();
      }
    }, 60_000);

    test("a paused connection's pipelined requests are all applied once it reads again", async () => {
      // Interleaved with the big replies: PUSHes whose order must survive the pause.
      const setup = await open();
      const { id } = await setup.call({ cmd: "PUSH", queue: "bp-order", data: Buffer.alloc(jobBytes, 3) });
      const slow = await open();
      slow.pause();
      const n = 400;
      slow.send(Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.concat([
        frame({ cmd: "GETJOB", id }),
        frame({ cmd: "PUSH", queue: "bp-order-seq", data: i }),
      ]))));
      expect((await setup.call({ cmd: "PING" })).pong).toBe(true);
      slow.resume();
      const replies = await slow.frames(2 * n, 20_000);
      const pushIds = replies.filter((_, k) => k % 2 === 1).map((r) => r.id as number);
      expect(replies.filter((_, k) => k % 2 === 0).every((r) => r.job?.id === id)).toBe(true);
      expect(pushIds).toEqual([...pushIds].sort((a, b) => a - b));
      const pulled = await setup.call({ cmd: "PULLB", queue: "bp-order-seq", count: 1000, timeout: 0 });
      expect(pulled.jobs.map((j: any) => j.data)).toEqual(Array.from({ length: n }, (_, i) => i));
      slow.close();
      setup.close();
    });
  });
}
