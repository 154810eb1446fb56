// The load generator: a separate process (pinned to its own core by run.ts) that drives one
// scenario against a running ringq over binary-mode TCP and prints ONE JSON line of results.
// Request frames are built once and reused (only an 8-byte timestamp or the ACKB id list is
// patched in place); replies are located by their length prefix and scanned, not decoded.
// It does not start servers or repeat runs (run.ts does), and it is not a client library.
//
//   npx bun bench/loadgen.ts --scenario=push --port=6789 [--server-pid=N] [--connections=4]
//     [--depth=256] [--batch=100] [--rate=10000] [--duration-ms=2000] [--warmup-ms=500]
//     [--count=N] [--jobs=N] [--payload-bytes=100] [--queue=bench] [--queues=1] [--prefill=1]
//
// --queues=N spreads push, pushb and pullack over the queues <queue>-0 .. <queue>-(N-1), one
// request after another in turn; --prefill=0 makes pullack take --jobs jobs from what is already
// waiting in the queue(s) instead of pushing its own first (bench/scale.ts).
//
// Also importable: runLoad(options) returns the same result object (bench/backends.ts and
// bench/persistence.ts reuse it in-process or spawn this file).

import { unpack } from "msgpackr";
import { FrameReader, type FrameSink } from "../src/protocol/framing.ts";
import { Raw, skipValue } from "../src/protocol/msgpack.ts";
import { ReplyWriter } from "../src/protocol/writer.ts";
import { readCpuSplitMs, readRssBytes, readThreadCpuMs } from "./lib/proc.ts";
import { summarizeLatency, type LatencySummary } from "./lib/stats.ts";

export type Scenario = "push" | "pushb" | "pullack" | "latency" | "rate" | "conns" | "memory";

export interface LoadOptions {
  scenario: Scenario;
  host: string;
  port: number;
  /** Server pid, for CPU (and RSS) readings from /proc; optional. */
  serverPid?: number;
  connections: number;
  /** Requests kept in flight per connection (closed loop). */
  depth: number;
  /** Jobs per PUSHB, or the count of each PULLB. */
  batch: number;
  /** Open loop (latency): jobs per second. */
  rate: number;
  durationMs: number;
  warmupMs: number;
  /** Upper bound on measured operations (jobs); the run stops at whichever bound comes first. */
  count: number;
  /** pullack: jobs pre-filled then processed; memory: jobs pushed between the RSS readings. */
  jobs: number;
  /** Encoded size of each job's `data` (MessagePack bytes). */
  payloadBytes: number;
  queue: string;
  /** Queues the requests go to in turn (1: `queue` itself). */
  queues: number;
  /** pullack: 1 pushes its own jobs first; 0 takes `jobs` from those already waiting. */
  prefill: number;
}

export const defaultOptions: LoadOptions = {
  scenario: "push",
  host: "127.0.0.1",
  port: 6789,
  connections: 4,
  depth: 256,
  batch: 100,
  rate: 10_000,
  durationMs: 2_000,
  warmupMs: 500,
  count: 50_000_000,
  jobs: 200_000,
  payloadBytes: 100,
  queue: "bench",
  queues: 1,
  prefill: 1,
};

/** The queue names requests go to, in turn. */
export function queueNames(o: Pick<LoadOptions, "queue" | "queues">): string[] {
  return o.queues <= 1 ? [o.queue] : Array.from({ length: o.queues }, (_, i) => `${o.queue}-${i}`);
}

/** Frames for each queue in turn, concatenated, with their offsets: a closed loop sends the next
 *  k of them as one slice (or two, where the turn wraps). */
class FrameCycle {
  readonly all: Uint8Array;
  private readonly at: number[] = [];
  private next = 0;
  constructor(frames: Uint8Array[]) {
    let n = 0;
    for (const f of frames) {
      this.at.push(n);
      n += f.length;
    }
    this.at.push(n);
    this.all = new Uint8Array(n);
    frames.forEach((f, i) => this.all.set(f, this.at[i]!));
  }
  get count(): number {
    return this.at.length - 1;
  }
  /** The next k frames as slices of `all`. */
  take(k: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (k > 0) {
      const n = Math.min(k, this.count - this.next);
      out.push(this.all.subarray(this.at[this.next]!, this.at[this.next + n]!));
      this.next = (this.next + n) % this.count;
      k -= n;
    }
    return out;
  }
}

export interface LoadResult {
  scenario: Scenario;
  options: LoadOptions;
  /** Jobs completed in the measured window (pushed, or processed, or delivered). */
  ops: number;
  elapsedMs: number;
  opsPerSec: number;
  errors: number;
  firstError?: string;
  /** Server CPU over the measured window: ms, % of one core, microseconds per job. */
  serverCpuMs?: number;
  serverCpuPct?: number;
  serverCpuUsPerOp?: number;
  /** Share of the server's CPU spent in the kernel (system time), %. */
  serverSysPct?: number;
  /** Server CPU ms in the window per thread name (main, JITWorker, Heap Helper, ...). */
  serverThreadsMs?: Record<string, number>;
  /** This generator's CPU over the window, % of one core: near 100 means it may be the limit. */
  genCpuPct: number;
  /** latency: push-to-worker, ms. closed loop: request round trip, ms. */
  latencyMs?: LatencySummary;
  /** latency: how late the generator sent versus schedule (its own jitter), ms. */
  sendLagMs?: LatencySummary;
  /** memory scenario. */
  rssBeforeBytes?: number;
  rssAfterBytes?: number;
  bytesPerJob?: number;
  connectMs?: number;
  /** Machine 1-minute load average when the run started (set by run.ts: other work on the cores). */
  loadAvg1?: number;
  /** CPU pressure (PSI some avg10, %) when the run ended (set by run.ts). */
  cpuPressurePct?: number;
  /** Set when a bound (time) ended a phase before its count was reached. */
  note?: string;
  /** Untimed passes of the same load the server ran before this one (set by run.ts --warm). */
  warmPasses?: number;
}

