// Starts a ringq server as a child process on 127.0.0.1 (pinned to one core when possible),
// waits for its "listening" start-up line, tells which I/O backend it really got, and stops it.
// Every started server is tracked so killAllServers() can end them on error or Ctrl-C.
// It does not talk the protocol: that is loadgen.ts.

import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { pinPrefix } from "./proc.ts";

export const repoRoot = new URL("../..", import.meta.url).pathname;
const startTimeoutMs = 15_000;
const stopTimeoutMs = 5_000;

export type IoChoice = "bun" | "uring";

export interface ServerHandle {
  pid: number;
  port: number;
  io: IoChoice;
  startupLine: string;
  /** Everything the server wrote on stderr so far (bounded). */
  log(): string;
  stop(): Promise<void>;
}

/** The backend asked for is not what runs: the reason, for an "n/a" cell. */
export class BackendUnavailable extends Error {}

const live = new Set<ChildProcess>();

/** Runs a bench entry point's main: the servers it started are killed on Ctrl-C (exit 130) and
 *  on an error, which is printed after `label` (its stack, or for run.ts's table its message). */
export async function runBench(label: string, main: () => Promise<void>, show: "stack" | "message" = "stack"): Promise<void> {
  process.on("SIGINT", () => {
    killAllServers();
    process.exit(130);
  });
  try {
    await main();
  } catch (e) {
    killAllServers();
    console.error(`${label}: ${show === "stack" ? ((e as Error).stack ?? e) : (e as Error).message}`);
    process.exit(1);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  io: IoChoice;
  /** Core to pin the server to (the load generator takes the other). */
  core?: number;
  /** Extra environment (DATA_PATH, DURABILITY, ...). In-memory by default. */
  env?: Record<string, string>;
  /** Flags for the bun binary before the script, e.g. ["--cpu-prof-md", ...] (bench/profile.ts). */
  bunFlags?: string[];
}

export async function startServer(opts: StartOptions): Promise<ServerHandle> {
  // Port 0: the server binds a free port itself and names it in its start-up line. (Picking a
  // free port here and passing it lost rounds to EADDRINUSE when another process took it first.)
  const argv = [...pinPrefix(opts.core ?? 1), process.execPath, ...(opts.bunFlags ?? []), "src/main.ts"];
  const env: Record<string, string | undefined> = { ...process.env, HOST: "127.0.0.1", TCP_PORT: "0", RINGQ_IO: opts.io, HTTP_PORT: "0" };
  delete env.DATA_PATH; // in-memory unless the caller asks for storage
  Object.assign(env, opts.env ?? {});
  const child = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, env, stdio: ["ignore", "ignore", "pipe"] });
  live.add(child);
  let log = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    if (log.length < 64 * 1024) log += d;
  });
  let exited = false;
  const exitP = new Promise<void>((r) => child.once("exit", () => {
    exited = true;
    live.delete(child);
    r();
  }));
  const stop = async () => {
    if (exited) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
    await exitP;
    clearTimeout(t);
  };

  const startupLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print "listening" within ${startTimeoutMs} ms: ${log}`)), startTimeoutMs);
    const check = () => {
      const line = log.split("\n").find((l) => l.includes("listening"));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stderr!.on("data", check);
    exitP.then(() => {
      clearTimeout(timer);
      const why = log.trim().split("\n").pop() ?? "no output";
      // Only a refusal to run io_uring is "unavailable"; any other failure stops the bench.
      const refused = /RINGQ_IO=uring but io_uring is unavailable: /.exec(why);
      reject(opts.io === "uring" && refused !== null ? new BackendUnavailable(why.slice(refused.index + refused[0].length)) : new Error(`server exited: ${why}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });

  // RINGQ_IO=uring should fail rather than fall back, but a fallback must never be reported as
  // io_uring figures: trust the start-up line, not the request.
  const m = /IO backend: ([^;]*)/.exec(startupLine);
  const got = m?.[1] ?? "";
  if (opts.io === "uring" && !/uring/i.test(got.split(":")[0]!)) {
    await stop();
    throw new BackendUnavailable(`server fell back: ${got}`);
  }
  if (child.pid === undefined) throw new Error("server has no pid");
  const port = Number(/listening on [^ ]*:(\d+)/.exec(startupLine)?.[1]);
  if (!(port > 0)) {
    await stop();
    throw new Error(`no port in the start-up line: ${startupLine}`);
  }
  return { pid: child.pid, port, io: opts.io, startupLine, log: () => log, stop };
}

/** Last resort on error or Ctrl-C: kill whatever is still running. */
export function killAllServers(): void {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
}
