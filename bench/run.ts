// `bun run bench` (quick, < 3 min) or `bun run bench -- --full`: starts a fresh ringq server per
// measurement on 127.0.0.1 (pinned to core 1), drives it with bench/loadgen.ts as a separate
// process (pinned to core 0), alternating the I/O backends scenario by scenario, prints a table
// against the issue's targets and writes bench/results/<stamp>.json and .svg (+ latest.*).
// A backend that does not really run (the start-up line says otherwise) is "n/a (reason)".
// It does not run the micro-benchmarks (bench/micro.ts) or syscall counts (bench/backends.ts).
//
//   npx bun bench/run.ts [--full] [--only=push,latency10k] [--io=bun,uring] [--runs=N] [--nice=-10] [--warm=N]
//
// --warm=N runs each scenario's load N times, untimed, on the measured server before the measured
// run (each pass on a queue of its own, obliterated after it), so the figure is the server's
// steady state rather than its first seconds: on a fresh server Bun's JIT threads compile for the
// first million or so jobs, on the server's core (docs in bench/README.md). The memory scenario
// is never warmed: what the passes leave behind would count as memory per job.

import { mkdirSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import type { LoadOptions, LoadResult } from "./loadgen.ts";
import { buildShimIfStale, runGenerator, serverCore } from "./lib/gen.ts";
import { canPin, cpuPressurePct, getNiceness, machineLine, setNiceness } from "./lib/proc.ts";
import { BackendUnavailable, repoRoot, startServer, type IoChoice, runBench } from "./lib/server.ts";
import { median, si } from "./lib/stats.ts";
import { renderChart, type ChartRow } from "./lib/svg.ts";
import { warmPasses, warmServer } from "./lib/warm.ts";

type Metric = "opsPerSec" | "p50" | "p99" | "p999" | "bytesPerJob";

interface Scenario {
  id: string;
  title: string;
  /** What the table reports for it, and the target if the issue names one. */
  metric: Metric;
  unit: string;
  target?: { value: number; cmp: ">=" | "<=" };
  load: (full: boolean) => Partial<LoadOptions> & { scenario: LoadOptions["scenario"] };
}

const scenarios: Scenario[] = [
  {
    id: "push",
    title: "PUSH single, pipelined (4 conns x 256)",
    metric: "opsPerSec",
    unit: "jobs/s",
    target: { value: 900_000, cmp: ">=" },
    load: (full) => ({ scenario: "push", connections: 4, depth: 256, durationMs: full ? 5000 : 2000 }),
  },
  {
    id: "pushb100",
    title: "PUSHB 100 (4 conns x 16)",
    metric: "opsPerSec",
    unit: "jobs/s",
    load: (full) => ({ scenario: "pushb", batch: 100, connections: 4, depth: 16, durationMs: full ? 5000 : 2000 }),
  },
  {
    id: "pushb1000",
    title: "PUSHB 1000 (4 conns x 4)",
    metric: "opsPerSec",
    unit: "jobs/s",
    target: { value: 1_500_000, cmp: ">=" },
    load: (full) => ({ scenario: "pushb", batch: 1000, connections: 4, depth: 4, durationMs: full ? 5000 : 2000 }),
  },
  {
    id: "pullack",
    title: "PULLB 100 + ACKB, pre-filled queue",
    metric: "opsPerSec",
    unit: "jobs/s",
    target: { value: 600_000, cmp: ">=" },
    load: (full) => ({ scenario: "pullack", batch: 100, connections: 4, jobs: full ? 1_000_000 : 300_000 }),
  },
  ...[1_000, 10_000, 50_000].map((rate): Scenario => ({
    id: `latency${rate / 1000}k`,
    title: `push-to-worker p99 at ${rate / 1000}k jobs/s`,
    metric: "p99",
    unit: "ms",
    target: rate === 10_000 ? { value: 1, cmp: "<=" } : rate === 50_000 ? { value: 2, cmp: "<=" } : undefined,
    // A longer warm-up: on a fresh server Bun's JIT threads still compile for about a second at
    // these rates (450 ms of JITWorker CPU in a 2 s window after a 0.5 s warm-up), on the same core.
    load: (full) => ({ scenario: "latency", rate, connections: 2, batch: 100, warmupMs: 1500, durationMs: full ? 10_000 : 2000 }),
  })),
  {
    id: "conns1000",
    title: "PUSH over 1,000 connections (x 4 deep)",
    metric: "opsPerSec",
    unit: "jobs/s",
    load: (full) => ({ scenario: "conns", connections: 1000, depth: 4, durationMs: full ? 5000 : 2000 }),
  },
  {
    id: "conns10000",
    title: "PUSH over 10,000 connections (x 4 deep)",
    metric: "opsPerSec",
    unit: "jobs/s",
    load: (full) => ({ scenario: "conns", connections: 10_000, depth: 4, durationMs: full ? 5000 : 3000 }),
  },
  {
    id: "memory",
    title: "server memory per waiting job (100 B payload)",
    metric: "bytesPerJob",
    unit: "B/job",
    target: { value: 300, cmp: "<=" },
    load: (full) => ({ scenario: "memory", jobs: full ? 1_000_000 : 300_000, payloadBytes: 100 }),
  },
];

interface Cell {
  io: IoChoice;
  /** Backend as the server's start-up line names it. */
  backend?: string;
  runs: LoadResult[];
  unavailable?: string;
  error?: string;
}

interface ScenarioResult {
  id: string;
  title: string;
  metric: Metric;
  unit: string;
  target?: Scenario["target"];
  cells: Cell[];
}

function parseArgs(argv: string[]) {
  const a = { full: false, only: null as string[] | null, io: ["bun", "uring"] as IoChoice[], runs: 0, warm: 0 };
  for (const s of argv) {
    if (s === "--full") a.full = true;
    else if (s.startsWith("--only=")) a.only = s.slice(7).split(",");
    else if (s.startsWith("--io=")) a.io = s.slice(5).split(",") as IoChoice[];
    else if (s.startsWith("--runs=")) a.runs = Number(s.slice(7));
    else if (s.startsWith("--nice=")) setNiceness(Number(s.slice(7)));
    else if (s.startsWith("--warm=")) a.warm = warmPasses(s.slice(7));
    else if (s === "--") continue;
    else throw new Error(`unknown argument '${s}' (use --full, --only=ids, --io=bun,uring, --runs=N, --nice=-10, --warm=N)`);
  }
  if (a.runs <= 0) a.runs = a.full ? 3 : 1;
  return a;
}

/** The figure a scenario reports, from one run. */
function pick(r: LoadResult, m: Metric): number {
  if (m === "opsPerSec") return r.opsPerSec;
  if (m === "bytesPerJob") return r.bytesPerJob ?? NaN;
  return r.latencyMs?.[m] ?? NaN;
}

function medianOf(c: Cell, f: (r: LoadResult) => number | undefined): number {
  const xs = c.runs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return xs.length === 0 ? NaN : median(xs);
}

function fmt(x: number, unit: string): string {
  if (!Number.isFinite(x)) return "n/a";
  if (unit === "ms") return x < 10 ? x.toFixed(3) : x.toFixed(1);
  if (unit === "B/job") return String(Math.round(x));
  return si(x);
}

const ioLabel = (io: IoChoice) => (io === "uring" ? "io_uring" : "bun");

/** Progress on stderr: a line per step, with a live elapsed counter on a terminal. */
class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly t0 = performance.now();
  constructor(private readonly total: number) {}
  begin(i: number, text: string): void {
    const head = `[${String(i).padStart(2)}/${this.total}] ${text}`;
    const started = performance.now();
    if (this.tty) {
      const draw = () => process.stderr.write(`\r${head} ... ${((performance.now() - started) / 1000).toFixed(0)} s `);
      draw();
      this.timer = setInterval(draw, 500);
    } else process.stderr.write(`${head} ... `);
  }
  end(result: string): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    process.stderr.write(`${this.tty ? "\x1b[K" : ""}${result}  (${((performance.now() - this.t0) / 1000).toFixed(0)} s total)\n`);
  }
}

