// The request decoder: envelope decoded, the payload fields each command declares (registry
// `raw`) kept as the exact bytes that arrived, malformed input refused with a RangeError (never
// a crash, never a polluted prototype).

import { describe, expect, test } from "bun:test";
import { pack, unpack } from "msgpackr";
import { registry } from "../../src/dispatch/commands.ts";
import { Engine } from "../../src/engine/engine.ts";
import { decodeMsgpackRequest, rawifyJsonRequest, RawSpec, releaseBorrowed, type RawTree } from "../../src/protocol/decode.ts";
import { BorrowedRaw, Raw, skipValue } from "../../src/protocol/msgpack.ts";

const specOf = registry.rawSpecOf;
const decode = (b: Uint8Array) => decodeMsgpackRequest(b, 0, b.length, specOf) as Record<string, any>;

describe("decodeMsgpackRequest", () => {
  test("decodes the envelope and keeps the command's payload fields raw, and only those", () => {
    const data = { nested: { deep: [1, 2, { x: "y" }] }, n: 1.5 };
    const r = decode(pack({ cmd: "ACK", id: 7, data, result: "ok", tags: ["a", "b"], big: 2 ** 40, neg: -5 }));
    expect(r.cmd).toBe("ACK");
    expect(r.id).toBe(7);
    expect(r.tags).toEqual(["a", "b"]);
    expect(r.big).toBe(2 ** 40);
    expect(r.neg).toBe(-5);
    expect(unpack(r.result.bytes)).toBe("ok"); // ACK's payload
    expect(r.data).toEqual(data); // not a payload of ACK: decoded
    const p = decode(pack({ cmd: "PUSH", queue: "q", data, result: "x" }));
    expect(unpack(p.data.bytes)).toEqual(data);
    expect(p.result).toBe("x");
  });

  test("finds the command when cmd is not the first key", () => {
    const r = decode(pack({ queue: "q", data: { a: [1] }, reqId: "r", cmd: "PUSH" }));
    expect(r.data).toBeInstanceOf(Raw);
    expect(unpack(r.data.bytes)).toEqual({ a: [1] });
    // An unknown command keeps nothing raw (it is refused by dispatch anyway).
    expect(decode(pack({ data: 1, cmd: "NOPE" })).data).toBe(1);
  });

  test("nested raw trees: a field of each item, and a tree that contains itself", () => {
    const child: RawTree = { data: true };
    child.children = [child];
    const spec = RawSpec.compile({ data: true, children: [child] });
    expect(spec.paths()).toEqual(["data", "children[].data", "children[].children[]...."]);
    const body = { cmd: "X", data: 1, children: [{ data: { a: 1 }, children: [{ data: [2], name: "n" }] }] };
    const r = decodeMsgpackRequest(pack(body), 0, pack(body).length, () => spec) as any;
    expect(unpack(r.data.bytes)).toBe(1);
    expect(unpack(r.children[0].data.bytes)).toEqual({ a: 1 });
    expect(unpack(r.children[0].children[0].data.bytes)).toEqual([2]);
    expect(r.children[0].children[0].name).toBe("n");
    const j = rawifyJsonRequest(JSON.parse(JSON.stringify(body)), () => spec) as any;
    expect(unpack(j.children[0].children[0].data.bytes)).toEqual([2]);
  });

  test("keeps the data of each PUSHB job raw, and only there", () => {
    const r = decode(pack({ cmd: "PUSHB", queue: "q", jobs: [{ data: [1], priority: 3 }, { data: { a: "é" } }], meta: { data: 5 } }));
    expect(r.jobs[0].priority).toBe(3);
    expect(unpack(r.jobs[0].data.bytes)).toEqual([1]);
    expect(unpack(r.jobs[1].data.bytes)).toEqual({ a: "é" });
    expect(r.meta.data).toBe(5); // not a payload position: decoded
  });

  test("payload bytes are copied, not views of the input buffer (kept ones: ACK's result, KV's value)", () => {
    for (const body of [{ cmd: "ACK", id: 1, result: "abc" }, { cmd: "KVSET", key: "k", value: "abc" }]) {
      const b = pack(body);
      const r = decode(b);
      const raw = (r.result ?? r.value) as Raw;
      const before = Buffer.from(raw.bytes);
      b.fill(0);
      expect(Buffer.from(raw.bytes).equals(before)).toBe(true);
    }
  });

  test("borrowed payloads are reused from request to request, and let go of their frame after it", () => {
    const first = decode(pack({ cmd: "PUSHB", queue: "q", jobs: [{ data: 1 }, { data: 2 }] })).jobs.map((j: { data: BorrowedRaw }) => j.data);
    expect(first[0]).toBeInstanceOf(BorrowedRaw);
    releaseBorrowed(); // what the connection does once the request is dispatched
    for (const r of first) expect(r.src.length).toBe(0);
    const frame = pack({ cmd: "PUSHB", queue: "q", jobs: [{ data: "a" }, { data: "b" }, { data: "c" }] });
    const second = decode(frame).jobs.map((j: { data: BorrowedRaw }) => j.data);
    expect(second.slice(0, 2)).toEqual(first); // the same objects: nothing allocated per job
    expect(second[0]).toBe(first[0]);
    expect(second.map((r: BorrowedRaw) => unpack(r.bytes))).toEqual(["a", "b", "c"]);
    expect(second[2].src).toBe(frame);
  });

  test("PUSH and PUSHB data are borrowed views of the frame, and the engine keeps its own copy", () => {
    const engine = new Engine({ now: () => 1000 });
    const b = pack({ cmd: "PUSHB", queue: "q", jobs: [{ data: "first" }, { data: { n: 2 } }] });
    const r = decode(b);
    const views = r.jobs.map((j: { data: Raw }) => j.data.bytes as Uint8Array);
    for (const v of views) expect(v.buffer).toBe(b.buffer); // no copy made by the decoder
    const ids = views.map((data: Uint8Array) => engine.push({ queue: "q", data }));
    const single = pack({ cmd: "PUSH", queue: "q", data: [3] });
    const one = (decode(single).data as Raw).bytes;
    expect(one.buffer).toBe(single.buffer);
    ids.push(engine.push({ queue: "q", data: one }));
    b.fill(0); // the frames' buffers are reused for the next reads
    single.fill(0);
    expect(ids.map((id: number) => unpack(engine.getJob(id)!.data))).toEqual(["first", { n: 2 }, [3]]);
  });

  test("a key named __proto__ does not reach the prototype", () => {
    const b = pack({ cmd: "PING", ["__proto__"]: { polluted: true } });
    const r = decode(b);
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(r.polluted).toBeUndefined();
  });

  test("truncated input, trailing bytes, bad type bytes and deep nesting are refused", () => {
    const whole = pack({ cmd: "PUSH", queue: "q", data: { a: 1 } });
    for (let cut = 1; cut < whole.length; cut++) {
      expect(() => decodeMsgpackRequest(whole, 0, cut, specOf)).toThrow(RangeError);
    }
    expect(() => decodeMsgpackRequest(Buffer.concat([whole, Buffer.from([1])]), 0, whole.length + 1, specOf)).toThrow(RangeError);
    expect(() => decode(Buffer.from([0xc1]))).toThrow(RangeError);
    let nested: unknown = 1;
    for (let i = 0; i < 100; i++) nested = [nested];
    expect(() => decode(pack({ cmd: "PING", x: nested }))).toThrow(/nested too deeply/);
    // ...but a deep payload is fine: it is skipped, not decoded.
    expect(unpack(decode(pack({ cmd: "PUSH", data: nested })).data.bytes)).toEqual(nested);
  });

  test("a huge declared length cannot allocate before the bytes exist", () => {
    const b = Buffer.from([0x81, 0xa1, 0x78, 0xdd, 0xff, 0xff, 0xff, 0xff]); // {x: array(4G)}
    expect(() => decode(b)).toThrow(RangeError);
  });
});

