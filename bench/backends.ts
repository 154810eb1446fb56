// The backend comparison (issues 3 and 14): the same PUSH workload against both I/O backends in ONE run, alternating
// (bun, uring, uring, bun, ...) on a fresh server per phase, so the machine's drift hits both alike:
//   1. requests/s at saturation (pipelined PUSH, 4 connections x depth 16),
//   2. syscalls per request at depth 16 and depth 1 (perf stat raw_syscalls:sys_enter on the
//      server pid, or strace -c -f when perf is not usable; requests counted by the server's
//      COUNT over the same interval),
//   3. server CPU per request and p50/p99 round trip at a fixed offered load (open loop, spread
//      over --conns connections: issue 14 asks for 50k req/s over 1,000).
// It prints medians and the uring/bun ratios against the targets, and writes
// bench/results/backends-<stamp>.json. It does not start anything it does not stop.
//
//   npx bun bench/backends.ts [--rounds=N] [--rate=20000] [--conns=4] [--counter=perf|strace] [--nice=-10] [--warm=N]
//
// --warm=N gives each phase's server N untimed passes of that phase's load first (a fresh
// server's first seconds are mostly the JIT compiling: bench/README.md, ninth pass).

import { mkdirSync, writeFileSync } from "node:fs";
import type { LoadResult } from "./loadgen.ts";
import { buildShimIfStale, runGenerator, serverCore, sleep, textRequest } from "./lib/gen.ts";
import { getNiceness, machineLine, setNiceness } from "./lib/proc.ts";
import { BackendUnavailable, repoRoot, startServer, type IoChoice, runBench } from "./lib/server.ts";
import { median, si } from "./lib/stats.ts";
import { warmPasses, warmServer, type Load } from "./lib/warm.ts";

