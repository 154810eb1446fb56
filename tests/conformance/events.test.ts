// Conformance, pushed output, against every I/O backend: SUBSCRIBE events are written without
// a request, so the reader's pause cannot hold them back; the bound comes from the backend's
// count of bytes still owed (pendingBytes). A subscriber that stops reading while 40 MiB of
// events are published must lose events rather than queue them (what it gets afterwards is
// bounded by a few MiB), be told exactly how many it lost, and everyone else keeps being served.
// (No RSS check here: the producer's own 40 MiB of requests dominates the server's memory.)

import { describe, expect, test } from "bun:test";
import { outputBytesHighWater } from "../../src/constants.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { frame, RawClient } from "../helpers/raw-client.ts";

const avail = await availableBackends("conformance/events");

const messageChars = 4096;
const published = 10_000; // x ~4 KiB = ~40 MiB of events for a subscriber that does not read
const window = 500;

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`events to a subscriber that does not read [${name}]`, () => {
    const open = serverPerSuite({ io, env });


    test("events past the bound are dropped and counted exactly, the backlog stays bounded, others are served", async () => {
      const clients: RawClient[] = [];
      const track = async () => {
        const c = await open();
        clients.push(c);
        return c;
      };
      try {
        const sub = await track();
        expect(await sub.call({ cmd: "SUBSCRIBE", queue: "ev", events: ["progress"] })).toMatchObject({ ok: true });
        const producer = await track();
        const { id } = await producer.call({ cmd: "PUSH", queue: "ev", data: 1 });
        expect((await producer.call({ cmd: "PULL", queue: "ev", timeout: 0 })).job.id).toBe(id);

        sub.pause();
        const message = "m".repeat(messageChars);
        for (let k = 0; k < published; k += window) {
          producer.send(Buffer.concat(Array.from({ length: window }, (_, i) => frame({ cmd: "PROGRESS", id, progress: (k + i) % 100, message }))));
          const replies = await producer.frames(window, 20_000);
          expect(replies.every((r) => r.ok === true)).toBe(true);
        }
        // The premise: the subscriber really has not taken its events.
        expect(sub.bytesIn).toBeLessThan((published * messageChars) / 4);
        sub.resume();

        // Read what was kept; then publish markers until one gets through: the first delivered
        // marker carries the count of everything dropped since the last delivered event.
        let delivered = 0;
        let dropped = 0;
        let markers = 0;
        for (let seen = false; !seen; ) {
          expect(markers).toBeLessThan(200);
          markers++;
          expect((await producer.call({ cmd: "PROGRESS", id, progress: 100, message: `marker-${markers}` })).ok).toBe(true);
          for (;;) {
            let e: any;
            try {
              e = await sub.frame(1_000); // kept events are already queued; a pause means no more
            } catch {
              break; // nothing more for now: publish another marker
            }
            expect(e.event).toBe("progress");
            delivered++;
            dropped += e.dropped ?? 0;
            if (typeof e.message === "string" && e.message.startsWith("marker-")) {
              seen = true;
              break;
            }
          }
        }
        console.log(`[${name}] events: ${delivered} delivered, ${dropped} dropped of ${published + markers}`);
        expect(dropped).toBeGreaterThan(0);
        expect(delivered + dropped).toBe(published + markers);
        // Bounded: what the server kept for the subscriber is the high-water mark plus what the
        // kernel's socket buffers took, a few MiB; queueing everything would deliver all 40.
        expect(published * messageChars).toBeGreaterThan(8 * outputBytesHighWater);
        expect(delivered).toBeLessThan(published / 2);
        expect((await producer.call({ cmd: "PING" })).pong).toBe(true);
      } finally {
        for (const c of clients) c.close();
      }
    }, 60_000);
  });
}
