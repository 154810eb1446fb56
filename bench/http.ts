// Issue 13's figures, in ONE run, a fresh server per measurement, modes alternating by round so
// the machine's drift hits all alike:
//   1. TCP PUSH and PULLB+ACKB throughput (bench/loadgen.ts) with HTTP off, and with HTTP on and
//      one SSE subscriber: the dashboard's stream (/stats/stream), a queue's events (/events/other,
//      not the benchmarked queue), or every event of every queue (/events, the benchmarked one's
//      included: the subscriber's own work); for reference, HTTP off with a TCP SUBSCRIBE to every
//      queue. Medians of server CPU per job and throughput, ratios to HTTP off (target >= 0.9x);
//   2. HTTP POST /queues/:q/jobs throughput and latency (p50/p99), closed loop;
//   3. GET /health latency one request at a time with pauses, on an idle server: how fast the
//      loop hands the thread to Bun.serve (io_uring waits in the kernel when idle).
// Server on one core, generators (and the SSE reader) on the other. Writes
// bench/results/http-<stamp>.json. Run it under `flock /tmp/bench.lock` on a shared machine.
//
//   npx bun bench/http.ts [--rounds=3] [--io=bun,uring] [--quick]

import { mkdirSync, writeFileSync } from "node:fs";
import type { LoadResult } from "./loadgen.ts";
import type { HttpLoadResult } from "./http-load.ts";
import { buildShimIfStale, generatorCore, runGenerator, serverCore } from "./lib/gen.ts";
import { machineLine, pinPrefix } from "./lib/proc.ts";
import { BackendUnavailable, freePort, repoRoot, startServer, type IoChoice, type ServerHandle, runBench } from "./lib/server.ts";
import { median, si } from "./lib/stats.ts";

type Mode = "off" | "stats" | "queue" | "sse" | "tcpsub";
const modeLabel: Record<Mode, string> = {
  off: "HTTP off",
  stats: "HTTP on + SSE /stats/stream",
  queue: "HTTP on + SSE /events/other",
  sse: "HTTP on + SSE /events (all)",
  tcpsub: "HTTP off + TCP SUBSCRIBE *",
};
const ssePath: Partial<Record<Mode, string>> = { stats: "/stats/stream", queue: "/events/other", sse: "/events" };

interface Args {
  rounds: number;
  ios: IoChoice[];
  quick: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 3, ios: ["bun", "uring"], quick: false };
  for (const s of argv) {
    let m;
    if (s === "--quick") a.quick = true;
    else if ((m = /^--rounds=(\d+)$/.exec(s))) a.rounds = Number(m[1]);
    else if ((m = /^--io=([a-z,]+)$/.exec(s))) a.ios = m[1]!.split(",") as IoChoice[];
    else throw new Error(`http bench: unknown argument '${s}' (use --rounds=N --io=bun,uring --quick)`);
  }
  return a;
}

async function withServer<T>(io: IoChoice, http: boolean, f: (s: ServerHandle, httpUrl: string) => Promise<T>): Promise<T> {
  const httpPort = await freePort();
  const s = await startServer({ io, core: serverCore, env: http ? { HTTP_PORT: String(httpPort) } : {} });
  try {
    return await f(s, `http://127.0.0.1:${httpPort}`);
  } finally {
    await s.stop();
  }
}

/** Runs http-load.ts pinned to the generator's core; `sse` mode returns a handle to stop it. */
function spawnHttpLoad(args: string[]) {
  const proc = Bun.spawn([...pinPrefix(generatorCore), process.execPath, "bench/http-load.ts", ...args], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const out = new Response(proc.stdout).text();
  const err = new Response(proc.stderr).text();
  return { proc, out, err };
}

async function httpLoad(args: string[]): Promise<HttpLoadResult> {
  const p = spawnHttpLoad(args);
  const [out, err, code] = await Promise.all([p.out, p.err, p.proc.exited]);
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`http-load failed (exit ${code}): ${err.trim().slice(-300)}`);
  return JSON.parse(line) as HttpLoadResult;
}

