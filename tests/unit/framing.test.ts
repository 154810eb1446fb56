// FrameReader in text mode: a line split anywhere, bytes past a chunk's end never read (the
// io_uring backend hands out views into one large receive region), long lines in many pieces.
import { expect, test } from "bun:test";
import { frameBuffersSpare, frameBufferSpareBytesMax } from "../../src/constants.ts";
import { FrameReader, type FrameSink, spareFrameBuffers } from "../../src/protocol/framing.ts";

function reader(): { r: FrameReader; lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  const sink: FrameSink = {
    onFrame: (b, o, n) => void lines.push(new TextDecoder().decode(b.subarray(o, o + n))),
    onFrameError: (m) => void errors.push(m),
  };
  return { r: new FrameReader(sink), lines, errors };
}

test("lines split at every byte boundary, CRLF included, come out whole", () => {
  const text = new TextEncoder().encode('{"a":1}\n{"b":"é"}\r\n{"c":3}\n');
  for (let cut = 1; cut < text.length; cut++) {
    const { r, lines } = reader();
    r.push(text, 0, cut);
    r.push(text, cut, text.length - cut);
    expect(lines).toEqual(['{"a":1}', '{"b":"é"}', '{"c":3}']);
  }
});

test("a newline past the chunk's end (same buffer, not this chunk) is not a line end", () => {
  const { r, lines } = reader();
  const region = new TextEncoder().encode('{"a":1' + "\n".repeat(20)); // stale bytes after the chunk
  r.push(region, 0, 6); // '{"a":1' only
  expect(lines).toEqual([]);
  const rest = new TextEncoder().encode("}\n");
  r.push(rest, 0, rest.length);
  expect(lines).toEqual(['{"a":1}']);
});

test("a long line arriving in many pieces is one line, and the next one still parses", () => {
  const { r, lines, errors } = reader();
  const body = '{"s":"' + "x".repeat(1 << 20) + '"}';
  const bytes = new TextEncoder().encode(body + '\n{"n":2}\n');
  for (let at = 0; at < bytes.length; at += 1000) r.push(bytes, at, Math.min(1000, bytes.length - at));
  expect(errors).toEqual([]);
  expect(lines.length).toBe(2);
  expect(lines[0]!.length).toBe(body.length);
  expect(lines[1]).toBe('{"n":2}');
});

test("big frame buffers go to a bounded pool and come back whole: no stale bytes, no sharing", () => {
  const binary = () => {
    const frames: number[][] = [];
    const sink: FrameSink = { onFrame: (b, o, n) => void frames.push([...b.subarray(o, o + n)]), onFrameError: (m) => { throw new Error(m); } };
    return { r: new FrameReader(sink), frames };
  };
  const frame = (n: number, fill: number): Uint8Array => {
    const f = new Uint8Array(4 + n).fill(fill);
    new DataView(f.buffer).setUint32(0, n);
    return f;
  };
  const feed = (r: FrameReader, f: Uint8Array, piece: number) => {
    for (let at = 0; at < f.length; at += piece) r.push(f, at, Math.min(piece, f.length - at));
  };
  // A 200 KB frame in 64 KB pieces needs a big buffer; once it is out, the buffer is spare.
  // (The pool is the module's: earlier tests may have left buffers in it.)
  const a = binary();
  feed(a.r, frame(200_000, 0xaa), 65_536);
  expect(a.frames.length).toBe(1);
  expect(a.frames[0]!.every((x) => x === 0xaa)).toBe(true);
  const pooled = spareFrameBuffers();
  expect(pooled).toBeGreaterThanOrEqual(1);
  // Another connection takes one for its own big frame (the count drops while it holds it) and
  // reads only what it wrote, though the buffer held 0xaa bytes.
  const b = binary();
  const f = frame(100_000, 0x55);
  b.r.push(f, 0, 65_536);
  b.r.push(f, 65_536, 30_000);
  expect(spareFrameBuffers()).toBe(pooled - 1);
  b.r.push(f, 95_536, f.length - 95_536);
  expect(b.frames.length).toBe(1);
  expect(b.frames[0]!.length).toBe(100_000);
  expect(b.frames[0]!.every((x) => x === 0x55)).toBe(true);
  expect(spareFrameBuffers()).toBe(pooled);
  // Many connections each holding half a big frame at once, then finishing: the pool stays bounded.
  const many = Array.from({ length: frameBuffersSpare + 5 }, () => binary());
  const big = frame(300_000, 0x11);
  for (const m of many) m.r.push(big, 0, 150_000 + 4);
  for (const m of many) m.r.push(big, 150_004, big.length - 150_004);
  for (const m of many) expect([m.frames.length, m.frames[0]!.length]).toEqual([1, 300_000]);
  expect(spareFrameBuffers()).toBe(frameBuffersSpare);
  // A frame larger than a spare may be is never kept.
  const huge = binary();
  feed(huge.r, frame(frameBufferSpareBytesMax + 1000, 0x22), 1 << 20);
  expect(huge.frames[0]!.length).toBe(frameBufferSpareBytesMax + 1000);
  expect(spareFrameBuffers()).toBe(frameBuffersSpare);
});
