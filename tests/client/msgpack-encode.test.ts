// The client's request writer against msgpackr's reader: every value kind a job can carry,
// the widths at each number and length boundary, frames that roll back when too large, and
// JSON's rules for what an object leaves out (functions, symbols) and how a Date is written.

import { describe, expect, test } from "bun:test";
import { Unpackr } from "msgpackr";
import { FrameEncoder, FrameTooLarge } from "../../src/client/msgpack-encode.ts";

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Encode one request and read its frames back with msgpackr. */
function roundTrip(fields: Record<string, unknown>, enc = new FrameEncoder(1 << 20, 1 << 20), reqId = 7): Record<string, unknown>[] {
  enc.frame("PUSH", reqId, fields);
  const bytes = enc.take()!;
  const out: Record<string, unknown>[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.length; ) {
    const n = view.getUint32(at);
    out.push(unpackr.unpack(bytes.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  return out;
}

describe("msgpack-encode", () => {
  test("cmd and reqId come first; values of every kind read back as written", () => {
    const numbers = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1, 0.5, -1.25, 1e300, Infinity];
    const strings = ["", "a", "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256), "x".repeat(70_000), "é", "日本語".repeat(20), "😀", "mixed ascii and ü"];
    const fields = {
      queue: "emails",
      data: { numbers, strings, nested: { deep: [[1, [2, [3]]], { a: null }] }, t: true, f: false, n: null },
      bin: new Uint8Array([1, 2, 3]),
      big: new Uint8Array(70_000).fill(7),
      many: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])),
      long: Array.from({ length: 70_000 }, (_, i) => i % 7),
    };
    const [m] = roundTrip(fields);
    expect(Object.keys(m!).slice(0, 2)).toEqual(["cmd", "reqId"]);
    for (const id of [0, 9, 10, 99, 100, 123456789, 2 ** 53 - 1]) expect(roundTrip({}, undefined, id)[0]!.reqId).toBe(String(id));
    expect(m).toEqual({ cmd: "PUSH", reqId: "7", ...fields, bin: new Uint8Array([1, 2, 3]) });
  });

  test("JSON's rules: Date via toJSON, functions and symbols left out of objects, undefined as nil, Map as a map", () => {
    const d = new Date(1_700_000_000_000);
    const [m] = roundTrip({ data: { d, f: () => 1, s: Symbol("x"), u: undefined, arr: [undefined, () => 1], m: new Map([["a", 1]]) } });
    expect(m!.data).toEqual({ d: d.toJSON(), u: null, arr: [null, null], m: { a: 1 } });
    expect(Object.keys(m!.data as object)).toEqual(["d", "u", "arr", "m"]);
  });

  test("a frame over the limit is refused and nothing of it stays; the frames before it are kept", () => {
    const enc = new FrameEncoder(1000, 4096);
    enc.frame("PING", 1, {});
    const before = enc.length;
    expect(() => enc.frame("PUSH", 2, { data: "x".repeat(2000) })).toThrow(FrameTooLarge);
    expect(enc.length).toBe(before);
    // A request far over the limit stops before growing the buffer for all of it.
    expect(() => enc.frame("PUSH", 3, { data: Array.from({ length: 100_000 }, () => "yyyy") })).toThrow(FrameTooLarge);
    expect(enc.length).toBe(before);
    enc.frame("PING", 4, {});
    const bytes = enc.take()!;
    expect(bytes.length).toBe(2 * before);
    expect(enc.take()).toBeNull();
  });

  test("a cycle is an error, not a stack overflow", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    const enc = new FrameEncoder(1 << 20, 1 << 20);
    expect(() => enc.frame("PUSH", 1, { data: a })).toThrow(/nested more than 1000 levels/);
    expect(enc.length).toBe(0);
  });
});
