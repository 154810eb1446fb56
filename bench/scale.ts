// How cost grows with scale: push and pull+ack throughput and server CPU per job with 10k, 100k,
// 1M and 5M jobs already waiting in the queue, and with the work spread over 1, 1k and 100k
// queues; plus the server's memory per waiting job at each size. Each size runs on a fresh
// in-memory server (a child process pinned to core 1, the generator on core 0), --rounds times
// (default 3), sizes alternating in order each round; medians and ranges are printed, with each
// figure's ratio to the smallest case, and a chart is written to bench/results/scale-<date>.svg.
// Run it alone: `flock /tmp/bench.lock npx bun bench/scale.ts` (about 10 minutes; --quick: 1M
// jobs and 10k queues at most, shorter windows). --warm=N first gives each case's server N
// untimed passes of the case's request shapes on a queue of their own (bench/lib/warm.ts), so
// every size is measured at the JIT's steady state rather than during its first compiles.
//
// The request shapes stay the same across sizes so that only the scale changes: jobs: PUSHB of
// 100 into the backlog's queue, PULLB 100 + ACKB out of it (two in flight per connection);
// queues: PUSH of one job to each queue in turn (64 in flight per connection), PULLB 1 + ACKB
// from each in turn (32 in flight). The push phase of the backlog case adds its jobs to the
// backlog, so the pulls that follow take from a queue a little deeper than the size named. In
// the queues case every queue is created, holding its share of the pulls' jobs, before the
// pushes are timed: they measure pushing to N queues that exist, not creating them.
// --only=backlog|queues runs one of the two tables.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultOptions, jobData, prefill, queueNames, type LoadResult } from "./loadgen.ts";
import { runGenerator, serverCore } from "./lib/gen.ts";
import { readRssBytes } from "./lib/proc.ts";
import { killAllServers, repoRoot, startServer, type IoChoice } from "./lib/server.ts";
import { median } from "./lib/stats.ts";
import { warmPasses, warmServer, type Load } from "./lib/warm.ts";
import { renderChart, type ChartRow } from "./lib/svg.ts";

/** The arguments, checked before any server starts; a bad one ends the run with its reason. */
function parseScaleArgs(argv: string[]): { rounds: number; io: IoChoice; quick: boolean; warm: number; only: "backlog" | "queues" | null } {
  const usage = "use --rounds=N, --io=uring|bun, --quick, --warm=N, --only=backlog|queues";
  const args = new Map<string, string>();
  for (const a of argv) {
    const m = /^--(rounds|io|warm|only)=(.+)$|^--(quick)$/.exec(a);
    if (m === null) throw new Error(`unknown argument '${a}' (${usage})`);
    args.set(m[1] ?? m[3]!, m[2] ?? "");
  }
  const rounds = Number(args.get("rounds") ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a whole number of at least 1");
  const io = args.get("io") ?? "uring";
  if (io !== "uring" && io !== "bun") throw new Error(`--io is uring or bun, not '${io}'`);
  // Untimed passes of the case's request shapes, on one queue of their own, before each case is
  // measured: the same for every size, so what differs between sizes is the scale, not how far
  // the JIT had got. The RSS per job is then not reported (the passes' freed memory is reused).
  const warm = args.has("warm") ? warmPasses(args.get("warm")!) : 0;
  const only = args.get("only") ?? null;
  if (only !== null && only !== "backlog" && only !== "queues") throw new Error(`--only is backlog or queues, not '${only}'`);
  return { rounds, io, quick: args.has("quick"), warm, only };
}

let parsed: ReturnType<typeof parseScaleArgs>;
try {
  parsed = parseScaleArgs(process.argv.slice(2));
} catch (e) {
  console.error(`scale: ${(e as Error).message}`);
  process.exit(1);
}
const { rounds, io, quick, warm, only } = parsed;
const windowMs = quick ? 1000 : 2000;
const backlogs = only === "queues" ? [] : quick ? [10_000, 100_000, 1_000_000] : [10_000, 100_000, 1_000_000, 5_000_000];
const queueCounts = only === "backlog" ? [] : quick ? [1, 1_000, 10_000] : [1, 1_000, 100_000];
const processJobs = quick ? 50_000 : 200_000;

interface Figures {
  push: number;
  pushCpu: number;
  pull: number;
  pullCpu: number;
  bytesPerJob: number;
}

const cpuOf = (r: LoadResult): number => r.serverCpuUsPerOp ?? NaN;

/** One measured (or warm) load, from the generator process pinned to its own core. */
const measured = (s: { port: number; pid: number }, load: Load): Promise<LoadResult> => runGenerator({ ...load, port: s.port, serverPid: s.pid });

async function backlogCase(jobs: number): Promise<Figures> {
  const s = await startServer({ io, core: serverCore });
  try {
    const pushLoad: Load = { scenario: "pushb", batch: 100, depth: 8, connections: 2, durationMs: windowMs, warmupMs: 300 };
    const pullLoad: Load = { scenario: "pullack", jobs: processJobs, batch: 100, depth: 2, connections: 2, durationMs: windowMs };
    await warmServer(s.port, s.pid, [pushLoad, pullLoad], warm, "scale-backlog", (l) => measured(s, l));
    const before = readRssBytes(s.pid) ?? NaN;
    await prefill({ ...defaultOptions, port: s.port }, "backlog", jobs + processJobs, jobData(100));
    const after = readRssBytes(s.pid) ?? NaN;
    const push = await measured(s, { ...pushLoad, queue: "backlog" });
    const pull = await measured(s, { ...pullLoad, queue: "backlog", prefill: 0 });
    return { push: push.opsPerSec, pushCpu: cpuOf(push), pull: pull.opsPerSec, pullCpu: cpuOf(pull), bytesPerJob: warm > 0 ? NaN : (after - before) / (jobs + processJobs) };
  } finally {
    await s.stop();
  }
}

async function queuesCase(queues: number): Promise<Figures> {
  const s = await startServer({ io, core: serverCore });
  try {
    const spread = { queue: "spread", queues };
    const pullJobs = Math.max(processJobs, queues * 2);
    const pushLoad: Load = { scenario: "push", depth: 64, connections: 2, durationMs: windowMs, warmupMs: 300 };
    // prefill 0: the pulls take jobs already waiting, counted, `depth` in flight per connection
    // for every queue count (a pullack that prefills its one queue keeps only two in flight).
    const pullLoad: Load = { scenario: "pullack", jobs: pullJobs, batch: 1, depth: 32, connections: 2, durationMs: windowMs, prefill: 0 };
    // Warmed on one queue whatever the case's count: the same passes for every case.
    await warmServer(s.port, s.pid, [pushLoad, { ...pullLoad, jobs: processJobs, prefill: 1 }], warm, "scale-queues", (l) => measured(s, l));
    const before = readRssBytes(s.pid) ?? NaN;
    // Every queue exists before the pushes are timed (so they measure pushing to N queues, not
    // creating them) and holds its share of the pulls' jobs.
    const share = Math.ceil(pullJobs / queues);
    await prefill({ ...defaultOptions, port: s.port }, queueNames({ ...spread }), share, jobData(100));
    const push = await measured(s, { ...pushLoad, ...spread });
    const after = readRssBytes(s.pid) ?? NaN;
    const pull = await measured(s, { ...pullLoad, ...spread });
    return { push: push.opsPerSec, pushCpu: cpuOf(push), pull: pull.opsPerSec, pullCpu: cpuOf(pull), bytesPerJob: warm > 0 ? NaN : (after - before) / (share * queues + push.ops) };
  } finally {
    await s.stop();
  }
}

const warmNote = warm > 0 ? `, each case after ${warm} untimed warm pass(es) on its server (RSS per job not measured: a cold run gives it)` : ", fresh servers (JIT still compiling: see --warm)";
const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? (d === 0 ? Math.round(x).toLocaleString("en-US") : x.toFixed(d)) : "n/a");
const spread = (xs: number[], d = 0): string => `${fmt(median(xs), d)} (${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)})`;