interface Args {
  rounds: number;
  rate: number;
  /** Connections the fixed load is spread over (issue 14: 50k req/s over 1,000). */
  conns: number;
  counter: "perf" | "strace";
  /** Untimed passes of each phase's load on its server before it is measured (--warm). */
  warm: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 2, rate: 20_000, conns: 4, counter: "perf", warm: 0 };
  for (const s of argv) {
    const m = /^--(rounds|rate|conns|counter|nice|warm)=(.+)$/.exec(s);
    if (m === null) throw new Error(`unknown argument '${s}' (use --rounds=N --rate=N --conns=N --counter=perf|strace --nice=-10 --warm=N)`);
    if (m[1] === "counter") {
      if (m[2] !== "perf" && m[2] !== "strace") throw new Error(`--counter must be perf or strace, not '${m[2]}'`);
      a.counter = m[2];
    } else if (m[1] === "nice") setNiceness(Number(m[2]));
    else if (m[1] === "warm") a.warm = warmPasses(m[2]!);
    else {
      const n = Number(m[2]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${m[1]} must be a whole number of at least 1, not '${m[2]}'`);
      a[m[1] as "rounds" | "rate" | "conns"] = n;
    }
  }
  return a;
}

interface Sample {
  io: IoChoice;
  round: number;
  saturation?: LoadResult;
  syscalls16?: SyscallCount;
  syscalls1?: SyscallCount;
  fixed?: LoadResult;
}

interface SyscallCount {
  syscalls: number;
  requests: number;
  perRequest: number;
  tool: string;
}

/** Counts the server's syscalls over `ms` (all threads). */
async function countSyscalls(pid: number, ms: number, tool: Args["counter"]): Promise<number> {
  if (tool === "perf") {
    const p = Bun.spawn(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", String(pid), "--", "sleep", String(ms / 1000)], { stdout: "pipe", stderr: "pipe" });
    const [err] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    const line = err.split("\n").find((l) => l.includes("raw_syscalls:sys_enter"));
    const n = Number(line?.split(",")[0]);
    if (!Number.isFinite(n)) throw new Error(`perf stat gave no count: ${err.trim().slice(0, 200)}`);
    return n;
  }
  const p = Bun.spawn(["strace", "-c", "-f", "-p", String(pid)], { stdout: "pipe", stderr: "pipe" });
  await sleep(ms);
  p.kill("SIGINT");
  const [err] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  const total = err.split("\n").find((l) => /\btotal\s*$/.test(l));
  const n = Number(total?.trim().split(/\s+/)[3]);
  if (!Number.isFinite(n)) throw new Error(`strace -c gave no total: ${err.trim().slice(-200)}`);
  return n;
}

async function queueCount(port: number, queue: string): Promise<number> {
  const r = await textRequest(port, { cmd: "COUNT", queue });
  if (typeof r.count !== "number") throw new Error(`COUNT: unexpected reply ${JSON.stringify(r)}`);
  return r.count;
}

/** The closed loop the syscalls are counted in. */
const syscallLoad = (depth: number): Load => ({ scenario: "push", connections: 4, depth, durationMs: 2600, warmupMs: 300 });

/** Syscalls per PUSH at a given pipeline depth: a closed loop runs, and we count mid-run. */
async function syscallsPerRequest(port: number, pid: number, depth: number, tool: Args["counter"]): Promise<SyscallCount> {
  const queue = `sys-d${depth}`;
  const windowMs = 1000;
  const gen = runGenerator({ ...syscallLoad(depth), port, queue });
  await sleep(1000); // connect + warm-up
  const before = await queueCount(port, queue);
  const syscalls = await countSyscalls(pid, windowMs, tool);
  const after = await queueCount(port, queue);
  await gen;
  const requests = after - before;
  // The two COUNT requests cost a handful of syscalls: negligible next to tens of thousands.
  return { syscalls, requests, perRequest: requests > 0 ? syscalls / requests : NaN, tool: tool === "perf" ? "perf stat raw_syscalls:sys_enter" : "strace -c -f" };
}

/**
 * A fresh server for each phase: the jobs pushed by one phase (hundreds of thousands) would
 * otherwise stay in memory and their garbage collection would show up in the next phase. With
 * --warm it first takes that many untimed passes of the phase's own load (bench/lib/warm.ts).
 */
async function withServer<T>(io: IoChoice, args: Args, phase: string, load: Load, f: (port: number, pid: number) => Promise<T>): Promise<T> {
  const server = await startServer({ io, core: serverCore });
  try {
    await warmServer(server.port, server.pid, [load], args.warm, `backends-${phase}`, runGenerator);
    return await f(server.port, server.pid);
  } finally {
    await server.stop();
  }
}

async function oneBackend(io: IoChoice, round: number, args: Args): Promise<Sample> {
  const s: Sample = { io, round };
  const saturation: Load = { scenario: "push", connections: 4, depth: 16, durationMs: 2000 };
  const fixed: Load = { scenario: "rate", connections: args.conns, rate: args.rate, durationMs: 2000 };
  s.saturation = await withServer(io, args, "sat", saturation, (port, pid) => runGenerator({ ...saturation, port, serverPid: pid, queue: "sat" }));
  s.syscalls16 = await withServer(io, args, "sys16", syscallLoad(16), (port, pid) => syscallsPerRequest(port, pid, 16, args.counter));
  s.syscalls1 = await withServer(io, args, "sys1", syscallLoad(1), (port, pid) => syscallsPerRequest(port, pid, 1, args.counter));
  s.fixed = await withServer(io, args, "fixed", fixed, (port, pid) => runGenerator({ ...fixed, port, serverPid: pid, queue: "fixed" }));
  return s;
}

function med(xs: (number | undefined)[]): number {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length === 0 ? NaN : median(v);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  process.stderr.write(`ringq backends (${args.rounds} rounds, alternating${args.warm > 0 ? `, ${args.warm} warm pass(es) per phase` : ", fresh servers"}): ${machineLine()}\nio_uring shim: ${await buildShimIfStale()}\n`);
  const unavailable = new Map<IoChoice, string>();
  const samples: Sample[] = [];
  const ios: IoChoice[] = ["bun", "uring"];
  for (let round = 0; round < args.rounds; round++) {
    const order = round % 2 === 0 ? ios : [...ios].reverse();
    for (const io of order) {
      if (unavailable.has(io)) continue;
      process.stderr.write(`round ${round + 1}/${args.rounds} ${io} ... `);
      try {
        const s = await oneBackend(io, round, args);
        samples.push(s);
        process.stderr.write(
          `${si(s.saturation!.opsPerSec)} req/s; ${s.syscalls16!.perRequest.toFixed(3)} syscalls/req @16, ${s.syscalls1!.perRequest.toFixed(3)} @1; ` +
            `${s.fixed!.serverCpuUsPerOp} us cpu/req @${si(args.rate)}/s, p99 ${s.fixed!.latencyMs?.p99} ms (generator send lag p99 ${s.fixed!.sendLagMs?.p99} ms)\n`,
        );
      } catch (e) {
        if (e instanceof BackendUnavailable) {
          // Unavailable from the start: a column of n/a. After working in an earlier round it is a
          // failure of this run, and a verdict from the rounds left would be from a partial set.
          if (samples.some((s) => s.io === io)) throw new Error(`${io} failed in round ${round + 1} after working in an earlier round: ${e.message}`);
          unavailable.set(io, e.message);
          process.stderr.write(`n/a (${e.message})\n`);
        } else throw e;
      }
    }
  }

  const of = (io: IoChoice) => samples.filter((s) => s.io === io);
  const rows: [string, (s: Sample) => number | undefined, number, string][] = [
    ["requests/s at saturation (PUSH, 4 x depth 16)", (s) => s.saturation?.opsPerSec, 0, ">= 1.3x bun"],
    ["server CPU us per request at saturation", (s) => s.saturation?.serverCpuUsPerOp, 3, ""],
    [`server CPU us per request at ${si(args.rate)} req/s (${args.conns} conns)`, (s) => s.fixed?.serverCpuUsPerOp, 3, "<= 0.70x bun"],
    [`server CPU % at ${si(args.rate)} req/s`, (s) => s.fixed?.serverCpuPct, 1, ""],
    ["syscalls per request, depth 16", (s) => s.syscalls16?.perRequest, 3, "<= 0.02"],
    ["syscalls per request, depth 1", (s) => s.syscalls1?.perRequest, 3, ""],
    [`p50 round trip ms at ${si(args.rate)} req/s`, (s) => s.fixed?.latencyMs?.p50, 3, ""],
    [`p99 round trip ms at ${si(args.rate)} req/s`, (s) => s.fixed?.latencyMs?.p99, 3, "<= 0.60x bun"],
    ["p50 round trip ms at saturation", (s) => s.saturation?.latencyMs?.p50, 3, ""],
    ["p99 round trip ms at saturation", (s) => s.saturation?.latencyMs?.p99, 3, ""],
  ];
  const cell = (io: IoChoice, x: number, d: number) => (unavailable.has(io) ? `n/a (${unavailable.get(io)!.slice(0, 50)})` : Number.isFinite(x) ? (d === 0 ? si(x) : x.toFixed(d)) : "n/a");
  const table: string[][] = [["metric (median of rounds)", "bun", "io_uring", "uring/bun", "target"]];
  const summary: Record<string, { bun: number; uring: number; ratio: number; target: string }> = {};
  for (const [name, f, d, target] of rows) {
    const b = med(of("bun").map(f));
    const u = med(of("uring").map(f));
    const ratio = u / b;
    summary[name] = { bun: b, uring: u, ratio, target };
    table.push([name, cell("bun", b, d), cell("uring", u, d), Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-", target]);
  }
  const w = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const fmtRow = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  process.stdout.write(`\n${fmtRow(table[0]!)}\n${w.map((n) => "-".repeat(n)).join("  ")}\n${table.slice(1).map(fmtRow).join("\n")}\n`);
  const verdicts: [string, number, (x: number) => boolean][] = [
    ["io_uring >= 1.3x req/s of bun (saturation)", summary[rows[0]![0]]!.ratio, (x) => x >= 1.3],
    ["io_uring <= 0.7x CPU/request of bun at the fixed load", summary[rows[2]![0]]!.ratio, (x) => x <= 0.7],
    ["io_uring <= 0.6x p99 of bun at the fixed load", summary[rows[7]![0]]!.ratio, (x) => x <= 0.6],
    ["io_uring <= 0.02 syscalls/request at depth 16", summary[rows[4]![0]]!.uring, (x) => x <= 0.02],
  ];
  const verdict = (x: number, ok: (x: number) => boolean) => (!Number.isFinite(x) ? "n/a   " : ok(x) ? "met   " : "missed");
  process.stdout.write(`\n${verdicts.map(([t, x, ok]) => `${verdict(x, ok)}  ${t}`).join("\n")}\n`);

  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const dir = `${repoRoot}bench/results`;
  mkdirSync(dir, { recursive: true });
  const doc = { date: started.toISOString(), command: `bun bench/backends.ts ${process.argv.slice(2).join(" ")}`.trim(), machine: machineLine(), bun: Bun.version, args, niceness: getNiceness(), unavailable: Object.fromEntries(unavailable), summary, samples };
  writeFileSync(`${dir}/backends-${stamp}.json`, JSON.stringify(doc, null, 1));
  writeFileSync(`${dir}/backends-latest.json`, JSON.stringify(doc, null, 1));
  process.stdout.write(`results: bench/results/backends-${stamp}.json\n`);
}

await runBench("backends", main);
