// Test helper: a real ringq server as a child process (`bun src/main.ts`) on 127.0.0.1 and a
// free port, started and stopped by the test that uses it. Can restart on the same port (and
// DATA_PATH) for reconnect tests. No protocol knowledge: the tests talk through the client.

import { afterAll, beforeAll } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "../helpers/ports.ts";

export const repoRoot = new URL("../..", import.meta.url).pathname;
const startTimeoutMs = 15_000;
const stopTimeoutMs = 5_000;

export { freePort };

export interface TestServer {
  port: number;
  /** Everything the current process wrote on stderr (bounded). */
  log(): string;
  /** SIGTERM (graceful), SIGKILL after a bound; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port with the same environment. */
  restart(): Promise<void>;
}

/** The one server of a test file: started before its tests, stopped after them (after the
 *  file's own afterAll hooks registered before this call). Read `port` inside the tests. */
export function serverPerFile(): { readonly port: number } {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get port() {
      if (server === undefined) throw new Error("serverPerFile: the server is not up yet (read port inside a test)");
      return server.port;
    },
  };
}

/** Start a server; `env` adds AUTH_TOKENS, DATA_PATH, ... (in-memory by default). */
export async function startServer(env: Record<string, string> = {}, port?: number): Promise<TestServer> {
  const p = port ?? (await freePort());
  let child: ChildProcess | null = null;
  let log = "";
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const fullEnv: Record<string, string | undefined> = {
      ...process.env,
      HOST: "127.0.0.1",
      TCP_PORT: String(p),
      RINGQ_IO: "bun",
      HTTP_PORT: "0",
    };
    delete fullEnv.DATA_PATH;
    delete fullEnv.AUTH_TOKENS;
    Object.assign(fullEnv, env);
    log = "";
    const c = spawn(process.execPath, ["src/main.ts"], { cwd: repoRoot, env: fullEnv, stdio: ["ignore", "ignore", "pipe"] });
    child = c;
    c.stderr!.setEncoding("utf8");
    exited = new Promise<void>((r) => c.once("exit", () => r()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start within ${startTimeoutMs} ms: ${log}`)), startTimeoutMs);
      c.stderr!.on("data", (d: string) => {
        if (log.length < 64 * 1024) log += d;
        if (/listening/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before listening: ${log}`));
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const c = child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    const t = setTimeout(() => c.kill("SIGKILL"), stopTimeoutMs);
    await exited;
    clearTimeout(t);
  };

  try {
    await start();
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  }
  return {
    port: p,
    log: () => log,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

/** Resolve when `check` holds, polling every few ms; reject after `ms` with `what`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
