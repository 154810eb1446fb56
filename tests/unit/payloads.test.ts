// The payload arena (engine/payloads.ts) against a reference of what each owner should read:
// puts and frees in random order over sizes up to and past a slab of their own, replacements,
// compaction moving live payloads (their owners' references follow), memory held against what
// is live, a queue worked in order never compacting, and reads after a free refused.

import { describe, expect, test } from "bun:test";
import { payloadOwnSlabBytes, payloadSlabBytesMax, payloadSlack } from "../../src/constants.ts";
import { PayloadArena, type PayloadOwner } from "../../src/engine/payloads.ts";
import { rng } from "../helpers/rng.ts";

class Owner implements PayloadOwner {
  d = -1;
  constructor(readonly id: number) {}
}

function bytesOf(id: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (id * 31 + i * 7) & 0xff;
  return b;
}

/** A new owner with the next id, holding `n` bytes of its own pattern in `a`. */
let lastId = 0;
function owned(a: PayloadArena, n: number): Owner {
  const o = new Owner(++lastId);
  o.d = a.put(o, bytesOf(o.id, n));
  return o;
}

/** The arena's memory bound: what free() keeps it within, plus the slab being filled. */
const bound = (live: number): number => payloadSlack * live + 3 * payloadSlabBytesMax;

function checkAll(a: PayloadArena, live: Map<Owner, Uint8Array>): void {
  let sum = 0;
  for (const [o, want] of live) {
    const got = a.view(o);
    if (got.length !== want.length || !got.every((x, i) => x === want[i])) throw new Error(`owner ${o.id} reads other bytes`);
    expect(a.length(o)).toBe(want.length);
    sum += 8 + want.length;
  }
  expect(a.stats.live).toBe(sum);
  expect(a.stats.allocated).toBeLessThanOrEqual(bound(sum));
}

describe("payload arena", () => {
  for (const seed of [1, 2, 3]) {
    test(`random puts, frees and replacements keep every owner's bytes (seed ${seed})`, () => {
      const r = rng(seed);
      const a = new PayloadArena();
      const live = new Map<Owner, Uint8Array>();
      const order: Owner[] = [];
      let ids = 0;
      let peakRatio = 0;
      for (let step = 0; step < 60_000; step++) {
        const x = r();
        if (x < 0.52 || order.length === 0) {
          // Mostly small, some a few KB, a few past the own-slab size.
          const y = r();
          const n = y < 0.9 ? Math.floor(r() * 300) : y < 0.995 ? Math.floor(r() * 8000) : payloadOwnSlabBytes + Math.floor(r() * 5000);
          const o = new Owner(++ids);
          const b = bytesOf(o.id, n);
          o.d = a.put(o, b);
          live.set(o, b);
          order.push(o);
        } else if (x < 0.97) {
          const k = Math.floor(r() * order.length);
          const o = order[k]!;
          order[k] = order[order.length - 1]!;
          order.pop();
          a.free(o);
          expect(o.d).toBe(-1);
          live.delete(o);
        } else {
          const o = order[Math.floor(r() * order.length)]!;
          const b = bytesOf(o.id + step, Math.floor(r() * 200));
          a.free(o);
          o.d = a.put(o, b);
          live.set(o, b);
        }
        if (step % 5000 === 0) checkAll(a, live);
        const s = a.stats;
        if (s.live > 4 * payloadSlabBytesMax) peakRatio = Math.max(peakRatio, s.allocated / s.live);
        if (s.allocated > bound(s.live)) throw new Error(`step ${step}: ${s.allocated} bytes held for ${s.live} live`);
      }
      checkAll(a, live);
      expect(a.compactions).toBeGreaterThan(0); // random frees thin slabs out
      expect(peakRatio).toBeLessThan(payloadSlack + 1);
      for (const o of order) a.free(o);
      expect(a.stats.live).toBe(0);
      expect(a.stats.slabs).toBeLessThanOrEqual(1); // the slab being filled
    });
  }

  test("a queue worked in order never compacts, and holds about what is live", () => {
    const a = new PayloadArena();
    const line: Owner[] = [];
    for (let i = 0; i < 20_000; i++) line.push(owned(a, 100));
    let head = 0;
    for (let round = 0; round < 200_000; round++) {
      a.free(line[head++]!); // the oldest leaves
      line.push(owned(a, 100)); // a new one arrives
    }
    expect(a.compactions).toBe(0);
    const s = a.stats;
    expect(s.live).toBe(20_000 * 108);
    expect(s.allocated).toBeLessThanOrEqual(s.live + 2 * payloadSlabBytesMax);
    const newest = line[line.length - 1]!;
    expect(a.view(newest)).toEqual(bytesOf(newest.id, 100));
  });

  test("stragglers do not pin their slabs: compaction moves them and the memory follows", () => {
    const a = new PayloadArena();
    const kept: Owner[] = [];
    // 1 in 100 stays (a DLQ, a delayed job), the rest come and go: 200k payloads over time.
    for (let i = 0; i < 200_000; i++) {
      const o = owned(a, 100);
      if (i % 100 === 0) kept.push(o);
      else a.free(o);
    }
    const s = a.stats;
    expect(s.live).toBe(kept.length * 108);
    expect(s.allocated).toBeLessThanOrEqual(bound(s.live));
    // Without compaction every 256 KB slab would be held by its ~24 stragglers: 21.6 MB here.
    expect(s.allocated).toBeLessThan((200_000 * 108) / 4);
    for (const o of kept) expect(a.view(o)).toEqual(bytesOf(o.id, 100));
  });

  test("a read or a free after the free is refused, never another owner's bytes", () => {
    const a = new PayloadArena();
    const x = new Owner(1);
    x.d = a.put(x, bytesOf(1, 10));
    const stale = x.d;
    a.free(x);
    expect(() => a.view(x)).toThrow(/does not hold the payload/);
    expect(() => a.free(x)).toThrow(/does not hold the payload/);
    // The same place named by an owner that never put there.
    const y = new Owner(2);
    y.d = a.put(y, bytesOf(2, 10));
    const z = new Owner(3);
    z.d = y.d;
    expect(() => a.view(z)).toThrow(/does not hold the payload/);
    x.d = stale;
    expect(() => a.view(x)).toThrow(/does not hold the payload/);
    expect(a.view(y)).toEqual(bytesOf(2, 10));
  });

  test("copyTo and locate give the same bytes as view, for small and large payloads", () => {
    const a = new PayloadArena();
    for (const n of [0, 1, 64, 65, 5000, payloadOwnSlabBytes + 1]) {
      const o = new Owner(n + 1);
      const b = bytesOf(n, n);
      o.d = a.put(o, b);
      const dst = new Uint8Array(n + 10);
      expect(a.copyTo(o, dst, 5)).toBe(n);
      expect([...dst.subarray(5, 5 + n)]).toEqual([...b]);
      const buf = a.locate(o);
      expect(a.len).toBe(n);
      expect(buf.subarray(a.at, a.at + a.len)).toEqual(b);
    }
  });
});