async function sseReader(args: string[]): Promise<() => Promise<HttpLoadResult>> {
  const proc = Bun.spawn([...pinPrefix(generatorCore), process.execPath, "bench/http-load.ts", ...args], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const reader = proc.stderr.getReader();
  let seen = "";
  const deadline = Date.now() + 10_000;
  while (!seen.includes("sse: open")) {
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
    if (r === null || r.done) throw new Error(`subscriber did not open (${args.join(" ")}): ${seen}`);
    seen += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  return async () => {
    proc.kill("SIGTERM");
    const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return JSON.parse(out.trim().split("\n").pop()!) as HttpLoadResult;
  };
}

interface TcpCell {
  io: IoChoice;
  mode: Mode;
  round: number;
  push: LoadResult;
  pullack: LoadResult;
  sse?: HttpLoadResult;
}

async function tcpCell(io: IoChoice, mode: Mode, round: number, a: Args): Promise<TcpCell> {
  const path = ssePath[mode];
  return withServer(io, path !== undefined, async (s, url) => {
    const stop = mode === "off" ? null
      : mode === "tcpsub" ? await sseReader(["--mode=tcpsub", `--tcp-port=${s.port}`])
      : await sseReader(["--mode=sse", `--url=${url}`, `--path=${path}`]);
    const push = await runGenerator({ scenario: "push", port: s.port, serverPid: s.pid, durationMs: a.quick ? 1500 : 3000, warmupMs: 1000 });
    const pullack = await runGenerator({ scenario: "pullack", port: s.port, serverPid: s.pid, jobs: a.quick ? 100_000 : 300_000 });
    const sse = stop === null ? undefined : await stop();
    return { io, mode, round, push, pullack, sse };
  });
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "n/a";
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  console.log(`http bench: ${machineLine()}`);
  console.log(`shim: ${await buildShimIfStale()}`);
  const ios: IoChoice[] = [];
  for (const io of a.ios) {
    try {
      await withServer(io, false, async () => {});
      ios.push(io);
    } catch (e) {
      if (e instanceof BackendUnavailable) console.log(`${io}: n/a (${e.message})`);
      else throw e;
    }
  }

  // ---- 1. TCP throughput, HTTP off vs on with a subscriber ----
  const modes: Mode[] = ["off", "stats", "queue", "sse", "tcpsub"];
  const cells: TcpCell[] = [];
  for (let round = 0; round < a.rounds; round++) {
    for (const io of ios) {
      const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
      for (const mode of order) {
        const c = await tcpCell(io, mode, round, a);
        cells.push(c);
        console.log(`  round ${round + 1} ${io} ${modeLabel[mode]}: PUSH ${si(c.push.opsPerSec)}/s (${c.push.serverCpuUsPerOp?.toFixed(2)} us/job), PULLB+ACKB ${si(c.pullack.opsPerSec)}/s (${c.pullack.serverCpuUsPerOp?.toFixed(2)} us/job)${c.sse ? `, SSE read ${si(c.sse.messages ?? 0)} messages` : ""}`);
      }
    }
  }
  const med = (io: IoChoice, mode: Mode, f: (c: TcpCell) => number | undefined) => median(cells.filter((c) => c.io === io && c.mode === mode).map(f).filter((x): x is number => x !== undefined));
  console.log(`\n1. TCP throughput with HTTP on (and one subscriber) vs off: medians of ${a.rounds} runs (target >= 0.9x; "CPU" is off's server CPU per job over this one's)`);
  console.log("| backend | mode | PUSH jobs/s | us/job | vs off | CPU | PULLB+ACKB jobs/s | us/job | vs off | CPU |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  const summary: Record<string, unknown>[] = [];
  for (const io of ios) {
    const offPush = med(io, "off", (c) => c.push.opsPerSec);
    const offPull = med(io, "off", (c) => c.pullack.opsPerSec);
    const offPushUs = med(io, "off", (c) => c.push.serverCpuUsPerOp);
    const offPullUs = med(io, "off", (c) => c.pullack.serverCpuUsPerOp);
    for (const mode of modes) {
      const push = med(io, mode, (c) => c.push.opsPerSec);
      const pull = med(io, mode, (c) => c.pullack.opsPerSec);
      const pushUs = med(io, mode, (c) => c.push.serverCpuUsPerOp);
      const pullUs = med(io, mode, (c) => c.pullack.serverCpuUsPerOp);
      summary.push({ io, mode, push, pushUs, pull, pullUs, pushRatio: push / offPush, pullRatio: pull / offPull, pushCpuRatio: offPushUs / pushUs, pullCpuRatio: offPullUs / pullUs });
      const off = mode === "off";
      console.log(`| ${io} | ${modeLabel[mode]} | ${si(push)} | ${pushUs.toFixed(2)} | ${off ? "" : ratio(push, offPush)} | ${off ? "" : ratio(offPushUs, pushUs)} | ${si(pull)} | ${pullUs.toFixed(2)} | ${off ? "" : ratio(pull, offPull)} | ${off ? "" : ratio(offPullUs, pullUs)} |`);
    }
  }

  // ---- 2. HTTP POST throughput and latency ----
  const posts: { io: IoChoice; concurrency: number; r: HttpLoadResult }[] = [];
  for (let round = 0; round < a.rounds; round++) {
    for (const io of ios) {
      for (const concurrency of [1, 16, 64]) {
        const r = await withServer(io, true, (s, url) => httpLoad(["--mode=post", `--url=${url}`, `--concurrency=${concurrency}`, `--duration-ms=${a.quick ? 1500 : 3000}`, "--warmup-ms=1000", `--server-pid=${s.pid}`]));
        posts.push({ io, concurrency, r });
        console.log(`  round ${round + 1} ${io} POST x${concurrency}: ${si(r.opsPerSec)}/s, p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms, ${r.serverCpuUsPerOp?.toFixed(1)} us/req server, generator ${r.genCpuPct.toFixed(0)}% CPU${r.errors ? `, ${r.errors} errors (${r.firstError})` : ""}`);
      }
    }
  }
  console.log(`\n2. HTTP POST /queues/:q/jobs (JSON, ~100-byte data, keep-alive), closed loop: medians of ${a.rounds} runs`);
  console.log("| backend | concurrency | requests/s | p50 ms | p99 ms | server us/req | generator CPU |");
  console.log("|---|---|---|---|---|---|---|");
  for (const io of ios) {
    for (const concurrency of [1, 16, 64]) {
      const rs = posts.filter((p) => p.io === io && p.concurrency === concurrency).map((p) => p.r);
      console.log(`| ${io} | ${concurrency} | ${si(median(rs.map((r) => r.opsPerSec)))} | ${median(rs.map((r) => r.latencyMs.p50)).toFixed(2)} | ${median(rs.map((r) => r.latencyMs.p99)).toFixed(2)} | ${median(rs.map((r) => r.serverCpuUsPerOp ?? NaN)).toFixed(1)} | ${median(rs.map((r) => r.genCpuPct)).toFixed(0)}% |`);
    }
  }

  // ---- 3. idle wake-up: HTTP on a server whose loop is idle ----
  const idle: { io: IoChoice; r: HttpLoadResult }[] = [];
  for (let round = 0; round < a.rounds; round++) {
    for (const io of ios) {
      const r = await withServer(io, true, async (_s, url) => {
        await Bun.sleep(500); // long enough for the io_uring loop to reach its long idle wait
        return httpLoad(["--mode=get", `--url=${url}`, "--path=/health", "--gap-ms=50", `--duration-ms=${a.quick ? 1500 : 3000}`]);
      });
      idle.push({ io, r });
    }
  }
  console.log(`\n3. GET /health on an idle server, one request every 50 ms: medians of ${a.rounds} runs`);
  console.log("| backend | requests | p50 ms | p99 ms | max ms |");
  console.log("|---|---|---|---|---|");
  for (const io of ios) {
    const rs = idle.filter((x) => x.io === io).map((x) => x.r);
    console.log(`| ${io} | ${median(rs.map((r) => r.requests))} | ${median(rs.map((r) => r.latencyMs.p50)).toFixed(2)} | ${median(rs.map((r) => r.latencyMs.p99)).toFixed(2)} | ${median(rs.map((r) => r.latencyMs.max)).toFixed(2)} |`);
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  mkdirSync(`${repoRoot}/bench/results`, { recursive: true });
  const file = `${repoRoot}/bench/results/http-${stamp}.json`;
  writeFileSync(file, JSON.stringify({ machine: machineLine(), args: a, summary, cells, posts, idle }, null, 2));
  console.log(`\nwrote ${file}`);
}

await runBench("http bench", main);
