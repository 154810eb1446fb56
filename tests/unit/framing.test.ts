// FrameReader in text mode: a line split anywhere, bytes past a chunk's end never read (the
// io_uring backend hands out views into one large receive region), long lines in many pieces.
import { expect, test } from "bun:test";
import { FrameReader, type FrameSink } from "../../src/protocol/framing.ts";

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