// Bounds that keep every phase finite even if the server stops answering.
const drainWaitMsMax = 5_000;
const connectTimeoutMs = 10_000;
const latencySamplesMax = 4_000_000;
const phaseTimeMsMax = 120_000;

// ---------------------------------------------------------------------------------------------
// Frames, built once.

const writer = new ReplyWriter();

/** One length-prefixed MessagePack request frame (a fresh copy). */
export function requestFrame(req: Record<string, unknown>): Uint8Array {
  writer.reset();
  writer.frame(req);
  return writer.buf.slice(0, writer.pos);
}

/**
 * Job data of exactly `bytes` MessagePack bytes: {p: "xxx...", t: float64}. `t` is last, so its
 * 8 bytes end the data (and end a PUSH frame whose last field is data): patchable in place.
 */
export function jobData(bytes: number): Uint8Array {
  const fixed = 1 + 2 + 2 + 2 + 9; // map header, "p", str8 header, "t", float64
  const n = Math.max(32, Math.min(255, bytes - fixed)); // str8 range keeps the layout fixed
  const out = new Uint8Array(fixed + n);
  let p = 0;
  out[p++] = 0x82;
  out[p++] = 0xa1; out[p++] = 0x70; // "p"
  out[p++] = 0xd9; out[p++] = n;
  out.fill(0x78, p, p + n); p += n;
  out[p++] = 0xa1; out[p++] = 0x74; // "t"
  out[p++] = 0xcb; // float64 follows, zero
  return out;
}

export function pushFrame(queue: string, data: Uint8Array): Uint8Array {
  return requestFrame({ cmd: "PUSH", queue, data: new Raw(data) });
}

export function pushBatchFrame(queue: string, data: Uint8Array, n: number): Uint8Array {
  const jobs = Array.from({ length: n }, () => ({ data: new Raw(data) }));
  return requestFrame({ cmd: "PUSHB", queue, jobs });
}

export function pullBatchFrame(queue: string, count: number, timeout: number): Uint8Array {
  return requestFrame({ cmd: "PULLB", queue, count, timeout });
}

/** A reusable ACKB frame: ids are written in place (uint32 each), nothing allocated per batch. */
export class AckBatchFrame {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  private static readonly head = [0x82, 0xa3, 0x63, 0x6d, 0x64, 0xa4, 0x41, 0x43, 0x4b, 0x42, 0xa3, 0x69, 0x64, 0x73];
  constructor(readonly idsMax: number) {
    this.buf = new Uint8Array(4 + AckBatchFrame.head.length + 3 + 5 * idsMax);
    this.view = new DataView(this.buf.buffer);
    this.buf.set(AckBatchFrame.head, 4);
  }
  /** Fills ids[0..n) and returns the frame's bytes (a view valid until the next fill). */
  fill(ids: ArrayLike<number>, n: number): Uint8Array {
    let p = 4 + AckBatchFrame.head.length;
    this.buf[p++] = 0xdc;
    this.view.setUint16(p, n);
    p += 2;
    for (let i = 0; i < n; i++) {
      this.buf[p++] = 0xce;
      this.view.setUint32(p, ids[i]!);
      p += 4;
    }
    this.view.setUint32(0, p - 4);
    return this.buf.subarray(0, p);
  }
}

// ---------------------------------------------------------------------------------------------
// Reply scanning: enough MessagePack to find `ok`, `jobs[].id` and the t inside `jobs[].data`.

/** True for a reply map whose first entry is ok: true (how ringq writes a reply without reqId). */
function isOk(b: Uint8Array, p: number): boolean {
  return (b[p]! & 0xf0) === 0x80 && b[p + 1] === 0xa2 && b[p + 2] === 0x6f && b[p + 3] === 0x6b && b[p + 4] === 0xc3;
}

function mapLen(b: Uint8Array, p: number): [number, number] {
  const t = b[p]!;
  if ((t & 0xf0) === 0x80) return [t & 0x0f, p + 1];
  if (t === 0xde) return [(b[p + 1]! << 8) | b[p + 2]!, p + 3];
  if (t === 0xdf) return [((b[p + 1]! << 24) >>> 0) + (b[p + 2]! << 16) + (b[p + 3]! << 8) + b[p + 4]!, p + 5];
  throw new Error(`expected a map, got 0x${t.toString(16)}`);
}

function arrayLen(b: Uint8Array, p: number): [number, number] {
  const t = b[p]!;
  if ((t & 0xf0) === 0x90) return [t & 0x0f, p + 1];
  if (t === 0xdc) return [(b[p + 1]! << 8) | b[p + 2]!, p + 3];
  if (t === 0xdd) return [((b[p + 1]! << 24) >>> 0) + (b[p + 2]! << 16) + (b[p + 3]! << 8) + b[p + 4]!, p + 5];
  throw new Error(`expected an array, got 0x${t.toString(16)}`);
}

