// End-to-end throughput of a no-op Worker: start a ringq server as a child process, pre-fill a
// queue with N jobs (pipelined PUSHBs of 1000, not timed), then time one Worker (PULLB + ACKB)
// processing all of them; several runs per concurrency, medians printed. Measures client +
// server + loopback together. The server is pinned to one core and this process (the worker)
// to the other with taskset where there are two cores. It does not measure producers running
// at the same time as workers, nor payloads beyond a tiny object.
//
//   npx bun bench/client-worker.ts [--jobs=200000] [--runs=5] [--concurrency=256,1000] [--io=bun|uring|auto]
//     [--nice=-10]  run server and worker at that niceness (root): keeps them on their cores
//                   while other work shares the machine
//     [--pin=no]  do not pin (on a machine shared with other work, pinning can cost more than it saves)
//     [--port=N]  use a server already listening on 127.0.0.1:N (e.g. one started under a profiler)
//     [--server=fake]  instead of ringq, a stub that answers every PULLB at once with canned jobs
//                      of the real shape and every ACKB with success: the client's own ceiling
//   (the client also runs under Node: `npx bun run build:client`; this script runs under Bun)

import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import { Packr, Unpackr } from "msgpackr";
import { Connection, Worker } from "../src/client/index.ts";
import { freePort } from "./lib/server.ts";

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "1"];
  }),
);
const jobs = Number(args.jobs ?? 200_000);
const runs = Number(args.runs ?? 5);
const concurrencies = String(args.concurrency ?? "256,1000").split(",").map(Number);
const io = String(args.io ?? process.env.RINGQ_IO ?? "bun");
const pushBatch = 1000;
const pushWindow = 32; // PUSHBs in flight while pre-filling
const serverCore = 1;
const workerCore = 0;
const fake = args.server === "fake";
const nice = args.nice !== undefined ? Number(args.nice) : null;


/** Pin a process to a core with taskset; false (and why) when that is not possible here. */
function canPin(): string | null {
  if (os.cpus().length < 2) return "one core only";
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return null;
  } catch {
    return "no taskset";
  }
}

/**
 * The stub server of --server=fake (this file run with --serve-fake=PORT): binary frames only;
 * PULLB gets `count` jobs shaped like ringq's (same 32 fields), ACKB/ACK succeed, anything else
 * gets `ok: true`. Costs next to nothing per job, so the client is what is measured.
 */
function serveFake(port: number): void {
  const packr = new Packr({ useRecords: false });
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
  const now = Date.now();
  let nextId = 1;
  const jobOf = (id: number) => ({
    id, queue: "fake", data: { i: id }, priority: 0, created_at: now, run_at: now, started_at: now, attempts: 0,
    max_attempts: 3, backoff: 1000, ttl: null, timeout: null, unique_key: null, depends_on: null, progress: 0,
    progress_msg: null, tags: null, lifo: false, remove_on_complete: false, remove_on_fail: false,
    last_heartbeat: now, stall_timeout: 30000, stall_count: 0, parent_id: null, children_ids: null,
    children_completed: null, custom_id: null, keep_completed_age: null, keep_completed_count: null,
    completed_at: null, group_id: null, lock_token: String(id * 7919),
  });
  const frame = (o: unknown) => {
    const body = packr.pack(o);
    const out = Buffer.allocUnsafe(4 + body.length);
    out.writeUInt32BE(body.length, 0);
    body.copy(out, 4);
    return out;
  };
  // One encoded batch per size, reused: ids repeat across batches, which the client does not mind.
  const batches = new Map<number, Uint8Array>();
  const pulled = (reqId: unknown, count: number): Buffer => {
    let jobsBytes = batches.get(count);
    if (jobsBytes === undefined) {
      jobsBytes = Uint8Array.prototype.slice.call(packr.pack(Array.from({ length: count }, () => jobOf(nextId++))));
      batches.set(count, jobsBytes);
    }
    // pack() returns a view of msgpackr's scratch buffer: copy before packing again.
    const head = Uint8Array.prototype.slice.call(packr.pack({ reqId, ok: true }));
    const jobsKey = Uint8Array.prototype.slice.call(packr.pack("jobs"));
    const len = head.length + jobsKey.length + jobsBytes.length;
    const out = Buffer.allocUnsafe(4 + len);
    out.writeUInt32BE(len, 0);
    out.set(head, 4);
    // The {reqId, ok} map header (fixmap or map16, as msgpackr chooses) gets a third entry.
    if (head[0] === 0x82) out[4] = 0x83;
    else out[6] = 3;
    out.set(jobsKey, 4 + head.length);
    out.set(jobsBytes, 4 + head.length + jobsKey.length);
    return out;
  };
  net.createServer((sock) => {
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const out: Buffer[] = [];
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const req = unpackr.unpack(buf.subarray(4, 4 + len)) as Record<string, any>;
        buf = buf.subarray(4 + len);
        const reqId = req.reqId;
        if (req.cmd === "PULLB") out.push(pulled(reqId, req.count)); else if (req.cmd === "ACKB") out.push(frame({ reqId, ok: true, ids: [req.ids.length], count: req.ids.length }));
        else out.push(frame({ reqId, ok: true }));
      }
      if (out.length > 0) sock.write(Buffer.concat(out));
    });
    sock.on("error", () => {});
  }).listen(port, "127.0.0.1", () => console.error(`fake ringq listening on 127.0.0.1:${port}`));
}

