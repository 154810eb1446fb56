// Precision of the timed features, measured on a real server (a child process, in memory):
//   cron        how late each run's job is created after its slot (repeat_every 200 ms, and a
//               6-field `* * * * * *` pattern), from the slot named in the job's custom id
//   rate limit  jobs delivered per second under RATELIMIT 1000/s (burst 100) with 4 workers
//               pulling PULLB 50 as fast as they can for 10 s: (delivered - burst) / seconds
//   concurrency the most jobs active at once under SETCONCURRENCY 8 with 16 workers that each
//               hold a job 5 ms, over 5 s (counted by the workers), and the jobs done a second
// Each is run --rounds times (default 3) on a fresh server; the medians and the range are
// printed. Run it alone: `flock /tmp/bench.lock npx bun bench/precision.ts`.
//   --rounds=N  --io=bun|uring  --quick (shorter windows, for a smoke run)

import { median } from "./lib/stats.ts";
import { killAllServers, startServer, type IoChoice } from "./lib/server.ts";
import { RawClient } from "../tests/helpers/raw-client.ts";

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const rounds = Number(args.get("rounds") ?? 3);
const io = (args.get("io") ?? "uring") as IoChoice;
const quick = args.has("quick");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withServer<T>(f: (port: number) => Promise<T>): Promise<T> {
  const s = await startServer({ io });
  try {
    return await f(s.port);
  } finally {
    await s.stop();
  }
}

/** Lateness (ms) of each cron run: job created_at minus the slot in its custom id. */
async function cronLateness(port: number, queue: string, req: Record<string, unknown>, seconds: number): Promise<number[]> {
  const c = await RawClient.connect(port);
  await c.call({ cmd: "CRON", name: queue, queue, data: 1, ...req });
  await sleep(seconds * 1000);
  await c.call({ cmd: "CRONDELETE", name: queue });
  const jobs = (await c.call({ cmd: "GETJOBS", queue, limit: 10_000 })).jobs as { created_at: number; custom_id: string }[];
  c.close();
  return jobs.map((j) => j.created_at - Number(j.custom_id.split(":").at(-1)));
}

async function rateLimit(port: number, seconds: number): Promise<{ perSecond: number; burst: number }> {
  const setup = await RawClient.connect(port);
  for (let i = 0; i < 20; i++) await setup.call({ cmd: "PUSHB", queue: "rl", jobs: Array.from({ length: 1000 }, (_, k) => ({ data: k })) });
  await setup.call({ cmd: "RATELIMIT", queue: "rl", limit: 1000, burst: 100 });
  const workers = await Promise.all(Array.from({ length: 4 }, () => RawClient.connect(port)));
  let delivered = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(workers.map(async (w) => {
    while (performance.now() < end) {
      const r = await w.call({ cmd: "PULLB", queue: "rl", count: 50, timeout: 20 });
      delivered += r.jobs.length;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  for (const w of workers) w.close();
  setup.close();
  return { perSecond: (delivered - 100) / elapsed, burst: 100 };
}

async function concurrency(port: number, seconds: number): Promise<{ maxActive: number; perSecond: number }> {
  const setup = await RawClient.connect(port);
  for (let i = 0; i < 10; i++) await setup.call({ cmd: "PUSHB", queue: "cc", jobs: Array.from({ length: 1000 }, (_, k) => ({ data: k })) });
  await setup.call({ cmd: "SETCONCURRENCY", queue: "cc", limit: 8 });
  const workers = await Promise.all(Array.from({ length: 16 }, () => RawClient.connect(port)));
  let active = 0;
  let maxActive = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(workers.map(async (w) => {
    while (performance.now() < end) {
      const { job } = await w.call({ cmd: "PULL", queue: "cc", timeout: 50 });
      if (job === null) continue;
      active++;
      if (active > maxActive) maxActive = active;
      await sleep(5);
      active--;
      await w.call({ cmd: "ACK", id: job.id });
      done++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  for (const w of workers) w.close();
  setup.close();
  return { maxActive, perSecond: done / elapsed };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const range = (xs: number[], digits = 1): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;

try {
  const every: { p50: number; p99: number; max: number; n: number }[] = [];
  const pattern: { p50: number; max: number; n: number }[] = [];
  const rates: number[] = [];
  const conc: { maxActive: number; perSecond: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    await withServer(async (port) => {
      const a = await cronLateness(port, "every", { repeat_every: 200 }, quick ? 2 : 5);
      every.push({ p50: pct(a, 50), p99: pct(a, 99), max: Math.max(...a), n: a.length });
      const b = await cronLateness(port, "pattern", { schedule: "* * * * * *" }, quick ? 2 : 5);
      pattern.push({ p50: pct(b, 50), max: Math.max(...b), n: b.length });
      rates.push((await rateLimit(port, quick ? 3 : 10)).perSecond);
      conc.push(await concurrency(port, quick ? 2 : 5));
    });
    console.error(`round ${r + 1}/${rounds} done`);
  }
  console.log(`precision (${io}, ${rounds} rounds; median (min-max) over rounds)`);
  console.log(`cron repeat_every 200 ms: ${every[0]!.n} runs/round, lateness p50 ${range(every.map((x) => x.p50))} ms, p99 ${range(every.map((x) => x.p99))} ms, max ${range(every.map((x) => x.max))} ms`);
  console.log(`cron '* * * * * *':       ${pattern[0]!.n} runs/round, lateness p50 ${range(pattern.map((x) => x.p50))} ms, max ${range(pattern.map((x) => x.max))} ms`);
  console.log(`RATELIMIT 1000/s, burst 100, 4 workers: ${range(rates)} jobs/s delivered after the burst (${range(rates.map((x) => (x / 1000 - 1) * 100), 2)} % off the limit)`);
  console.log(`SETCONCURRENCY 8, 16 workers holding 5 ms: at most ${range(conc.map((x) => x.maxActive), 0)} active at once; ${range(conc.map((x) => x.perSecond), 0)} jobs/s`);
} finally {
  killAllServers();
}