/** fixstr key equality against a short ASCII name. */
function keyIs(b: Uint8Array, p: number, name: string): boolean {
  if (b[p] !== (0xa0 | name.length)) return false;
  for (let i = 0; i < name.length; i++) if (b[p + 1 + i] !== name.charCodeAt(i)) return false;
  return true;
}

function readUint(b: Uint8Array, p: number, view: DataView): number {
  const t = b[p]!;
  if (t <= 0x7f) return t;
  if (t === 0xcc) return b[p + 1]!;
  if (t === 0xcd) return view.getUint16(p + 1);
  if (t === 0xce) return view.getUint32(p + 1);
  if (t === 0xcb) return view.getFloat64(p + 1);
  if (t === 0xcf) return Number(view.getBigUint64(p + 1));
  throw new Error(`expected an unsigned id, got 0x${t.toString(16)}`);
}

/**
 * Scans a PULLB reply {ok, jobs:[{id, ..., data, ...}]}: writes ids (and, when `ts` is given, the
 * t of each job's data) and returns the job count; -1 when the reply is not a PULLB success.
 */
function scanPulled(b: Uint8Array, start: number, end: number, ids: Float64Array, ts: Float64Array | null): number {
  if (!isOk(b, start)) return -1;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let [entries, p] = mapLen(b, start);
  for (let e = 0; e < entries; e++) {
    if (keyIs(b, p, "jobs")) {
      p += 5;
      const [n, q0] = arrayLen(b, p);
      p = q0;
      for (let j = 0; j < n; j++) {
        const [fields, q1] = mapLen(b, p);
        p = q1;
        for (let f = 0; f < fields; f++) {
          if (keyIs(b, p, "id")) {
            p += 3;
            ids[j] = readUint(b, p, view);
            p = skipValue(b, p, end);
          } else if (ts !== null && keyIs(b, p, "data")) {
            p += 5;
            const q = skipValue(b, p, end);
            ts[j] = b[q - 9] === 0xcb ? view.getFloat64(q - 8) : NaN;
            p = q;
          } else {
            p = skipValue(b, skipValue(b, p, end), end);
          }
        }
      }
      return n;
    }
    p = skipValue(b, skipValue(b, p, end), end);
  }
  return -1;
}

function errorText(b: Uint8Array, p: number, len: number): string {
  try {
    const r = unpack(b.subarray(p, p + len)) as { error?: string; code?: string };
    return `${r.code ?? "?"}: ${r.error ?? JSON.stringify(r)}`;
  } catch {
    return "undecodable reply";
  }
}

// ---------------------------------------------------------------------------------------------
// A generator connection: writes with its own backlog (Bun sockets do not buffer what the kernel
// refuses), frames replies with the server's own FrameReader, hands each frame to onReply.

type Sock = import("bun").Socket<undefined>;

class GenConn implements FrameSink {
  private sock: Sock | null = null;
  private backlog: Uint8Array[] = [];
  private readonly reader = new FrameReader(this);
  closed = false;
  onReply: (b: Uint8Array, p: number, len: number) => void = () => {};
  /** After each chunk of replies: the place to refill the pipeline with one write. */
  afterChunk: () => void = () => {};
  onFatal: (msg: string) => void = () => {};

  static async open(host: string, port: number): Promise<GenConn> {
    const c = new GenConn();
    const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`connect timeout ${connectTimeoutMs} ms`)), connectTimeoutMs));
    c.sock = await Promise.race([
      Bun.connect({
        hostname: host,
        port,
        socket: {
          data(_s, buf) {
            c.reader.push(buf, 0, buf.length);
            c.afterChunk();
          },
          drain() {
            c.flush();
          },
          close() {
            c.closed = true;
          },
          error(_s, e) {
            c.closed = true;
            c.onFatal(String(e));
          },
        },
      }),
      timeout,
    ]);
    return c;
  }

  onFrame(b: Uint8Array, p: number, len: number): void {
    this.onReply(b, p, len);
  }
  onFrameError(message: string): void {
    this.onFatal(`framing: ${message}`);
  }

  /** Sends bytes; `bytes` may be reused by the caller afterwards (what is held back is copied). */
  send(bytes: Uint8Array): void {
    if (this.closed || this.sock === null) return;
    if (this.backlog.length > 0) {
      this.backlog.push(bytes.slice());
      return;
    }
    const n = this.sock.write(bytes);
    if (n < bytes.length) this.backlog.push(bytes.slice(Math.max(n, 0)));
  }

  private flush(): void {
    while (this.backlog.length > 0 && this.sock !== null) {
      const head = this.backlog[0]!;
      const n = this.sock.write(head);
      if (n < head.length) {
        this.backlog[0] = head.subarray(Math.max(n, 0));
        return;
      }
      this.backlog.shift();
    }
  }

  close(): void {
    this.closed = true;
    this.sock?.end();
  }
}

async function openAll(o: LoadOptions, n: number): Promise<GenConn[]> {
  const out: GenConn[] = [];
  // Connect in small waves: a thousand SYNs at once can overflow the listen backlog.
  for (let i = 0; i < n; i += 100) {
    const wave = Math.min(100, n - i);
    out.push(...(await Promise.all(Array.from({ length: wave }, () => GenConn.open(o.host, o.port)))));
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, maxMs: number): Promise<boolean> {
  const deadline = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await sleep(1);
  }
  return true;
}