describe("skipValue", () => {
  test("lands just past each value for every MessagePack type", () => {
    const values = [null, true, false, 0, 127, 128, 255, 65535, 2 ** 32 - 1, 2 ** 40, -1, -33, -200, -40000, -(2 ** 31), 1.5,
      "", "a".repeat(31), "b".repeat(255), "c".repeat(70000), Buffer.alloc(300), [], [1, [2, [3]]], {}, { a: { b: [null] } },
      Array.from({ length: 20 }, (_, i) => i), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))];
    for (const v of values) {
      const b = Buffer.concat([pack(v), Buffer.from([0xc0])]);
      expect(skipValue(b, 0, b.length)).toBe(b.length - 1);
    }
  });
});

describe("rawifyJsonRequest", () => {
  test("the command's JSON payloads become MessagePack Raw bytes, the rest stays JSON", () => {
    const r = rawifyJsonRequest({ cmd: "PUSHB", jobs: [{ data: { a: 1 } }], data: [1], result: null }, specOf) as any;
    expect(unpack(r.jobs[0].data.bytes)).toEqual({ a: 1 });
    expect(r.data).toEqual([1]); // not a PUSHB payload
    const a = rawifyJsonRequest({ cmd: "ACK", id: 1, result: null }, specOf) as any;
    expect(a.result).toBeInstanceOf(Raw);
    expect(unpack(a.result.bytes)).toBeNull();
  });
});