try {
  const byBacklog = new Map<number, Figures[]>(backlogs.map((b) => [b, []]));
  const byQueues = new Map<number, Figures[]>(queueCounts.map((q) => [q, []]));
  for (let r = 0; r < rounds; r++) {
    const bs = r % 2 === 0 ? backlogs : [...backlogs].reverse();
    for (const b of bs) {
      process.stderr.write(`round ${r + 1}/${rounds}: ${b} jobs waiting ... `);
      const f = await backlogCase(b);
      byBacklog.get(b)!.push(f);
      process.stderr.write(`push ${fmt(f.push)}/s, pull+ack ${fmt(f.pull)}/s\n`);
    }
    const qs = r % 2 === 0 ? queueCounts : [...queueCounts].reverse();
    for (const q of qs) {
      process.stderr.write(`round ${r + 1}/${rounds}: ${q} queues ... `);
      const f = await queuesCase(q);
      byQueues.get(q)!.push(f);
      process.stderr.write(`push ${fmt(f.push)}/s, pull+ack ${fmt(f.pull)}/s\n`);
    }
  }

  const lines: string[] = [];
  const rows: ChartRow[] = [];
  const table = (title: string, unit: string, m: Map<number, Figures[]>) => {
    lines.push(`\n${title} (${io}, ${rounds} rounds${warmNote}; median (min-max); ratio = median / median of the smallest case)`);
    lines.push(`| ${unit} | push jobs/s | ratio | push us/job | pull+ack jobs/s | ratio | pull+ack us/job | RSS B/job |`);
    lines.push("|---|---|---|---|---|---|---|---|");
    const first = [...m.values()][0]!;
    const p0 = median(first.map((f) => f.push));
    const q0 = median(first.map((f) => f.pull));
    for (const [size, fs] of m) {
      const push = fs.map((f) => f.push);
      const pull = fs.map((f) => f.pull);
      lines.push(`| ${fmt(size)} | ${spread(push)} | ${(median(push) / p0).toFixed(2)} | ${spread(fs.map((f) => f.pushCpu), 2)} | ${spread(pull)} | ${(median(pull) / q0).toFixed(2)} | ${spread(fs.map((f) => f.pullCpu), 2)} | ${fmt(median(fs.map((f) => f.bytesPerJob)))} |`);
    }
    for (const [metric, key, unitLabel] of [["push", "push", "jobs/s"], ["pull+ack", "pull", "jobs/s"]] as const) {
      rows.push({
        title: `${metric}, by ${unit}`,
        better: "higher",
        bars: [...m].map(([size, fs]) => ({ series: `${fmt(size)} ${size === 1 ? unit.replace(/s$/, "") : unit}`, value: median(fs.map((f) => f[key])), label: `${fmt(median(fs.map((f) => f[key])))} ${unitLabel}` })),
      });
    }
  };
  if (backlogs.length > 0) table("Jobs waiting in the queue", "jobs waiting", byBacklog);
  if (queueCounts.length > 0) table("Work spread over queues", "queues", byQueues);
  console.log(lines.join("\n"));
  const dir = join(repoRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `scale-${new Date().toISOString().slice(0, 10)}.svg`);
  writeFileSync(file, renderChart({ title: "ringq: cost as scale grows", subtitle: `${io}, medians of ${rounds} rounds${warmNote}`, rows }));
  console.log(`\nchart: ${file}`);
} finally {
  killAllServers();
}
