// Micro-benchmarks (mitata), in-process, no sockets: the engine (push, pull, ack), the ready
// heap, framing, MessagePack request decode / reply encode, and the whole per-request path of a
// connection (frame -> decode -> dispatch -> engine -> encoded reply) without I/O. Comparing the
// last with the server's CPU per job under load (bench/run.ts) says how much goes to I/O.
// Then a memory census: heap and RSS bytes per waiting job with a 100-byte payload, in-process.
//
//   npx bun bench/micro.ts [--filter=regex] [--no-memory]

import { bench, do_not_optimize, group, run, summary } from "mitata";
import { heapStats } from "bun:jsc";
import { Engine } from "../src/engine/engine.ts";
import { IndexedHeap } from "../src/engine/heap.ts";
import { Job, kindSpec } from "../src/engine/model.ts";
import { QueueState } from "../src/engine/model.ts";
import { ReadyQueue, readyBefore } from "../src/engine/ready-queue.ts";
import { FrameReader, type FrameSink } from "../src/protocol/framing.ts";
import { decodeMsgpackRequest } from "../src/protocol/decode.ts";
import { registry } from "../src/dispatch/commands.ts";
import { decodeRaw, encodeValue } from "../src/protocol/msgpack.ts";
import { ReplyWriter } from "../src/protocol/writer.ts";
import { Connection, type ConnectionOwner } from "../src/server/connection.ts";
import { EventHub } from "../src/server/events.ts";
import { AckBatchFrame, jobData, pullBatchFrame, pushBatchFrame, pushFrame } from "./loadgen.ts";

const args = process.argv.slice(2);
const filterArg = args.find((a) => a.startsWith("--filter="));
const data = jobData(100);
const push1 = pushFrame("q", data);
const push100 = pushBatchFrame("q", data, 100);

function newEngine(): Engine {
  return new Engine({ now: Date.now });
}

/** A Connection wired to an engine, its output discarded after each request. */
function newConnection(engine: Engine): Connection {
  const owner: ConnectionOwner = {
    engine,
    events: new EventHub(engine),
    pendingBytes: () => 0,
    info: { version: "bench", ioBackend: "none", authTokens: null, commands: [], stats: { internalErrors: 0 }, clients: () => ({}) },
    markDirty(c) {
      c.dirty = true;
    },
    onInternalError(_c, e) {
      throw e;
    },
  };
  return new Connection(1, owner);
}

group("engine (in-process, no I/O)", () => {
  summary(() => {
    const e1 = newEngine();
    bench("push 1 job (queue drained every 4096)", () => {
      // A steady state: every 4096 pushes the queue is emptied, so the heap stays ~2k deep.
      const id = e1.push({ queue: "q", data });
      if ((id & 4095) === 0) for (const j of e1.pull("q", 4096)) e1.complete(j.id, j.lockToken, null);
    });
    const e2 = newEngine();
    bench("push + pull + ack 1 job", () => {
      e2.push({ queue: "q", data });
      const j = e2.pull("q", 1)[0]!;
      e2.complete(j.id, j.lockToken, null);
    });
    const e3 = newEngine();
    bench("push 100, pull 100, ack 100 (per batch)", () => {
      for (let i = 0; i < 100; i++) e3.push({ queue: "q", data });
      for (const j of e3.pull("q", 100)) e3.complete(j.id, j.lockToken, null);
    });
  });
});

group("ready line (ReadyQueue: a FIFO run, a heap for jobs out of order) against a plain heap", () => {
  const sizes = [1_000, 100_000];
  for (const n of sizes) {
    // FIFO at one priority: the run's case. Mixed priorities (seq % 3): mostly the heap's.
    for (const mixed of [false, true]) {
      const q = new QueueState("h");
      let seq = 0;
      const mk = () => {
        const j = new Job(++seq, q, data, 0, 0, kindSpec({ priority: mixed ? seq % 3 : 0 }));
        j.seq = seq;
        return j;
      };
      const h = new IndexedHeap<Job>(readyBefore);
      const line = new ReadyQueue();
      for (let i = 0; i < n; i++) h.push(mk());
      for (let i = 0; i < n; i++) line.push(mk());
      const what = `${mixed ? "3 priorities" : "FIFO"} at size ${n / 1000}k`;
      bench(`heap: take the front + push, ${what}`, () => {
        const j = h.pop()!;
        j.seq = ++seq;
        h.push(j);
      });
      bench(`ready line: take the front + push, ${what}`, () => {
        const j = line.peek()!;
        line.remove(j);
        j.seq = ++seq;
        line.push(j);
      });
    }
  }
});

