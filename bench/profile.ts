// Where the server's time goes: runs one load-generator scenario against a server started under
// Bun's sampling CPU profiler (--cpu-prof-md), stops it, and prints the functions with the most
// self time. The profile (markdown) stays under bench/results/prof/ for a closer look.
// It measures nothing itself: figures come from bench/run.ts; this explains them.
//
//   npx bun bench/profile.ts [--io=bun|uring] [--durability=none|batch|sync] [--scenario=push|pushb|pullack|latency|...] [loadgen flags]
//
// --durability stores the jobs in a fresh SQLite file (removed afterwards); without it, in memory.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadOptions } from "./loadgen.ts";
import { runGenerator, serverCore } from "./lib/gen.ts";
import { killAllServers, repoRoot, startServer, type IoChoice } from "./lib/server.ts";

const args = process.argv.slice(2);
const io = (args.find((a) => a.startsWith("--io="))?.slice(5) ?? "bun") as IoChoice;
const durability = args.find((a) => a.startsWith("--durability="))?.slice(13);
if (durability !== undefined && !["none", "batch", "sync"].includes(durability)) throw new Error(`profile: --durability is none, batch or sync, not '${durability}'`);
const rest = args.filter((a) => !a.startsWith("--io=") && !a.startsWith("--durability="));
const load: Record<string, string | number> = { scenario: "push", connections: 4, depth: 256, durationMs: 3000 };
for (const a of rest) {
  const m = /^--([a-z-]+)=(.*)$/.exec(a);
  if (m === null) throw new Error(`profile: bad argument '${a}'`);
  const key = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  load[key] = /^\d+$/.test(m[2]!) ? Number(m[2]) : m[2]!;
}
const dir = `${repoRoot}bench/results/prof`;
mkdirSync(dir, { recursive: true });
const name = `${io}-${load.scenario}${durability === undefined ? "" : `-${durability}`}-${Date.now()}.md`;
const dataDir = durability === undefined ? null : mkdtempSync(join(tmpdir(), "ringq-prof-"));
const env: Record<string, string> = dataDir === null ? {} : { DATA_PATH: join(dataDir, "ringq.db"), DURABILITY: durability! };
try {
  const server = await startServer({ io, core: serverCore, env, bunFlags: ["--cpu-prof-md", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`, "--cpu-prof-interval=200"] });
  const r = await runGenerator({ ...(load as Partial<LoadOptions> & { scenario: LoadOptions["scenario"] }), port: server.port, serverPid: server.pid });
  await server.stop();
  console.log(`${io} ${load.scenario}: ${r.opsPerSec} jobs/s, server ${r.serverCpuUsPerOp} us/job (profiled: the sampler costs some)`);
  const file = readdirSync(dir).find((f) => f === name);
  if (file === undefined) throw new Error(`no profile written in ${dir}`);
  const md = readFileSync(`${dir}/${file}`, "utf8");
  console.log(md.split("\n").slice(0, 60).join("\n"));
  console.log(`\nfull profile: bench/results/prof/${file}`);
} catch (e) {
  killAllServers();
  console.error(`profile: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
}