/** Measured window: server CPU, generator CPU, wall time. */
class Window {
  private t0 = 0;
  private cpu0: { userMs: number; sysMs: number } | null = null;
  serverSysMs = 0;
  private threads0: Record<string, number> = {};
  serverThreadsMs: Record<string, number> = {};
  private gen0 = process.cpuUsage();
  elapsedMs = 0;
  serverCpuMs: number | null = null;
  genCpuMs = 0;
  constructor(private readonly pid?: number) {}
  start(): void {
    this.cpu0 = this.pid === undefined ? null : readCpuSplitMs(this.pid);
    if (this.pid !== undefined) this.threads0 = readThreadCpuMs(this.pid);
    this.gen0 = process.cpuUsage();
    this.t0 = performance.now();
  }
  stop(): void {
    this.elapsedMs = performance.now() - this.t0;
    const g = process.cpuUsage(this.gen0);
    this.genCpuMs = (g.user + g.system) / 1000;
    if (this.pid !== undefined && this.cpu0 !== null) {
      const c = readCpuSplitMs(this.pid);
      this.serverCpuMs = c === null ? null : c.userMs + c.sysMs - this.cpu0.userMs - this.cpu0.sysMs;
      this.serverSysMs = c === null ? 0 : c.sysMs - this.cpu0.sysMs;
      const t1 = readThreadCpuMs(this.pid);
      for (const [name, ms] of Object.entries(t1)) {
        const d = ms - (this.threads0[name] ?? 0);
        if (d > 0) this.serverThreadsMs[name] = round(d, 1);
      }
    }
  }
  result(o: LoadOptions, ops: number, errors: number, firstError: string | undefined): LoadResult {
    const r: LoadResult = {
      scenario: o.scenario,
      options: o,
      ops,
      elapsedMs: round(this.elapsedMs, 1),
      opsPerSec: Math.round((ops * 1000) / this.elapsedMs),
      errors,
      genCpuPct: round((100 * this.genCpuMs) / this.elapsedMs, 1),
    };
    if (firstError !== undefined) r.firstError = firstError;
    if (this.serverCpuMs !== null) {
      r.serverCpuMs = this.serverCpuMs;
      r.serverCpuPct = round((100 * this.serverCpuMs) / this.elapsedMs, 1);
      r.serverCpuUsPerOp = ops > 0 ? round((this.serverCpuMs * 1000) / ops, 3) : NaN;
      r.serverSysPct = this.serverCpuMs > 0 ? round((100 * this.serverSysMs) / this.serverCpuMs, 1) : NaN;
      r.serverThreadsMs = this.serverThreadsMs;
    }
    return r;
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/**
 * Closed loop: each connection keeps `depth` identical requests in flight, refilling after each
 * chunk of replies with one write. Used by push (PUSH), pushb (PUSHB batch) and conns.
 */
async function closedLoop(o: LoadOptions, frames: Uint8Array[], jobsPerReply: number): Promise<LoadResult> {
  const t0 = performance.now();
  const conns = await openAll(o, o.connections);
  const connectMs = performance.now() - t0;
  const depth = o.depth;
  const frame = frames[0]!;
  const pipeline = new Uint8Array(frame.length * depth);
  for (let i = 0; i < depth; i++) pipeline.set(frame, i * frame.length);
  // Several queues: each connection goes through them in turn.
  const cycles = frames.length > 1 ? conns.map(() => new FrameCycle(frames)) : null;

  const win = new Window(o.serverPid);
  let measuring = false;
  let running = true;
  let replies = 0;
  let errors = 0;
  let firstError: string | undefined;
  let inFlightTotal = 0;
  const samples = new Float64Array(Math.min(latencySamplesMax, o.count));
  let nSamples = 0;
  const maxReplies = Math.ceil(o.count / jobsPerReply);

  conns.forEach((c, ci) => {
    // Send times of in-flight requests, FIFO (replies to requests without reqId come in order).
    const ring = new Float64Array(depth);
    const cycle = cycles === null ? null : cycles[ci]!;
    let head = 0;
    let inFlight = 0;
    c.onReply = (b, p, len) => {
      inFlight--;
      inFlightTotal--;
      const sentAt = ring[head]!;
      head = head + 1 === depth ? 0 : head + 1;
      if (!isOk(b, p)) {
        errors++;
        firstError ??= errorText(b, p, len);
      }
      if (measuring) {
        replies++;
        if (nSamples < samples.length) samples[nSamples++] = performance.now() - sentAt;
        if (replies >= maxReplies) running = false;
      }
    };
    c.afterChunk = () => {
      if (!running) return;
      const k = depth - inFlight;
      if (k <= 0) return;
      const now = performance.now();
      for (let i = 0, t = (head + inFlight) % depth; i < k; i++, t = t + 1 === depth ? 0 : t + 1) ring[t] = now;
      inFlight += k;
      inFlightTotal += k;
      if (cycle !== null) for (const part of cycle.take(k)) c.send(part);
      else c.send(k === depth ? pipeline : pipeline.subarray(0, k * frame.length));
    };
    c.onFatal = (m) => {
      errors++;
      firstError ??= m;
      running = false;
    };
  });
  for (const c of conns) c.afterChunk();
  await sleep(o.warmupMs);
  win.start();
  measuring = true;
  await until(() => !running, o.durationMs);
  running = false;
  win.stop();
  const measuredReplies = replies;
  // Let in-flight replies come back so the server is idle before the next run starts.
  await until(() => inFlightTotal <= 0, drainWaitMsMax);
  for (const c of conns) c.close();
  const r = win.result(o, measuredReplies * jobsPerReply, errors, firstError);
  r.latencyMs = roundSummary(summarizeLatency(samples, nSamples));
  r.connectMs = round(connectMs, 1);
  return r;
}

function roundSummary(s: LatencySummary): LatencySummary {
  return { n: s.n, p50: round(s.p50, 4), p99: round(s.p99, 4), p999: round(s.p999, 4), max: round(s.max, 4) };
}

/** Pushes exactly `jobs` jobs with PUSHB (pipelined, one connection); returns errors seen.
 *  Several queues: `jobs` each, one PUSHB after another in turn. */
export async function prefill(o: LoadOptions, queue: string | string[], jobs: number, data: Uint8Array): Promise<number> {
  const names = typeof queue === "string" ? [queue] : queue;
  if (names.length > 1) {
    // Small per-queue batches, cycled: up to 1,000 jobs per PUSHB across the queues.
    const per = Math.max(1, Math.min(1000, jobs));
    let errors = 0;
    for (let done = 0; done < jobs; done += per) {
      const n = Math.min(per, jobs - done);
      errors += await pushEach(o, names.map((q) => pushBatchFrame(q, data, n)));
    }
    return errors;
  }
  queue = names[0]!;
  const batch = 1000;
  const c = await GenConn.open(o.host, o.port);
  const full = pushBatchFrame(queue, data, batch);
  let sent = 0;
  let done = 0;
  let errors = 0;
  let inFlight = 0;
  const depth = 8;
  c.onReply = (b, p) => {
    inFlight--;
    if (!isOk(b, p)) errors++;
    done++;
  };
  c.afterChunk = () => {
    while (inFlight < depth && sent < jobs) {
      const n = Math.min(batch, jobs - sent);
      c.send(n === batch ? full : pushBatchFrame(queue, data, n));
      sent += n;
      inFlight++;
    }
  };
  c.onFatal = () => errors++;
  c.afterChunk();
  const ok = await until(() => (inFlight === 0 && sent >= jobs) || c.closed, phaseTimeMsMax);
  c.close();
  if (!ok) throw new Error(`prefill of ${jobs} jobs did not finish in ${phaseTimeMsMax} ms`);
  return errors;
}

/** Sends each frame once over one connection, 16 in flight; returns the error replies. */
async function pushEach(o: LoadOptions, frames: Uint8Array[]): Promise<number> {
  const c = await GenConn.open(o.host, o.port);
  let next = 0;
  let inFlight = 0;
  let errors = 0;
  c.onReply = (b, p) => {
    inFlight--;
    if (!isOk(b, p)) errors++;
  };
  c.afterChunk = () => {
    while (inFlight < 16 && next < frames.length) {
      c.send(frames[next++]!);
      inFlight++;
    }
  };
  c.onFatal = () => errors++;
  c.afterChunk();
  const ok = await until(() => (inFlight === 0 && next >= frames.length) || c.closed, phaseTimeMsMax);
  c.close();
  if (!ok) throw new Error(`prefill of ${frames.length} batches did not finish in ${phaseTimeMsMax} ms`);
  return errors;
}

/**
 * Processing of a pre-filled queue: each connection keeps two PULLBs in flight and answers each
 * non-empty one with ACKB(ids) + a new PULLB in one write. Ends when every connection has seen
 * an empty PULLB (queue drained) and all ACKBs are answered.
 */
async function processQueue(o: LoadOptions, queue: string | string[], expect: number, win: Window | null): Promise<{ acked: number; errors: number; firstError?: string; timedOut: boolean }> {
  const conns = await openAll(o, o.connections);
  const names = typeof queue === "string" ? [queue] : queue;
  const pulls = names.map((q) => pullBatchFrame(q, o.batch, 0));
  // One queue: done when it is empty. Several, or a backlog: done when `expect` jobs were taken
  // (an empty PULLB of one queue says nothing of the others).
  const byCount = names.length > 1 || o.prefill === 0;
  // Two PULLBs in flight per connection; in the counted mode `depth` of them (capped), so that
  // small pulls over many queues measure the server, not the round trip.
  const pullsPerConn = byCount ? Math.min(o.depth, 64) : 2;
  let nextPull = 0;
  let taken = 0;
  const pullFrame = (): Uint8Array => {
    const f = pulls[nextPull]!;
    nextPull = nextPull + 1 === pulls.length ? 0 : nextPull + 1;
    return f;
  };
  const pull = pulls[0]!;
  let acked = 0;
  let errors = 0;
  let firstError: string | undefined;
  let active = conns.length;
  let acksInFlight = 0;
  for (const c of conns) {
    const ids = new Float64Array(o.batch);
    const ack = new AckBatchFrame(o.batch);
    const out = new Uint8Array(ack.buf.length + Math.max(...pulls.map((f) => f.length)));
    let draining = false;
    let pullsInFlight = pullsPerConn;
    c.onReply = (b, p, len) => {
      // ACKB replies are {ok, ids:[count], count}; PULLB replies are {ok, jobs}.
      if (isOk(b, p) && keyIs(b, p + 5, "ids")) {
        acksInFlight--;
        const [, q] = arrayLen(b, p + 9);
        acked += readUint(b, q, new DataView(b.buffer, b.byteOffset, b.byteLength));
        return;
      }
      const n = scanPulled(b, p, p + len, ids, null);
      if (n < 0) {
        errors++;
        firstError ??= errorText(b, p, len);
        pullsInFlight--;
        if (pullsInFlight === 0 && !draining) { draining = true; active--; }
        return;
      }
      pullsInFlight--;
      taken += n;
      if (byCount && taken >= expect && !draining) { draining = true; active--; }
      if (n === 0 && !byCount) {
        if (!draining) { draining = true; active--; }
        return;
      }
      if (n === 0) {
        if (!draining) {
          pullsInFlight++;
          c.send(pullFrame());
        }
        return;
      }
      const a = ack.fill(ids, n);
      acksInFlight++;
      if (draining) return c.send(a);
      const next = pullFrame();
      out.set(a, 0);
      out.set(next, a.length);
      pullsInFlight++;
      c.send(out.subarray(0, a.length + next.length));
    };
    c.onFatal = (m) => {
      errors++;
      firstError ??= m;
      if (!draining) { draining = true; active--; }
    };
  }
  win?.start();
  for (const c of conns) for (let i = 0; i < pullsPerConn; i++) c.send(names.length > 1 ? pullFrame() : pull);
  // Bounded, but generous: a queue of o.jobs at no less than 10k jobs/s.
  const ok = await until(() => active === 0 && acksInFlight === 0, Math.min(phaseTimeMsMax, Math.max(o.durationMs * 10, 10_000, expect / 10)));
  win?.stop();
  for (const c of conns) c.close();
  return { acked, errors, firstError, timedOut: !ok || acked < expect };
}

async function pullAck(o: LoadOptions): Promise<LoadResult> {
  const data = jobData(o.payloadBytes);
  // Warm the server's pull/ack path (JIT) on a separate queue before the measured pass.
  const warm = Math.min(50_000, Math.max(1_000, o.jobs >> 2));
  await prefill(o, `${o.queue}-warm`, warm, data);
  await processQueue({ ...o, prefill: 1 }, `${o.queue}-warm`, warm, null);
  const names = queueNames(o);
  let errors = 0;
  if (o.prefill !== 0) errors += await prefill(o, names.length === 1 ? names[0]! : names, Math.ceil(o.jobs / names.length), data);
  const win = new Window(o.serverPid);
  const res = await processQueue(o, names.length === 1 ? names[0]! : names, o.jobs, win);
  errors += res.errors;
  const r = win.result(o, res.acked, errors, res.firstError);
  if (res.timedOut) r.note = `processed ${res.acked} of ${o.jobs} jobs before the time bound`;
  return r;
}

/**
 * Push-to-worker latency, open loop: one producer sends PUSH at a fixed rate (batched per spin
 * of the event loop, each job stamped with its SCHEDULED send time, so a stalled generator or
 * server shows up as latency instead of hiding it), workers keep two PULLBs parked and ACKB what
 * they get. Latency = time the worker has the job - scheduled push time.
 */
async function latency(o: LoadOptions): Promise<LoadResult> {
  const data = jobData(o.payloadBytes);
  const frame = pushFrame(o.queue, data);
  const tOffset = frame.length - 8;
  const frameView = new DataView(frame.buffer);
  // A send buffer for up to 1,024 jobs per spin, patched in place.
  const perSpinMax = 1024;
  const sendBuf = new Uint8Array(frame.length * perSpinMax);
  for (let i = 0; i < perSpinMax; i++) sendBuf.set(frame, i * frame.length);
  const sendView = new DataView(sendBuf.buffer);
  void frameView;

  const producer = await GenConn.open(o.host, o.port);
  const workers = await openAll(o, Math.max(1, o.connections));
  const pullCount = Math.max(1, o.batch);
  const pull = pullBatchFrame(o.queue, pullCount, 1000);

  const totalJobs = Math.min(o.count, Math.ceil((o.rate * (o.warmupMs + o.durationMs)) / 1000));
  const samples = new Float64Array(Math.min(latencySamplesMax, totalJobs));
  let nSamples = 0;
  const lags = new Float64Array(Math.min(latencySamplesMax, totalJobs));
  let received = 0;
  let pushedOk = 0;
  let errors = 0;
  let firstError: string | undefined;
  let measureFrom = Infinity; // scheduled time at which samples start to count
  let stopping = false;

  producer.onReply = (b, p, len) => {
    if (isOk(b, p)) pushedOk++;
    else {
      errors++;
      firstError ??= errorText(b, p, len);
    }
  };
  for (const w of workers) {
    const ids = new Float64Array(pullCount);
    const ts = new Float64Array(pullCount);
    const ack = new AckBatchFrame(pullCount);
    const out = new Uint8Array(ack.buf.length + pull.length);
    w.onReply = (b, p, len) => {
      if (isOk(b, p) && keyIs(b, p + 5, "ids")) return; // ACKB reply
      const now = performance.now();
      const n = scanPulled(b, p, p + len, ids, ts);
      if (n < 0) {
        errors++;
        firstError ??= errorText(b, p, len);
        return;
      }
      received += n;
      for (let i = 0; i < n; i++) {
        if (ts[i]! >= measureFrom && nSamples < samples.length) samples[nSamples++] = now - ts[i]!;
      }
      if (stopping && n === 0) return;
      if (n === 0) return w.send(pull);
      const a = ack.fill(ids, n);
      out.set(a, 0);
      out.set(pull, a.length);
      w.send(out.subarray(0, a.length + pull.length));
    };
    w.onFatal = (m) => {
      errors++;
      firstError ??= m;
    };
    // Two PULLBs parked per worker connection, as the shipped Worker does: one round trip
    // (ACKB + next PULLB) never leaves the connection without a puller.
    w.send(pull);
    w.send(pull);
  }
  await sleep(50); // let the PULLBs park

  const win = new Window(o.serverPid);
  const { sent, sentAtWindowStart, nLags } = await openLoop(o, totalJobs, perSpinMax, lags, (warmEnd) => {
    measureFrom = warmEnd;
    win.start();
  }, (first, k, scheduledOf) => {
    for (let i = 0; i < k; i++) sendView.setFloat64(i * frame.length + tOffset, scheduledOf(first + i));
    producer.send(k === perSpinMax ? sendBuf : sendBuf.subarray(0, k * frame.length));
    return true;
  });
  const measuredSent = sent - sentAtWindowStart;
  // Wait for the last jobs to reach a worker, bounded.
  const drained = await until(() => received >= sent, drainWaitMsMax);
  win.stop();
  stopping = true;
  producer.close();
  for (const w of workers) w.close();
  // The window's wall time runs to the last delivery; the rate asked for is what matters here.
  const r = win.result(o, measuredSent, errors, firstError);
  r.opsPerSec = Math.round((measuredSent * 1000) / o.durationMs);
  r.latencyMs = roundSummary(summarizeLatency(samples, nSamples));
  r.sendLagMs = roundSummary(summarizeLatency(lags, nLags));
  if (!drained) r.note = `only ${received} of ${sent} jobs reached a worker within ${drainWaitMsMax} ms`;
  if (pushedOk + errors < sent && drained) r.note = (r.note ?? "") + ` push replies ${pushedOk}/${sent}`;
  return r;
}

/**
 * Fixed offered load, open loop: PUSH at `rate` jobs/s spread over `connections` connections
 * (no workers). Measures server CPU per request at a load both backends can carry, and the
 * request round trip from the SCHEDULED send time (replies without reqId come back in order).
 */
async function fixedRate(o: LoadOptions): Promise<LoadResult> {
  const data = jobData(o.payloadBytes);
  const frame = pushFrame(o.queue, data);
  const perSpinMax = 1024;
  const sendBuf = new Uint8Array(frame.length * perSpinMax);
  for (let i = 0; i < perSpinMax; i++) sendBuf.set(frame, i * frame.length);
  const conns = await openAll(o, Math.max(1, o.connections));
  const totalJobs = Math.min(o.count, Math.ceil((o.rate * (o.warmupMs + o.durationMs)) / 1000));
  const samples = new Float64Array(Math.min(latencySamplesMax, totalJobs));
  let nSamples = 0;
  let errors = 0;
  let firstError: string | undefined;
  let replies = 0;
  let measureFrom = Infinity;
  const lags = new Float64Array(Math.min(latencySamplesMax, totalJobs));
  // Per connection, a FIFO of scheduled send times (as job indexes) for the requests in flight.
  const fifos = conns.map(() => ({ q: new Float64Array(1 << 16), head: 0, tail: 0 }));
  conns.forEach((c, ci) => {
    const f = fifos[ci]!;
    c.onReply = (b, p, len) => {
      const now = performance.now();
      replies++;
      const scheduled = f.q[f.head & 0xffff]!;
      f.head++;
      if (!isOk(b, p)) {
        errors++;
        firstError ??= errorText(b, p, len);
      }
      if (scheduled >= measureFrom && nSamples < samples.length) samples[nSamples++] = now - scheduled;
    };
    c.onFatal = (m) => {
      errors++;
      firstError ??= m;
    };
  });
  const win = new Window(o.serverPid);
  let next = 0; // round-robin connection
  const { sent, sentAtWindowStart, nLags } = await openLoop(o, totalJobs, perSpinMax, lags, (warmEnd) => {
    measureFrom = warmEnd;
    win.start();
  }, (first, k, scheduledOf) => {
    const ci = next;
    next = next + 1 === conns.length ? 0 : next + 1;
    const f = fifos[ci]!;
    // Bound what one connection has outstanding: the FIFO must not wrap.
    if (f.tail - f.head + k > 0xffff) return false;
    for (let i = 0; i < k; i++) f.q[(f.tail + i) & 0xffff] = scheduledOf(first + i);
    f.tail += k;
    conns[ci]!.send(k === perSpinMax ? sendBuf : sendBuf.subarray(0, k * frame.length));
    return true;
  });
  const measuredSent = sent - sentAtWindowStart;
  win.stop();
  const drained = await until(() => replies >= sent, drainWaitMsMax);
  for (const c of conns) c.close();
  const r = win.result(o, measuredSent, errors, firstError);
  r.opsPerSec = Math.round((measuredSent * 1000) / o.durationMs);
  r.latencyMs = roundSummary(summarizeLatency(samples, nSamples));
  r.sendLagMs = roundSummary(summarizeLatency(lags, nLags));
  if (!drained) r.note = `only ${replies} of ${sent} replies within ${drainWaitMsMax} ms: the server did not keep up`;
  return r;
}

/**
 * The open-loop schedule both fixed-rate scenarios share: job i is due at start + i / rate.
 * A setImmediate spin (socket events run between sends; this process owns its core) hands the
 * due jobs to `send` in batches of at most perSpinMax (first index, count, and the scheduled
 * time of any index); `send` returns false to send nothing more in this spin. `onWindow` runs
 * once when the warm-up ends. Each sent job's lateness against its schedule goes into `lags`
 * (after warm-up): the generator's own send lag, what a latency figure cannot see below.
 */
async function openLoop(
  o: LoadOptions,
  totalJobs: number,
  perSpinMax: number,
  lags: Float64Array,
  onWindow: (warmEnd: number) => void,
  send: (first: number, k: number, scheduledOf: (i: number) => number) => boolean,
): Promise<{ sent: number; sentAtWindowStart: number; nLags: number }> {
  const start = performance.now();
  const warmEnd = start + o.warmupMs;
  const end = warmEnd + o.durationMs;
  const intervalMs = 1000 / o.rate;
  const scheduledOf = (i: number): number => start + i * intervalMs;
  let sent = 0;
  let nLags = 0;
  let sentAtWindowStart = 0;
  let windowStarted = false;
  await new Promise<void>((resolve) => {
    const spin = () => {
      const now = performance.now();
      if (!windowStarted && now >= warmEnd) {
        windowStarted = true;
        sentAtWindowStart = sent;
        onWindow(warmEnd);
      }
      if (now >= end || sent >= totalJobs) return resolve();
      let due = Math.min(totalJobs, Math.floor((now - start) / intervalMs) + 1) - sent;
      while (due > 0) {
        const k = Math.min(due, perSpinMax);
        if (!send(sent, k, scheduledOf)) break;
        for (let i = 0; i < k; i++) {
          const scheduled = scheduledOf(sent + i);
          if (scheduled >= warmEnd && nLags < lags.length) lags[nLags++] = now - scheduled;
        }
        sent += k;
        due -= k;
      }
      setImmediate(spin);
    };
    spin();
  });
  return { sent, sentAtWindowStart, nLags };
}

/** Server memory per waiting job: VmRSS before and after pushing `jobs` jobs of payloadBytes. */
async function memory(o: LoadOptions): Promise<LoadResult> {
  if (o.serverPid === undefined) throw new Error("memory scenario needs --server-pid");
  const data = jobData(o.payloadBytes);
  // Warm-up on another queue first, so JIT code and buffers are in the "before" reading.
  await prefill(o, `${o.queue}-warm`, Math.min(20_000, o.jobs), data);
  await sleep(300);
  const before = readRssBytes(o.serverPid);
  const win = new Window(o.serverPid);
  win.start();
  const errors = await prefill(o, o.queue, o.jobs, data);
  win.stop();
  // Give the server an idle second: Bun's GC runs on idle timers and frees request garbage.
  await sleep(1000);
  const after = readRssBytes(o.serverPid);
  const r = win.result(o, o.jobs, errors, undefined);
  if (before !== null && after !== null) {
    r.rssBeforeBytes = before;
    r.rssAfterBytes = after;
    r.bytesPerJob = Math.round((after - before) / o.jobs);
  }
  return r;
}

export async function runLoad(partial: Partial<LoadOptions> & { scenario: Scenario; port: number }): Promise<LoadResult> {
  const o: LoadOptions = { ...defaultOptions, ...partial };
  const data = jobData(o.payloadBytes);
  switch (o.scenario) {
    case "push":
    case "conns":
      return closedLoop(o, queueNames(o).map((q) => pushFrame(q, data)), 1);
    case "pushb":
      return closedLoop(o, queueNames(o).map((q) => pushBatchFrame(q, data, o.batch)), o.batch);
    case "pullack":
      return pullAck(o);
    case "latency":
      return latency(o);
    case "rate":
      return fixedRate(o);
    case "memory":
      return memory(o);
  }
}

/** --kebab-case=value flags -> LoadOptions (numbers where the default is a number). */
export function parseArgs(argv: string[]): Partial<LoadOptions> {
  const out: Record<string, unknown> = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (m === null) throw new Error(`loadgen: bad argument '${a}' (use --name=value)`);
    const key = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const isNumber = key === "serverPid" || typeof (defaultOptions as unknown as Record<string, unknown>)[key] === "number";
    if (!(key in defaultOptions) && key !== "serverPid") throw new Error(`loadgen: unknown option --${m[1]}`);
    out[key] = isNumber ? Number(m[2]) : m[2];
  }
  return out as Partial<LoadOptions>;
}

if (import.meta.main) {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.port === undefined || opts.scenario === undefined) {
    console.error("usage: bun bench/loadgen.ts --scenario=push|pushb|pullack|latency|rate|conns|memory --port=N [--server-pid=N] ...");
    process.exit(2);
  }
  // A hard stop for the whole process: nothing here may run unbounded.
  const hardStop = setTimeout(() => {
    console.error("loadgen: hard time bound reached; exiting");
    process.exit(3);
  }, phaseTimeMsMax * 2);
  hardStop.unref();
  try {
    const r = await runLoad(opts as LoadOptions);
    process.stdout.write(JSON.stringify(r) + "\n");
    process.exit(0);
  } catch (e) {
    console.error(`loadgen: ${(e as Error).stack ?? e}`);
    process.exit(1);
  }
}
