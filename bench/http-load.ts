// The HTTP side of bench/http.ts, as its own process (pinned to the generator's core): it drives
// the HTTP face and prints ONE JSON line of results. Modes:
//   post  closed loop: `concurrency` workers each POST /queues/<queue>/jobs one after another
//         (keep-alive connections), latency per request;
//   get   one request at a time to `path` with a pause between, so each one may find the server
//         idle (how fast an idle io_uring loop hands the thread to Bun.serve);
//   sse   holds one SSE stream open and reads it until SIGTERM, then prints what it read;
//   tcpsub  the same over the protocol port: a binary-mode TCP SUBSCRIBE to every queue (the
//         reference: what a subscriber of the same events costs without HTTP).
// It does not start servers or repeat runs (bench/http.ts does).
//
//   npx bun bench/http-load.ts --mode=post --url=http://127.0.0.1:6790 [--concurrency=16]
//     [--duration-ms=3000] [--warmup-ms=1000] [--server-pid=N] [--path=/health] [--gap-ms=20]

import { readCpuMs } from "./lib/proc.ts";
import { summarizeLatency, type LatencySummary } from "./lib/stats.ts";

interface Options {
  mode: "post" | "get" | "sse" | "tcpsub";
  url: string;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  serverPid: number;
  path: string;
  gapMs: number;
  queue: string;
  tcpPort: number;
}

export interface HttpLoadResult {
  mode: string;
  requests: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  opsPerSec: number;
  latencyMs: LatencySummary;
  serverCpuUsPerOp?: number;
  genCpuPct: number;
  /** sse: bytes and messages read. */
  bytes?: number;
  messages?: number;
}

const samplesMax = 2_000_000;
const hardStopMs = 120_000;

function parse(argv: string[]): Options {
  const o: Options = { mode: "post", url: "", concurrency: 16, durationMs: 3000, warmupMs: 1000, serverPid: 0, path: "/health", gapMs: 20, queue: "httpbench", tcpPort: 0 };
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (m === null) throw new Error(`http-load: bad argument '${a}'`);
    const key = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Options;
    if (!(key in o)) throw new Error(`http-load: unknown option --${m[1]}`);
    (o as unknown as Record<string, unknown>)[key] = typeof o[key] === "number" ? Number(m[2]) : m[2];
  }
  if (o.url === "" && o.mode !== "tcpsub") throw new Error("http-load: --url is required");
  return o;
}

const cpuNow = () => process.cpuUsage();

async function post(o: Options): Promise<HttpLoadResult> {
  const url = `${o.url}/queues/${o.queue}/jobs`;
  const body = JSON.stringify({ data: { p: "x".repeat(80) } });
  const headers = { "content-type": "application/json" };
  const lat = new Float64Array(samplesMax);
  let n = 0, errors = 0, requests = 0;
  let firstError: string | undefined;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        const r = await fetch(url, { method: "POST", body, headers });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        if (measuring) {
          requests++;
          if (n < samplesMax) lat[n++] = performance.now() - t0;
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  const workers = Array.from({ length: o.concurrency }, worker);
  await Bun.sleep(o.warmupMs);
  measuring = true;
  const cpu0 = cpuNow();
  const srv0 = o.serverPid ? readCpuMs(o.serverPid) : null;
  const t0 = performance.now();
  await Bun.sleep(o.durationMs);
  measuring = false;
  const elapsedMs = performance.now() - t0;
  const srv1 = o.serverPid ? readCpuMs(o.serverPid) : null;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(workers);
  return {
    mode: "post", requests, errors, firstError, elapsedMs,
    opsPerSec: (requests * 1000) / elapsedMs,
    latencyMs: summarizeLatency(lat, n),
    serverCpuUsPerOp: srv0 !== null && srv1 !== null && requests > 0 ? ((srv1 - srv0) * 1000) / requests : undefined,
    genCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
  };
}

async function get(o: Options): Promise<HttpLoadResult> {
  const url = `${o.url}${o.path}`;
  const lat = new Float64Array(samplesMax);
  let n = 0, errors = 0;
  let firstError: string | undefined;
  const cpu0 = cpuNow();
  const t0 = performance.now();
  while (performance.now() - t0 < o.durationMs) {
    const s = performance.now();
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      lat[n++] = performance.now() - s;
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
    }
    await Bun.sleep(o.gapMs);
  }
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { mode: "get", requests: n, errors, firstError, elapsedMs, opsPerSec: (n * 1000) / elapsedMs, latencyMs: summarizeLatency(lat, n), genCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100 };
}

async function sse(o: Options): Promise<HttpLoadResult> {
  const res = await fetch(`${o.url}${o.path}`);
  if (res.status !== 200) throw new Error(`SSE ${o.path}: HTTP ${res.status}`);
  const reader = res.body!.getReader();
  let bytes = 0, messages = 0;
  const t0 = performance.now();
  const cpu0 = cpuNow();
  let stopped = false;
  const done = new Promise<void>((resolve) => process.once("SIGTERM", () => ((stopped = true), resolve())));
  // Tell the driver the stream is open, then read until told to stop.
  process.stderr.write("sse: open\n");
  const pump = (async () => {
    while (!stopped) {
      const r = await reader.read();
      if (r.done) break;
      bytes += r.value.length;
      for (let i = 0; i < r.value.length - 1; i++) if (r.value[i] === 10 && r.value[i + 1] === 10) messages++;
    }
  })();
  await Promise.race([done, pump]);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { mode: "sse", requests: 0, errors: 0, elapsedMs, opsPerSec: 0, latencyMs: summarizeLatency(new Float64Array(0), 0), genCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100, bytes, messages };
}

async function tcpsub(o: Options): Promise<HttpLoadResult> {
  const { pack } = await import("msgpackr");
  const body = pack({ cmd: "SUBSCRIBE", queue: "*" });
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  let bytes = 0;
  const t0 = performance.now();
  const cpu0 = cpuNow();
  await Bun.connect({
    hostname: "127.0.0.1",
    port: o.tcpPort,
    socket: {
      open(s) {
        s.write(frame);
      },
      data(_s, d) {
        bytes += d.length;
      },
    },
  });
  await Bun.sleep(100);
  process.stderr.write("sse: open\n");
  await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { mode: "tcpsub", requests: 0, errors: 0, elapsedMs, opsPerSec: 0, latencyMs: summarizeLatency(new Float64Array(0), 0), genCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100, bytes };
}

if (import.meta.main) {
  const o = parse(process.argv.slice(2));
  setTimeout(() => {
    console.error("http-load: hard time bound reached; exiting");
    process.exit(3);
  }, hardStopMs).unref();
  try {
    const r = o.mode === "post" ? await post(o) : o.mode === "get" ? await get(o) : o.mode === "tcpsub" ? await tcpsub(o) : await sse(o);
    process.stdout.write(JSON.stringify(r) + "\n");
    process.exit(0);
  } catch (e) {
    console.error(`http-load: ${(e as Error).stack ?? e}`);
    process.exit(1);
  }
}
