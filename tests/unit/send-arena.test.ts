// The io_uring backend's send arena (src/io/uring-output.ts) without a ring: what nextSend offers
// is exactly the slot's bytes in order, adjacent chunks of a slot go out in one send (up to the
// cap), chunks freed in chain order come back out adjacent, and under random writes, partial
// sends and slots interleaving, every slot receives exactly the byte stream written to it.

import { describe, expect, test } from "bun:test";
import { ArrayArenaMemory, SendArena } from "../../src/io/uring-output.ts";
import { rng } from "../helpers/rng.ts";

const chunk = 16;

function arena(opts: { chunks?: number; slots?: number; perSlot?: number; sendMax?: number } = {}) {
  const chunks = opts.chunks ?? 64;
  const mem = new Uint8Array(chunks * chunk);
  const a = new SendArena(new ArrayArenaMemory(mem), chunk, chunks, opts.slots ?? 4, opts.perSlot ?? chunks, 0, 0, opts.sendMax ?? 4 * chunk);
  /** What the kernel would read for the slot's next send (null: nothing to send). */
  const peek = (slot: number): Uint8Array | null => (a.nextSend(slot) ? mem.slice(a.sendOffset, a.sendOffset + a.sendLength) : null);
  return { a, mem, peek };
}

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 255);

describe("send arena", () => {
  test("a write over three adjacent chunks is one send of all of it", () => {
    const { a, peek } = arena();
    const data = bytes(40);
    a.write(1, data, 0, data.length);
    expect(peek(1)).toEqual(data);
    a.consume(1, 40);
    expect(a.pending(1)).toBe(0);
    expect(peek(1)).toBeNull();
    expect(a.chunksFree()).toBe(64);
  });

  test("one send covers at most the cap; the rest follows in order", () => {
    const { a, peek } = arena({ sendMax: 2 * chunk });
    const data = bytes(5 * chunk + 3);
    a.write(0, data, 0, data.length);
    const got: number[] = [];
    for (let s = peek(0); s !== null; s = peek(0)) {
      expect(s.length).toBeLessThanOrEqual(2 * chunk);
      got.push(...s);
      a.consume(0, s.length);
    }
    expect(Uint8Array.from(got)).toEqual(data);
  });

  test("chunks freed after a send come back adjacent, so the next large write is one send again", () => {
    const { a, peek } = arena();
    for (let round = 0; round < 5; round++) {
      const data = bytes(3 * chunk + 5, round);
      a.write(2, data, 0, data.length);
      expect(peek(2)?.length).toBe(data.length);
      a.consume(2, data.length);
    }
  });

  test("a send never runs into another slot's chunk", () => {
    const { a, peek } = arena();
    // Interleaved: slot 1 gets chunk 0, slot 2 chunk 1, slot 1 chunk 2.
    a.write(1, bytes(chunk, 0), 0, chunk);
    a.write(2, bytes(chunk, 100), 0, chunk);
    a.write(1, bytes(chunk, 50), 0, chunk);
    expect(peek(1)).toEqual(bytes(chunk, 0));
    a.consume(1, chunk);
    expect(peek(1)).toEqual(bytes(chunk, 50));
    expect(peek(2)).toEqual(bytes(chunk, 100));
  });

  test("random writes, partial sends and interleaved slots deliver each slot's bytes in order", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const { a, peek } = arena({ chunks: 32, slots: 3, perSlot: 12, sendMax: 3 * chunk });
      const written: number[][] = [[], [], []];
      const received: number[][] = [[], [], []];
      let counter = 0;
      for (let step = 0; step < 400; step++) {
        const slot = Math.floor(r() * 3);
        if (r() < 0.55) {
          const n = 1 + Math.floor(r() * 3 * chunk);
          const data = bytes(n, counter);
          counter += n;
          a.write(slot, data, 0, n);
          written[slot]!.push(...data);
        } else {
          const s = peek(slot);
          if (s === null) continue;
          // The kernel may take less than offered.
          const took = r() < 0.3 ? 1 + Math.floor(r() * s.length) : s.length;
          received[slot]!.push(...s.subarray(0, took));
          a.consume(slot, took);
        }
        a.refillStarved(() => {});
      }
      for (let slot = 0; slot < 3; slot++) {
        for (let s = peek(slot), spins = 0; s !== null && spins < 10_000; s = peek(slot), spins++) {
          received[slot]!.push(...s);
          a.consume(slot, s.length);
          a.refillStarved(() => {});
        }
        expect({ seed, slot, got: received[slot]!.length }).toEqual({ seed, slot, got: written[slot]!.length });
        expect(Uint8Array.from(received[slot]!)).toEqual(Uint8Array.from(written[slot]!));
        expect(a.pending(slot)).toBe(0);
      }
      expect(a.chunksFree()).toBe(32);
    }
  });
});