function gitCommit(): string {
  try {
    const rev = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "ffi"], { cwd: repoRoot, encoding: "utf8" }).trim() !== "";
    return dirty ? `${rev} (+ uncommitted changes in src/ or ffi/)` : rev;
  } catch {
    return "unknown";
  }
}

async function measure(s: Scenario, io: IoChoice, full: boolean, warm: number): Promise<{ r?: LoadResult; backend?: string; unavailable?: string }> {
  let server;
  try {
    server = await startServer({ io, core: serverCore });
  } catch (e) {
    if (e instanceof BackendUnavailable) return { unavailable: e.message };
    throw e;
  }
  const backend = /IO backend: ([^;]*)/.exec(server.startupLine)?.[1]?.trim();
  try {
    const load = s.load(full);
    const passes = load.scenario === "memory" ? 0 : warm;
    await warmServer(server.port, server.pid, [load], passes, `bench-${s.id}`, runGenerator);
    const loadAvg1 = os.loadavg()[0]!;
    const r = await runGenerator({ ...load, port: server.port, serverPid: server.pid, queue: `bench-${s.id}` });
    if (passes > 0) r.warmPasses = passes;
    r.loadAvg1 = Math.round(loadAvg1 * 100) / 100;
    const psi = cpuPressurePct();
    if (psi !== null) r.cpuPressurePct = psi;
    return { r, backend };
  } finally {
    await server.stop();
  }
}

