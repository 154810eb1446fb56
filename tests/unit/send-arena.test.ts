// The io_uring backend's send arena (src/io/uring-output.ts) without a ring: what nextSend offers
// is exactly the slot's bytes in order, adjacent chunks of a slot go out in one send (up to the
// cap), chunks apart in the arena are gathered into one send as separate runs (up to runsMax),
// chunks freed in chain order come back out adjacent, and under random writes, partial sends and
// slots interleaving, every slot receives exactly the byte stream written to it.

import { describe, expect, test } from "bun:test";
import { ArrayArenaMemory, SendArena } from "../../src/io/uring-output.ts";
import { rng } from "../helpers/rng.ts";

const chunk = 16;

function arena(opts: { chunks?: number; slots?: number; perSlot?: number; sendMax?: number; runs?: number } = {}) {
  const chunks = opts.chunks ?? 64;
  const mem = new Uint8Array(chunks * chunk);
  const a = new SendArena(new ArrayArenaMemory(mem), chunk, chunks, opts.slots ?? 4, opts.perSlot ?? chunks, 0, 0, opts.sendMax ?? 4 * chunk, opts.runs ?? 1);
  /** What the kernel would read for the slot's next send, its runs in order (null: nothing). */
  const peek = (slot: number): Uint8Array | null => {
    if (!a.nextSend(slot)) return null;
    const out = new Uint8Array(a.sendLength);
    let at = 0;
    for (let i = 0; i < a.runCount; i++) {
      const off = a.runs[2 * i]!;
      const len = a.runs[2 * i + 1]!;
      out.set(mem.subarray(off, off + len), at);
      at += len;
    }
    expect(at).toBe(a.sendLength);
    expect(a.runs[0]).toBe(a.sendOffset);
    return out;
  };
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

  test("chunks apart in the arena go in one send as separate runs, never another slot's bytes", () => {
    const { a, peek } = arena({ runs: 4 });
    // Interleaved: slot 1 gets chunks 0, 2 and 3, slot 2 chunk 1.
    a.write(1, bytes(chunk, 0), 0, chunk);
    a.write(2, bytes(chunk, 100), 0, chunk);
    a.write(1, bytes(2 * chunk, 50), 0, 2 * chunk);
    expect(peek(1)).toEqual(Uint8Array.from([...bytes(chunk, 0), ...bytes(2 * chunk, 50)]));
    expect(a.runCount).toBe(2); // chunk 0, then chunks 2-3 as one run
    expect([a.runs[0], a.runs[1], a.runs[2], a.runs[3]]).toEqual([0, chunk, 2 * chunk, 2 * chunk]);
    a.consume(1, 3 * chunk);
    expect(peek(1)).toBeNull();
    expect(peek(2)).toEqual(bytes(chunk, 100));
  });

  test("a send gathers at most runsMax runs and at most the cap; the rest follows in order", () => {
    const { a, peek } = arena({ runs: 2, sendMax: 8 * chunk });
    const expected: number[] = [];
    // Slot 0 gets every other chunk: 0, 2, 4, 6, 8 (slot 3 takes the ones between).
    for (let i = 0; i < 5; i++) {
      const data = bytes(chunk, 10 * i);
      a.write(0, data, 0, chunk);
      expected.push(...data);
      a.write(3, bytes(chunk), 0, chunk);
    }
    const got: number[] = [];
    const sizes: number[] = [];
    for (let s = peek(0); s !== null; s = peek(0)) {
      sizes.push(a.runCount);
      got.push(...s);
      a.consume(0, s.length);
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(Uint8Array.from(got)).toEqual(Uint8Array.from(expected));
  });

  test("the head chunk's sent part is skipped and the cap cuts the last run", () => {
    const { a, peek } = arena({ runs: 4, sendMax: 2 * chunk });
    a.write(1, bytes(chunk, 0), 0, chunk);
    a.write(2, bytes(chunk), 0, chunk);
    a.write(1, bytes(3 * chunk, 16), 0, 3 * chunk);
    a.consume(1, 5); // the kernel took 5 bytes of the first send
    const s = peek(1)!;
    expect(s).toEqual(Uint8Array.from([...bytes(chunk, 0).subarray(5), ...bytes(chunk + 5, 16)]));
    expect(a.sendLength).toBe(2 * chunk);
  });

  test.each([1, 3])("random writes, partial sends and interleaved slots deliver each slot's bytes in order (runs %d)", (runs) => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const { a, peek } = arena({ chunks: 32, slots: 3, perSlot: 12, sendMax: 3 * chunk, runs });
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