async function startServer(port: number, pin: boolean) {
  const root = new URL("..", import.meta.url).pathname;
  const serverArgs = fake ? [new URL(import.meta.url).pathname, `--serve-fake=${port}`] : ["src/main.ts"];
  const argv = [...(pin ? ["taskset", "-c", String(serverCore)] : []), process.execPath, ...serverArgs];
  const env: Record<string, string | undefined> = { ...process.env, TCP_PORT: String(port), HOST: "127.0.0.1", RINGQ_IO: io };
  delete env.DATA_PATH; // memory only: this measures the client and the queue, not the disk
  const child = spawn(argv[0]!, argv.slice(1), { cwd: root, env, stdio: ["ignore", "ignore", "pipe"] });
  if (nice !== null && child.pid !== undefined) os.setPriority(child.pid, nice);
  let log = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (d) => {
      log += d;
      if (/listening/.test(log)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`server exited (${code}): ${log}`)));
  });
  return { child, log: log.trim().split("\n").find((l) => l.includes("listening")) ?? log.trim() };
}

/** CPU seconds (user+system) of a process, from /proc (Linux); NaN elsewhere. */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function prefill(conn: Connection, queue: string): Promise<void> {
  const batch = Array.from({ length: pushBatch }, (_, i) => ({ data: { i } }));
  let sent = 0;
  const inFlight = new Set<Promise<unknown>>();
  while (sent < jobs) {
    const size = Math.min(pushBatch, jobs - sent);
    sent += size;
    const p = conn.request("PUSHB", { queue, jobs: size === pushBatch ? batch : batch.slice(0, size) }).then((r) => {
      if (r.errors !== undefined) throw new Error(`pre-fill: ${JSON.stringify(r.errors[0])}`);
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (inFlight.size >= pushWindow) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const counts = await conn.request("GETJOBCOUNTS", { queue });
  if (counts.waiting !== jobs) throw new Error(`pre-fill: expected ${jobs} waiting, got ${counts.waiting}`);
}

interface RunResult {
  rate: number;
  clientCpuPerJobUs: number;
  serverCpuPerJobUs: number;
}

async function oneRun(port: number, queue: string, concurrency: number, serverPid: number | undefined): Promise<RunResult> {
  const conn = new Connection({ port });
  if (!fake) await prefill(conn, queue);

  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const cpu0 = process.cpuUsage();
  const server0 = cpuSecondsOf(serverPid ?? NaN);
  const start = performance.now();
  const worker = new Worker(queue, async () => {}, { connection: { port }, concurrency });
  worker.on("completed", () => {
    if (++done === jobs) finish();
  });
  worker.on("error", (e) => console.error("worker error:", e.message));
  await finished;
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = cpuSecondsOf(serverPid ?? NaN) - server0;
  await worker.close(true);
  const after = fake ? { completed: jobs, waiting: 0, active: 0 } : await conn.request("GETJOBCOUNTS", { queue });
  if (after.completed + 0 < Math.min(jobs, 1) || after.waiting !== 0 || after.active !== 0) {
    throw new Error(`after the run: ${JSON.stringify(after)}`);
  }
  await conn.request("OBLITERATE", { queue });
  await conn.close();
  return {
    rate: jobs / seconds,
    clientCpuPerJobUs: (((cpu.user + cpu.system) / 1e6) * 1e6) / jobs,
    serverCpuPerJobUs: (serverCpu * 1e6) / jobs,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

if (args["serve-fake"] !== undefined) {
  serveFake(Number(args["serve-fake"]));
  await new Promise(() => {}); // serve until killed
}

const pinProblem = args.pin === "no" ? "--pin=no" : canPin();
const pin = pinProblem === null;
if (pin) execFileSync("taskset", ["-cp", String(workerCore), String(process.pid)], { stdio: "ignore" });
if (nice !== null) os.setPriority(nice);
const external = args.port !== undefined ? Number(args.port) : null;
const port = external ?? (await freePort());
const server = external !== null ? { child: { pid: NaN, kill: (_s: string) => true }, log: `external server on port ${external}` } : await startServer(port, pin);
try {
  const runtime = process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`;
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}, ${runtime}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (other work on the machine skews the figures)`);
  console.log(`pinning: ${pin ? `server on core ${serverCore}, worker on core ${workerCore}` : `none (${pinProblem})`}; niceness: ${nice ?? "default"}`);
  console.log(`server: ${server.log}`);
  console.log(`jobs per run: ${jobs} (pre-filled, not timed), runs per concurrency: ${runs}`);
  const summary: string[] = [];
  let run = 0;
  for (const concurrency of concurrencies) {
    const results: RunResult[] = [];
    for (let r = 0; r < runs; r++) {
      const res = await oneRun(port, `bench-${run++}`, concurrency, server.child.pid);
      results.push(res);
      console.log(
        `  concurrency ${concurrency} run ${r + 1}: ${Math.round(res.rate).toLocaleString("en-US")} jobs/s ` +
          `(CPU per job: client ${res.clientCpuPerJobUs.toFixed(2)} us, server ${res.serverCpuPerJobUs.toFixed(2)} us)`,
      );
    }
    summary.push(
      `concurrency ${String(concurrency).padStart(5)}: median ${Math.round(median(results.map((x) => x.rate))).toLocaleString("en-US")} jobs/s; ` +
        `CPU per job: client ${median(results.map((x) => x.clientCpuPerJobUs)).toFixed(2)} us, server ${median(results.map((x) => x.serverCpuPerJobUs)).toFixed(2)} us`,
    );
  }
  console.log("no-op Worker, pre-filled queue:");
  for (const line of summary) console.log(`  ${line}`);
} finally {
  server.child.kill("SIGTERM");
}
