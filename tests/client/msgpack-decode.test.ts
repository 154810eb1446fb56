// The client's fast reply decoder against msgpackr on the shapes it must get right: job batches
// (the shape cache), maps whose keys change between entries, nested maps, "__proto__" keys,
// every number width, and frames it must refuse or hand back to msgpackr.

import { describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { decode, NotPlain } from "../../src/client/msgpack-decode.ts";
import { FrameEncoder } from "../../src/client/msgpack-encode.ts";

const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false });

function job(i: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let k = 0; k < 30; k++) o[`field_${k}`] = k % 3 === 0 ? null : k % 3 === 1 ? i * k : `s${i}-${k}`;
  o.data = { i, nested: { deep: [i, "x", { a: i }] } };
  return o;
}

describe("msgpack-decode", () => {
  test("a batch of same-shaped maps decodes like msgpackr, and keeps doing so", () => {
    const reply = { ok: true, reqId: "7", jobs: Array.from({ length: 50 }, (_, i) => job(i)) };
    const bytes = packr.pack(reply);
    expect(decode(bytes)).toEqual(reply);
    expect(decode(bytes)).toEqual(reply); // second pass uses the cached shape
  });

  test("a map of a known size with different keys (or order) is not forced into the old shape", () => {
    const a = job(1);
    decode(packr.pack({ jobs: [a, a] }));
    const renamed: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) renamed[k === "field_5" ? "other" : k] = v;
    const reordered = Object.fromEntries(Object.entries(a).reverse());
    for (const m of [renamed, reordered]) {
      const out = decode(packr.pack({ jobs: [m] })) as { jobs: Record<string, unknown>[] };
      expect(out.jobs[0]).toEqual(m);
      expect(Object.keys(out.jobs[0]!)).toEqual(Object.keys(m));
    }
    // And the original shape still decodes right afterwards.
    expect(decode(packr.pack(a))).toEqual(a);
  });

  test("long keys (str8) take the shape path too", () => {
    const m: Record<string, unknown> = {};
    for (let k = 0; k < 12; k++) m[`${"long_key_".repeat(5)}${k}`] = k;
    for (let round = 0; round < 3; round++) expect(decode(packr.pack({ jobs: [m, m] }))).toEqual({ jobs: [m, m] });
  });

  test('"__proto__" is data, never the prototype (small and large maps)', () => {
    for (const extra of [0, 10]) {
      const pairs: [string, unknown][] = [["__proto__", { polluted: true }], ["x", 1]];
      for (let i = 0; i < extra; i++) pairs.push([`k${i}`, i]);
      // Hand-made map so "__proto__" really is a key on the wire.
      const parts: number[] = [0xde, 0, pairs.length];
      for (const [k, v] of pairs) parts.push(...packr.pack(k), ...packr.pack(v));
      for (let round = 0; round < 2; round++) {
        const out = decode(new Uint8Array(parts)) as Record<string, unknown>;
        expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
        expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toEqual({ polluted: true });
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }
    }
  });

  test("numbers of every width, strings, binary, booleans, nil", () => {
    const values = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1, 1.5, -0.25, 1e300, "", "é", "x".repeat(40), "y".repeat(300), "z".repeat(70_000), true, false, null, new Uint8Array([1, 2, 3])];
    for (const v of values) expect(decode(packr.pack({ v }))).toEqual({ v });
    expect(decode(packr.pack(Array.from({ length: 70_000 }, (_, i) => i)))).toHaveLength(70_000);
  });

  test("truncated input throws; an unknown extension is left to msgpackr", () => {
    const bytes = packr.pack({ jobs: [job(1)] });
    expect(() => decode(bytes.subarray(0, bytes.length - 3))).toThrow();
    expect(() => decode(new Uint8Array([0xd6, 0xff, 0, 0, 0, 0]))).toThrow(NotPlain);
  });

  test("a reply's decimal reqId comes back as a number; any other reqId stays as sent", () => {
    const enc = new FrameEncoder(1 << 20, 1 << 20);
    enc.frame("PUSH", 123456, { id: 5 });
    const frame = enc.take()!;
    expect(decode(frame.subarray(4))).toEqual({ cmd: "PUSH", reqId: 123456, id: 5 });
    const map = (reqId: string) => {
      const r = new TextEncoder().encode(reqId);
      return new Uint8Array([0x82, 0xa5, ...new TextEncoder().encode("reqId"), 0xa0 | r.length, ...r, 0xa2, 0x6f, 0x6b, 0xc3]);
    };
    expect(decode(map("0"))).toEqual({ reqId: 0, ok: true });
    for (const kept of ["007", "a1", "", "1234567890123456", "-1"]) expect(decode(map(kept))).toEqual({ reqId: kept, ok: true });
  });
});
