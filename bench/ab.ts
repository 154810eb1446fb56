// A/B of two source trees on one load-generator scenario: the server of each tree (its own
// src/, started by its own bench/lib/server.ts) takes the same load in turn, alternating the
// order every round, and the medians and ranges of server CPU per job are printed with their
// ratio. For a change too small for the whole suite's noise (a cache size, a hot function):
// check the other tree out with `git worktree add /tmp/base <ref>` (and link node_modules and
// ffi/build into it), then
//
//   flock /tmp/bench.lock npx bun bench/ab.ts /tmp/base . [--rounds=3] [--io=bun] [loadgen flags]
//
// e.g. `--scenario=push --queues=1000 --depth=64`. The generator always runs from this tree.
// It prints the ratio of the two medians and the median (and range) of the per-round ratios.

import { resolve } from "node:path";
import { parseArgs, type LoadOptions } from "./loadgen.ts";
import { runGenerator, serverCore } from "./lib/gen.ts";
import { median } from "./lib/stats.ts";

const argv = process.argv.slice(2);
const trees = argv.filter((a) => !a.startsWith("--")).map((t) => resolve(t));
if (trees.length !== 2) throw new Error("ab: give two source trees (e.g. /tmp/base .)");
const own = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const rounds = Number(own("rounds") ?? 3);
const io = own("io") ?? "bun";
const load = { scenario: "push", connections: 4, depth: 64, durationMs: 2500, warmupMs: 500, ...parseArgs(argv.filter((a) => a.startsWith("--") && !/^--(rounds|io)=/.test(a))) } as Partial<LoadOptions> & { scenario: LoadOptions["scenario"] };

const cpu: Record<string, number[]> = {};
const rate: Record<string, number[]> = {};
for (let r = 0; r < rounds; r++) {
  for (const tree of r % 2 === 0 ? trees : [...trees].reverse()) {
    const { startServer } = (await import(`${tree}/bench/lib/server.ts`)) as typeof import("./lib/server.ts");
    const server = await startServer({ io: io as "bun" | "uring", core: serverCore });
    try {
      const out = await runGenerator({ ...load, port: server.port, serverPid: server.pid });
      if (out.serverCpuUsPerOp === undefined) throw new Error("ab: the generator did not measure the server's CPU");
      (cpu[tree] ??= []).push(out.serverCpuUsPerOp);
      (rate[tree] ??= []).push(out.opsPerSec);
      console.log(`round ${r + 1}/${rounds} ${tree}: ${Math.round(out.opsPerSec)} jobs/s, ${out.serverCpuUsPerOp} us/job server CPU`);
    } finally {
      await server.stop();
    }
  }
}
const [a, b] = trees as [string, string];
for (const t of trees) {
  const c = cpu[t]!;
  console.log(`${t}: server us/job median ${median(c).toFixed(3)} (range ${Math.min(...c)}-${Math.max(...c)}), jobs/s median ${Math.round(median(rate[t]!))}`);
}
console.log(`ratio (second / first), server CPU per job: ${(median(cpu[b]!) / median(cpu[a]!)).toFixed(2)}`);
// The two runs of a round sit next to each other in time, so their ratio cancels the host's
// slower drift (its load moved single figures 1.5x between runs): the median of the per-round
// ratios, with their range, is the steadier figure; a range that spans 1.00 is no result.
const paired = cpu[b]!.map((x, i) => x / cpu[a]![i]!);
console.log(`per-round ratios (second / first): median ${median(paired).toFixed(2)} (range ${Math.min(...paired).toFixed(2)}-${Math.max(...paired).toFixed(2)})`);