function oneLine(s: Scenario, r: LoadResult): string {
  const parts = [`${fmt(pick(r, s.metric), s.unit)} ${s.unit}`];
  if (s.metric !== "opsPerSec") parts.push(`${si(r.opsPerSec)} jobs/s`);
  if (r.latencyMs && s.metric === "p99") parts.push(`p50 ${fmt(r.latencyMs.p50, "ms")} p999 ${fmt(r.latencyMs.p999, "ms")}`);
  if (r.serverThreadsMs && r.serverCpuMs) {
    const main = r.serverThreadsMs.main ?? 0;
    parts.push(`main thread ${Math.round((100 * main) / r.serverCpuMs)}% of server cpu`);
  }
  if (r.sendLagMs) parts.push(`generator send lag p99 ${fmt(r.sendLagMs.p99, "ms")}`);
  if (r.serverCpuUsPerOp !== undefined) parts.push(`server ${r.serverCpuUsPerOp.toFixed(2)} us/job, ${r.serverCpuPct}% cpu (${r.serverSysPct}% of it kernel)`);
  parts.push(`gen ${r.genCpuPct}% cpu`);
  if (r.errors > 0) parts.push(`${r.errors} errors: ${r.firstError}`);
  if (r.note) parts.push(r.note);
  // The bench's own processes make a load of ~2 and, pinned with their JIT/GC threads, some CPU
  // pressure of their own: flag only clearly more than that.
  if ((r.loadAvg1 ?? 0) > 2.5 || (r.cpuPressurePct ?? 0) > 50) parts.push(`machine busy (load ${r.loadAvg1}, cpu pressure ${r.cpuPressurePct ?? "?"}%): noisy`);
  return parts.join(", ");
}

function table(results: ScenarioResult[], ios: IoChoice[]): string {
  let footnoteGen = false;
  const head = ["scenario", "metric", ...ios.map(ioLabel), ...(ios.length === 2 ? ["uring/bun"] : []), "target", ...ios.map((io) => `srv us/job ${ioLabel(io)}`)];
  const rows: string[][] = [head];
  for (const sr of results) {
    const vals = sr.cells.map((c) => medianOf(c, (r) => pick(r, sr.metric)));
    const row = [sr.title, sr.metric === "opsPerSec" ? sr.unit : `${sr.metric} ${sr.unit}`];
    sr.cells.forEach((c, i) => {
      if (c.unavailable !== undefined) row.push(`n/a (${c.unavailable.slice(0, 60)})`);
      else if (c.error !== undefined) row.push(`error`);
      else {
        const v = vals[i]!;
        const ok = sr.target === undefined || !Number.isFinite(v) ? "" : (sr.target.cmp === ">=" ? v >= sr.target.value : v <= sr.target.value) ? " ok" : " MISS";
        // A latency tail the generator itself was late for is the machine's, not the server's.
        const lag = medianOf(c, (r) => r.sendLagMs?.p99);
        const genBound = sr.unit === "ms" && Number.isFinite(lag) && lag >= 0.5 * v;
        if (genBound) footnoteGen = true;
        row.push(fmt(v, sr.unit) + ok + (genBound ? "*" : ""));
      }
    });
    if (ios.length === 2) row.push(Number.isFinite(vals[0]!) && Number.isFinite(vals[1]!) ? `${(vals[1]! / vals[0]!).toFixed(2)}x` : "-");
    row.push(sr.target ? `${sr.target.cmp} ${fmt(sr.target.value, sr.unit)}` : "");
    for (const c of sr.cells) {
      const us = medianOf(c, (r) => r.serverCpuUsPerOp);
      // For throughput rows, also what one whole core would do at this cost per job.
      const cap = sr.metric === "opsPerSec" && Number.isFinite(us) && us > 0 ? ` (${si(1e6 / us)}/core-s)` : "";
      row.push(Number.isFinite(us) ? us.toFixed(2) + cap : "n/a");
    }
    rows.push(row);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const foot = footnoteGen ? ["* the load generator's own send lag p99 was at least half of this: the machine (CPU contention) was late, not only the server"] : [];
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line), ...foot].join("\n");
}

