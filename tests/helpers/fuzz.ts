// Test helper: requests for the fuzz test and the soak script, generated from a seed. A corpus
// of well-formed requests for every kind of command (payloads of every MessagePack type among
// them), then mutated in place: bytes flipped, type bytes swapped for others, lengths inflated,
// truncated or padded bodies. Binary frames keep a correct length prefix (each stays one frame,
// so replies can be counted) unless asked for framing mutations; text lines never gain or lose
// a newline. Every request carries a reqId a mutation may destroy.

import { pack } from "msgpackr";
import { rng } from "./rng.ts";

const payloads: unknown[] = [
  null, true, 0, -1, 127, 128, 65536, 2 ** 40, -(2 ** 40), 1.5, "", "é", "x".repeat(40), [], [1, [2, [3]]], {},
  { a: 1, b: [null, "z"] }, Buffer.from([1, 2, 3]), Array.from({ length: 20 }, (_, i) => i),
];

/** A well-formed request (some refused by validation, none that waits: timeouts are 0). */
function request(r: () => number, i: number, queue: string): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const id = Math.floor(r() * 50);
  const data = pick(payloads);
  const reqId = `f${i}`;
  switch (Math.floor(r() * 16)) {
    case 0: return { cmd: "PUSH", queue, data, reqId, priority: pick([0, 5, -3]), delay: pick([0, 10]) };
    case 1: return { cmd: "PUSHB", queue, reqId, jobs: [{ data }, { data: pick(payloads), unique_key: "u" }] };
    case 2: return { cmd: "PULL", queue, timeout: 0, reqId };
    case 3: return { cmd: "PULLB", queue, count: pick([1, 5]), timeout: 0, reqId, sparse: r() < 0.5 };
    case 4: return { cmd: "ACK", id, result: data, reqId };
    case 5: return { cmd: "FAIL", id, error: "e", reqId };
    case 6: return { cmd: "GETJOB", id, reqId };
    case 7: return { cmd: "GETJOBSBATCH", ids: [id, id + 1], reqId };
    case 8: return { cmd: "GETJOBS", queue, limit: 5, reqId };
    case 9: return { cmd: "HEARTBEAT", id, reqId };
    case 10: return { cmd: "PROGRESS", id, progress: 10, reqId };
    case 11: return { cmd: "LOG", id, message: "m", reqId };
    case 12: return { cmd: "STATS", reqId };
    case 13: return { cmd: "GETJOBCOUNTS", queue, reqId };
    case 14: return { cmd: "CHANGEPRIORITY", id, priority: 2, reqId };
    default: return { cmd: pick(["PING", "HELLO", "LISTQUEUES", "NOPE", "UPDATEJOB"]), id, data, reqId };
  }
}

/** A MessagePack body mutated in place, a few bytes at a time. */
function mutate(r: () => number, body: Uint8Array): Uint8Array {
  const b = Uint8Array.from(body);
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(r() * b.length);
    switch (Math.floor(r() * 4)) {
      case 0: b[at] = Math.floor(r() * 256); break; // any byte
      case 1: b[at] = [0xc1, 0xd4, 0xd7, 0xc7, 0xdd, 0xdf, 0xc6, 0xdb][Math.floor(r() * 8)]!; break; // hostile type bytes
      case 2: b[at] = b[at]! ^ (1 << Math.floor(r() * 8)); break; // one bit
      default: b[at] = 0xff; break;
    }
  }
  if (r() < 0.1) return b.subarray(0, Math.floor(r() * b.length)); // truncated
  return b;
}

/** A length-prefixed frame of the body. */
export function frameOf(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

export interface FuzzBatch {
  bytes: Buffer;
  /** Requests in it (frames or lines). */
  count: number;
}

/** `count` binary frames: about a quarter left intact, the rest mutated; zero-length bodies too. */
export function binaryBatch(seed: number, count: number, queue: string): FuzzBatch {
  const r = rng(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body = pack(request(r, i, queue)) as Uint8Array;
    const x = r();
    parts.push(frameOf(x < 0.25 ? body : x < 0.27 ? new Uint8Array(0) : mutate(r, body)));
  }
  return { bytes: Buffer.concat(parts), count };
}

/** `count` text lines, mutated a character at a time (never a newline). */
export function textBatch(seed: number, count: number, queue: string): FuzzBatch {
  const r = rng(seed);
  const lines: string[] = [];
  const junk = ['"', "{", "}", "[", "]", ":", ",", "\\", "\u0000", "é", "9", " ", "\r", "\ud800"];
  for (let i = 0; i < count; i++) {
    let s = JSON.stringify(request(r, i, queue));
    if (r() > 0.25) {
      const n = 1 + Math.floor(r() * 3);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(r() * s.length);
        s = s.slice(0, at) + junk[Math.floor(r() * junk.length)] + s.slice(at + 1);
      }
    }
    lines.push(s);
  }
  return { bytes: Buffer.from(lines.join("\n") + "\n"), count };
}
