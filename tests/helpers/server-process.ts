// Test helper: ringq as users run it, `bun src/main.ts` in a child process on 127.0.0.1 with
// TCP_PORT=0 (the port is read back from the start-up line, so no free-port race). Keeps the
// child's stderr as text, reads its memory from /proc, stops it with a signal and waits (bounded).
// It asserts nothing itself: tests decide what the log and exit code must be.

import { join } from "node:path";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const repoRoot = join(import.meta.dir, "..", "..");

export interface SpawnOptions {
  /** RINGQ_IO for the child; omitted = inherit/none. */
  io?: "auto" | "uring" | "bun";
  /** Extra environment (merged over the test process's environment). */
  env?: Record<string, string | undefined>;
  /** Bound on reaching the start-up line, ms. */
  startTimeoutMs?: number;
  /** A command to run the server under (e.g. a seccomp wrapper): wrap ++ [bun, src/main.ts]. */
  wrap?: string[];
}

/** Children not yet exited: a test that fails before its stop() would leave its server running
 *  past the run (a failed cron test's server ran on for 20 minutes, pushing a job every 300 ms).
 *  tests/helpers/cleanup.ts (bunfig.toml's test preload) kills what is left after the last test. */
const running = new Set<ServerProcess>();

/** Kills every child still running; returns how many there were. */
export function killLeftoverServers(): number {
  const n = running.size;
  for (const s of running) s.kill();
  return n;
}

export class ServerProcess {
  /** Everything the child wrote to stderr so far. */
  log = "";
  exitCode: number | null = null;
  private waiters: (() => void)[] = [];
  private readonly drained: Promise<void>;

  private constructor(readonly proc: ReturnType<typeof spawnChild>) {
    this.drained = this.drain(proc.stderr as ReadableStream<Uint8Array>);
    running.add(this);
    void proc.exited.then((code) => {
      this.exitCode = code;
      running.delete(this);
      this.wake();
    });
  }

  /** Starts a server and waits for its start-up line; throws with the log if it does not come. */
  static async start(opts: SpawnOptions = {}): Promise<ServerProcess> {
    const s = ServerProcess.spawn(opts);
    try {
      await s.waitForLog(/listening on \S+:\d+/, opts.startTimeoutMs ?? 15_000);
    } catch (e) {
      s.kill();
      throw e;
    }
    return s;
  }

  /** Spawns without waiting for anything (for start-up failure tests). */
  static spawn(opts: SpawnOptions = {}): ServerProcess {
    return new ServerProcess(spawnChild(opts));
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The start-up line (throws if it has not been printed). */
  get startupLine(): string {
    const l = this.log.split("\n").find((x) => /listening on \S+:\d+/.test(x));
    if (l === undefined) throw new Error(`no start-up line in:\n${this.log}`);
    return l;
  }

  get port(): number {
    return Number(/listening on \S+:(\d+)/.exec(this.startupLine)![1]);
  }

  /** The `IO backend: ...` part of the start-up line, up to the storage part. */
  get ioLine(): string {
    const m = /IO backend: .*?(?=; storage:|$)/.exec(this.startupLine);
    if (m === null) throw new Error(`no 'IO backend:' in: ${this.startupLine}`);
    return m[0];
  }

  /** Resolves once the log matches, or throws (with the log) after timeoutMs or on exit. */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.log)) {
      if (this.exitCode !== null) {
        await this.drained;
        if (pattern.test(this.log)) return;
        throw new Error(`server exited (${this.exitCode}) before ${pattern}; log:\n${this.log}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${pattern} within ${timeoutMs} ms; log:\n${this.log}`);
      await this.sleepOrWake(left);
    }
  }

  /** Waits for the exit code (bounded); the log is complete when this resolves. */
  async exited(timeoutMs = 10_000): Promise<number> {
    const code = await Promise.race([this.proc.exited, Bun.sleep(timeoutMs).then(() => null)]);
    if (code === null) throw new Error(`server did not exit within ${timeoutMs} ms; log:\n${this.log}`);
    await this.drained;
    return code;
  }

  signal(sig: "SIGTERM" | "SIGINT" | "SIGKILL"): void {
    if (this.exitCode === null) this.proc.kill(sig);
  }

  /** Graceful stop for cleanup: SIGTERM, then SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 5_000): Promise<number | null> {
    if (this.exitCode !== null) return this.exitCode;
    this.signal("SIGTERM");
    try {
      return await this.exited(timeoutMs);
    } catch {
      this.kill();
      return null;
    }
  }

  kill(): void {
    this.signal("SIGKILL");
  }

  /** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM); null once the process is gone. */
  memoryKiB(field: "VmRSS" | "VmHWM"): number | null {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  /** CPU time the child has used (user + system), ms; null once it is gone. */
  cpuMs(): number | null {
    try {
      const fields = readFileSync(`/proc/${this.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux
      return (Number(fields[11]) + Number(fields[12])) / ticksPerMs;
    } catch {
      return null;
    }
  }

  /** Open file descriptors of the child (sockets included), and the accepted connections its
   *  io_uring holds as direct descriptors, which have no entry in /proc/<pid>/fd: sockets on
   *  the server's port that a file still holds (a non-zero inode in /proc/net/tcp) and no fd
   *  of the child names. (The ring's fdinfo lists its file table too, but only when it wins a
   *  trylock, so it reads low while the ring is busy.) null once the child is gone. */
  fdCount(): number | null {
    try {
      const fds = readdirSync(`/proc/${this.pid}/fd`);
      const own = new Set<string>();
      for (const fd of fds) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${this.pid}/fd/${fd}`));
          if (m) own.add(m[1]!);
        } catch {
          // closed since the listing
        }
      }
      let direct = 0;
      for (const inode of heldSocketInodes(this.port)) if (!own.has(inode)) direct++;
      return fds.length + direct;
    } catch {
      return null;
    }
  }

  private async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      this.log += dec.decode(chunk, { stream: true });
      this.wake();
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private sleepOrWake(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

function spawnChild(opts: SpawnOptions) {
  const env: Record<string, string | undefined> = { ...process.env, HOST: "127.0.0.1", TCP_PORT: "0", HTTP_PORT: "0", ...opts.env };
  if (opts.io !== undefined) env.RINGQ_IO = opts.io;
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  // Memory only and open, whatever the developer's shell exports, unless the test asks.
  if (opts.env?.DATA_PATH === undefined) delete env.DATA_PATH;
  if (opts.env?.AUTH_TOKENS === undefined) delete env.AUTH_TOKENS;
  return Bun.spawn([...(opts.wrap ?? []), process.execPath, join(repoRoot, "src", "main.ts")], {
    cwd: repoRoot,
    env,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
}

/** The rows of /proc/net/tcp{,6} for sockets bound to local port `port`, split into fields:
 *  sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode ... */
export function tcpRows(port: number): string[][] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const out: string[][] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const row of text.split("\n").slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length >= 10 && f[1]!.endsWith(`:${hex}`)) out.push(f);
    }
  }
  return out;
}

/** Inodes of the TCP sockets bound to local port `port` that some file still holds (an
 *  orphaned or TIME_WAIT socket shows inode 0), listeners (state 0A) excluded. */
export function heldSocketInodes(port: number): string[] {
  return tcpRows(port).filter((f) => f[3] !== "0A" && f[9] !== "0").map((f) => f[9]!);
}