function chartRows(results: ScenarioResult[]): ChartRow[] {
  const rows: ChartRow[] = [];
  for (const sr of results) {
    const metrics: Metric[] = sr.metric === "p99" ? ["p50", "p99", "p999"] : [sr.metric];
    for (const m of metrics) {
      rows.push({
        title: m === sr.metric ? sr.title : sr.title.replace("p99", m),
        better: m === "opsPerSec" ? "higher" : "lower",
        target: sr.target && m === sr.metric ? { value: sr.target.value, label: `${sr.target.cmp} ${fmt(sr.target.value, sr.unit)} ${sr.unit}` } : undefined,
        bars: sr.cells.map((c) => {
          const v = medianOf(c, (r) => pick(r, m));
          const reason = c.unavailable ?? c.error;
          return { series: ioLabel(c.io), value: Number.isFinite(v) ? v : null, label: `${fmt(v, sr.unit)} ${sr.unit}`, reason };
        }),
      });
    }
  }
  // Server CPU per job at the fixed 10k jobs/s load: comparable across backends.
  const lat = results.find((r) => r.id === "latency10k");
  if (lat) {
    rows.push({
      title: "server CPU per job at 10k jobs/s (push+pull+ack)",
      better: "lower",
      bars: lat.cells.map((c) => {
        const v = medianOf(c, (r) => r.serverCpuUsPerOp);
        return { series: ioLabel(c.io), value: Number.isFinite(v) ? v : null, label: `${Number.isFinite(v) ? v.toFixed(1) : "n/a"} us/job`, reason: c.unavailable ?? c.error };
      }),
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const picked = scenarios.filter((s) => args.only === null || args.only.includes(s.id));
  if (picked.length === 0) throw new Error(`--only matched nothing; ids: ${scenarios.map((s) => s.id).join(", ")}`);
  const command = `bun run bench${process.argv.length > 2 ? " -- " + process.argv.slice(2).join(" ") : ""}`;
  process.stderr.write(`ringq bench (${args.full ? "full" : "quick"}): ${machineLine()}\n`);
  process.stderr.write(
    canPin()
      ? `server pinned to core ${serverCore}, load generator to core 0 (taskset)${getNiceness() !== 0 ? `, both at nice ${getNiceness()}` : ""}; in-memory server, fresh per measurement${args.warm > 0 ? `, warmed by ${args.warm} untimed pass(es) of the same load` : ""}\n`
      : `taskset or a second core is missing: processes are NOT pinned, figures are less comparable\n`,
  );
  if (args.io.includes("uring")) process.stderr.write(`io_uring shim: ${await buildShimIfStale()}\n`);

  const results: ScenarioResult[] = picked.map((s) => ({
    id: s.id,
    title: s.title,
    metric: s.metric,
    unit: s.unit,
    target: s.target,
    cells: args.io.map((io) => ({ io, runs: [] })),
  }));
  const progress = new Progress(picked.length * args.io.length * args.runs);
  let step = 0;
  for (let run = 0; run < args.runs; run++) {
    for (let si_ = 0; si_ < picked.length; si_++) {
      const s = picked[si_]!;
      // Alternate which backend goes first, so drift in the machine's load hits both alike.
      const order = (run + si_) % 2 === 0 ? args.io : [...args.io].reverse();
      for (const io of order) {
        const cell = results[si_]!.cells.find((c) => c.io === io)!;
        step++;
        if (cell.unavailable !== undefined) {
          progress.begin(step, `${s.title} - ${ioLabel(io)}`);
          progress.end(`n/a (${cell.unavailable})`);
          continue;
        }
        progress.begin(step, `${s.title} - ${ioLabel(io)}${args.runs > 1 ? ` (run ${run + 1}/${args.runs})` : ""}`);
        try {
          const m = await measure(s, io, args.full, args.warm);
          if (m.unavailable !== undefined) {
            cell.unavailable = m.unavailable;
            progress.end(`n/a (${m.unavailable})`);
            continue;
          }
          cell.backend = m.backend;
          cell.runs.push(m.r!);
          progress.end(oneLine(s, m.r!));
        } catch (e) {
          cell.error = (e as Error).message;
          progress.end(`error: ${cell.error}`);
        }
      }
    }
  }

  const elapsedS = (Date.now() - started.getTime()) / 1000;
  const text = table(results, args.io);
  process.stdout.write(`\n${text}\n`);
  process.stdout.write(
    `\nmedians of ${args.runs} run(s) each; ${elapsedS.toFixed(0)} s; ${args.warm > 0 ? `each after ${args.warm} untimed pass(es) of its load on the same server (not memory); ` : "each on a fresh server (JIT still compiling: see --warm); "}srv us/job = server CPU (user+sys, all threads) per job in the measured window;\n` +
      `/core-s = 1e6 / srv us/job, the jobs/s one whole core would do at that cost (steadier than jobs/s when the cores are shared).\n`,
  );
  const all = results.flatMap((r) => r.cells.flatMap((c) => c.runs));
  const range = (xs: number[]) => (xs.length === 0 ? "?" : `${Math.min(...xs)}-${Math.max(...xs)}`);
  const busy = `load average ${range(all.map((r) => r.loadAvg1 ?? NaN).filter(Number.isFinite))}, CPU pressure ${range(all.map((r) => r.cpuPressurePct ?? NaN).filter(Number.isFinite))}%`;
  process.stdout.write(`machine during the runs: ${busy} (the server and generator alone make a load of about 2; more means other work shared the cores)\n`);
  const backends = results[0]!.cells.map((c) => `${ioLabel(c.io)} = ${c.backend ?? `n/a (${c.unavailable ?? c.error ?? "not run"})`}`);
  process.stdout.write(`backends: ${backends.join("; ")}\n`);

  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const dir = `${repoRoot}bench/results`;
  mkdirSync(dir, { recursive: true });
  const doc = {
    date: started.toISOString(),
    command,
    mode: args.full ? "full" : "quick",
    machine: machineLine(),
    bun: Bun.version,
    commit: gitCommit(),
    pinned: canPin(),
    niceness: getNiceness(),
    warmPasses: args.warm,
    busy,
    elapsedS,
    results,
  };
  const json = JSON.stringify(doc, null, 1);
  const svg = renderChart({
    title: `ringq bench (${doc.mode}), ${doc.date.slice(0, 16).replace("T", " ")} UTC`,
    subtitle: `${doc.machine}; Bun ${doc.bun}; commit ${doc.commit}; server on core ${serverCore}, generator on core 0${doc.niceness !== 0 ? ` (nice ${doc.niceness})` : ""}; medians of ${args.runs} run(s)${args.warm > 0 ? `, ${args.warm} warm pass(es) each` : ""}`,
    rows: chartRows(results),
  });
  for (const name of [stamp, "latest"]) {
    writeFileSync(`${dir}/${name}.json`, json);
    writeFileSync(`${dir}/${name}.svg`, svg);
  }
  process.stdout.write(`results: bench/results/${stamp}.json, bench/results/${stamp}.svg (and latest.*)\n`);
}

await runBench("bench", main, "message");