group("framing and MessagePack", () => {
  const sink: FrameSink = { onFrame() {}, onFrameError() {} };
  const chunk = new Uint8Array(push1.length * 256);
  for (let i = 0; i < 256; i++) chunk.set(push1, i * push1.length);
  bench("FrameReader: 256 PUSH frames in one chunk (per chunk)", () => {
    const r = new FrameReader(sink);
    r.push(chunk, 0, chunk.length);
  });
  bench("decode PUSH request (payload kept raw)", () => do_not_optimize(decodeMsgpackRequest(push1, 4, push1.length, registry.rawSpecOf)));
  bench("decode PUSHB 100 request", () => do_not_optimize(decodeMsgpackRequest(push100, 4, push100.length, registry.rawSpecOf)));
  const w = new ReplyWriter();
  bench("encode reply {ok, id}", () => {
    w.reset();
    w.frame({ ok: true, id: 123456 });
  });
  const e = newEngine();
  for (let i = 0; i < 100; i++) e.push({ queue: "q", data });
  const jobs = e.pull("q", 100);
  bench("encode PULLB reply with 100 jobs", () => {
    w.reset();
    w.frame({ ok: true, jobs });
  });
  // The payload copy decode.ts makes per job: slice() on a Buffer goes through its species
  // constructor, so the Bun backend hands the decoder a plain Uint8Array view of each chunk.
  const received = Buffer.alloc(64 * 1024, 7);
  const receivedView = new Uint8Array(received.buffer, received.byteOffset, received.length);
  let off = 0;
  const nextOff = () => (off = (off + 128) & 0xffff) >= 0xff00 ? (off = 0) : off;
  bench("copy 100-byte payload: Uint8Array.prototype.slice.call(Buffer)", () => {
    const o = nextOff();
    do_not_optimize(Uint8Array.prototype.slice.call(received, o, o + 100));
  });
  bench("copy 100-byte payload: slice() of a plain Uint8Array view (what decode.ts does)", () => {
    const o = nextOff();
    do_not_optimize(Uint8Array.prototype.slice.call(receivedView, o, o + 100));
  });
  bench("copy 100-byte payload: new Uint8Array + set(view)", () => {
    const o = nextOff();
    const out = new Uint8Array(100);
    out.set(new Uint8Array(received.buffer, received.byteOffset + o, 100));
    do_not_optimize(out);
  });
  const obj = { p: "x".repeat(80), t: 1.5 };
  const packed = encodeValue(obj);
  bench("msgpackr pack 100-byte object", () => do_not_optimize(encodeValue(obj)));
  bench("msgpackr unpack 100-byte object", () => do_not_optimize(decodeRaw(packed)));
});

group("connection request path (frame -> decode -> dispatch -> engine -> reply), no I/O", () => {
  summary(() => {
    const engine = newEngine();
    const c = newConnection(engine);
    let n = 0;
    bench("PUSH", () => {
      c.onFrame(push1, 4, push1.length - 4);
      c.out.reset();
      if ((++n & 4095) === 0) for (const j of engine.pull("q", 4096)) engine.complete(j.id, j.lockToken, null);
    });
    const e2 = newEngine();
    const c2 = newConnection(e2);
    bench("PUSHB 100 (per batch of 100)", () => {
      c2.onFrame(push100, 4, push100.length - 4);
      c2.out.reset();
      for (const j of e2.pull("q", 100)) e2.complete(j.id, j.lockToken, null);
    });
    // PULLB 100 + ACKB 100 on a FIFO queue: ids come out in push order, so the ACKB frame is known.
    const e3 = newEngine();
    const c3 = newConnection(e3);
    const pull = pullBatchFrame("q", 100, 0);
    const ack = new AckBatchFrame(100);
    const ids = new Float64Array(100);
    bench("PULLB 100 + ACKB 100 (per batch of 100)", () => {
      const first = e3.push({ queue: "q", data });
      for (let i = 1; i < 100; i++) e3.push({ queue: "q", data });
      for (let i = 0; i < 100; i++) ids[i] = first + i;
      c3.onFrame(pull, 4, pull.length - 4);
      const a = ack.fill(ids, 100);
      c3.onFrame(a, 4, a.length - 4);
      c3.out.reset();
    });
  });
});

await run(filterArg ? { filter: new RegExp(filterArg.slice(9)) } : {});

if (!args.includes("--no-memory")) {
  // Memory census: what a waiting job costs in the server's own data structures. The payload is
  // copied out of a receive buffer per job, as the server's decoder does.
  const n = 300_000;
  const recv = new Uint8Array(push1.length * 64);
  const copy = (i: number) => Uint8Array.prototype.slice.call(recv, (i & 63) * 128, (i & 63) * 128 + data.length);
  // Each measurement starts on a fresh turn: the collector scans the stack conservatively, and a
  // stale reference to the previous measurement's objects kept them alive into this one's
  // "before" reading, then let them go during its build (engine.push printed 12-20 B/job).
  const measure = async (label: string, build: () => unknown) => {
    await new Promise((r) => setTimeout(r, 0));
    Bun.gc(true);
    const h0 = heapStats().heapSize;
    const r0 = process.memoryUsage().rss;
    const keep = build();
    Bun.gc(true);
    const h1 = heapStats().heapSize;
    const r1 = process.memoryUsage().rss;
    console.log(`${label.padEnd(52)} heap ${((h1 - h0) / n).toFixed(0).padStart(4)} B/job   rss ${((r1 - r0) / n).toFixed(0).padStart(4)} B/job`);
    return keep;
  };
  console.log(`\nmemory per waiting job, ${n / 1000}k jobs, ${data.length}-byte payload (in-process, after full GC):`);
  await measure("100-byte Uint8Array copies alone", () => Array.from({ length: n }, (_, i) => copy(i)));
  await measure("Job objects with their payloads in the arena (no maps)", () => {
    const q = new QueueState("m");
    return Array.from({ length: n }, (_, i) => new Job(i + 1, q, data, 0, 0, kindSpec()));
  });
  await new Promise((r) => setTimeout(r, 0));
  Bun.gc(true);
  const types0 = heapStats().objectTypeCounts as Record<string, number>;
  const kept = await measure("engine.push with a payload copy each (server path)", () => {
    const e = newEngine();
    for (let i = 0; i < n; i++) e.push({ queue: "q", data: copy(i) });
    return e;
  });
  // Which objects each waiting job brings (JSC's live object counts per type, after full GC).
  const types1 = heapStats().objectTypeCounts as Record<string, number>;
  const perJob = Object.entries(types1)
    .map(([t, c]) => [t, (c - (types0[t] ?? 0)) / n] as const)
    .filter(([, x]) => x >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  console.log(`  objects per waiting job: ${perJob.map(([t, x]) => `${t} ${x.toFixed(2)}`).join(", ")}`);
  do_not_optimize(kept);
}
