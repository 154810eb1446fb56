// Client CPU per `queue.add`: a producer keeps `--inflight` adds outstanding against a real
// ringq server (one process, on the other core when it can be pinned) and reads its own
// process.cpuUsage() around `--adds` of them, after a warm-up. Each measurement runs in a fresh
// child process; rounds alternate the baseline client (src/client at a git ref, `--against`)
// and this tree's, so both see the same machine load. Prints each round and the medians.
// It measures the producer side only: the server's CPU and the Worker are elsewhere
// (bench/client-worker.ts).
//
//   flock /tmp/bench.lock npx bun bench/client-add.ts [--against=main] [--rounds=5]
//       [--adds=200000] [--inflight=256] [--bulk=0|N]  (N: addBulk of N jobs instead of add)
//       [--prof]  one run of this tree's client under Bun's CPU profiler (markdown in bench/results/prof/)

import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { canPin, machineLine, pinPrefix } from "./lib/proc.ts";
import { killAllServers, repoRoot, startServer } from "./lib/server.ts";
import { median } from "./lib/stats.ts";

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "1"];
  }),
);
const adds = Number(args.adds ?? 200_000);
const inflight = Number(args.inflight ?? 256);
const bulk = Number(args.bulk ?? 0);
const warmup = Math.min(50_000, Math.ceil(adds / 4));
const clientCore = 0;
const serverCore = 1;

interface Result {
  usPerAdd: number;
  addsPerSec: number;
}

/** Child: add jobs through the client at `clientDir` and print one JSON line of figures. */
async function child(clientDir: string, port: number, queueName: string): Promise<void> {
  const { Queue } = (await import(path.join(clientDir, "index.ts"))) as typeof import("../src/client/index.ts");
  const queue = new Queue(queueName, { connection: { port } });
  const data = { to: "ada@example.com", n: 1 };
  const run = async (count: number): Promise<void> => {
    let issued = 0;
    let done = 0;
    await new Promise<void>((resolve, reject) => {
      const next = (): void => {
        if (done === count) return resolve();
        if (issued >= count) return;
        issued += bulk > 0 ? bulk : 1;
        const p = bulk > 0 ? queue.addBulk(Array.from({ length: bulk }, () => ({ name: "welcome", data }))) : queue.add("welcome", data);
        p.then(() => {
          done += bulk > 0 ? bulk : 1;
          next();
        }, reject);
      };
      for (let i = 0; i < inflight && i * Math.max(1, bulk) < count; i++) next();
    });
  };
  await run(warmup);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await run(adds);
  const c1 = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  await queue.obliterate();
  await queue.close();
  const r: Result = { usPerAdd: (c1.user + c1.system) / adds, addsPerSec: Math.round(adds / (wallMs / 1000)) };
  console.log(JSON.stringify(r));
}

/** src/client of a git ref, checked out under node_modules/.cache so its imports resolve. */
function clientAt(ref: string): string {
  const sha = execFileSync("git", ["rev-parse", ref], { cwd: repoRoot, encoding: "utf8" }).trim();
  const dir = path.join(repoRoot, "node_modules/.cache/ringq-bench", sha.slice(0, 12));
  if (!fs.existsSync(path.join(dir, "src/client/index.ts"))) {
    fs.mkdirSync(dir, { recursive: true });
    const tar = execFileSync("git", ["archive", sha, "src/client"], { cwd: repoRoot, maxBuffer: 64 << 20 });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
  }
  return path.join(dir, "src/client");
}

function measure(clientDir: string, port: number, round: number, prof = false): Result {
  const pin = canPin() ? pinPrefix(clientCore) : [];
  const profFlags = prof ? ["--cpu-prof-md", `--cpu-prof-dir=${repoRoot}bench/results/prof`, `--cpu-prof-name=client-add-${Date.now()}.md`] : [];
  const argv = [...pin, process.execPath, ...profFlags, import.meta.path, `--child=${clientDir}`, `--port=${port}`, `--queue=bench-add-${round}`, `--adds=${adds}`, `--inflight=${inflight}`, `--bulk=${bulk}`];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`client run failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Result;
}

if (args.child !== undefined) {
  await child(String(args.child), Number(args.port), String(args.queue));
  process.exit(0);
}

const rounds = Number(args.rounds ?? 5);
const against = String(args.against ?? "main");
const server = await startServer({ io: "bun", core: serverCore });
try {
  console.log(machineLine());
  console.log(`client CPU per ${bulk > 0 ? `job of addBulk(${bulk})` : "queue.add"}: ${adds} adds per run, ${inflight} in flight, server ${server.startupLine.match(/IO backend: [^;(]*/)?.[0] ?? ""}`);
  if (args.prof !== undefined) {
    fs.mkdirSync(`${repoRoot}bench/results/prof`, { recursive: true });
    const r = measure(path.join(repoRoot, "src/client"), server.port, 0, true);
    console.log(`profiled run: ${r.usPerAdd.toFixed(2)} us/add (the sampler costs some); profile in bench/results/prof/`);
  } else {
    const base = clientAt(against);
    const mine = path.join(repoRoot, "src/client");
    const old: Result[] = [];
    const now: Result[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, so neither always runs on a warmer machine.
      const order = i % 2 === 0 ? [base, mine] : [mine, base];
      for (const dir of order) {
        const r = measure(dir, server.port, i);
        (dir === base ? old : now).push(r);
        console.log(`round ${i + 1} ${dir === base ? against.padEnd(8) : "this    "} ${r.usPerAdd.toFixed(2)} us/add  ${r.addsPerSec} adds/s`);
      }
    }
    const mo = median(old.map((r) => r.usPerAdd));
    const mn = median(now.map((r) => r.usPerAdd));
    console.log(`median: ${against} ${mo.toFixed(2)} us/add (${median(old.map((r) => r.addsPerSec))} adds/s), this tree ${mn.toFixed(2)} us/add (${median(now.map((r) => r.addsPerSec))} adds/s); ratio ${(mn / mo).toFixed(2)}`);
  }
} finally {
  await server.stop();
  killAllServers();
}
