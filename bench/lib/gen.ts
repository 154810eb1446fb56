// Runs bench/loadgen.ts as its own process (pinned to the generator's core when taskset is
// there) and returns its one-line JSON result. Also the small helpers run.ts and backends.ts
// share: the prerequisite build of the io_uring shim, and a text-mode request to a server.
// It does not decide scenarios or repeat runs.

import type { LoadOptions, LoadResult } from "../loadgen.ts";
import { pinPrefix } from "./proc.ts";
import { repoRoot } from "./server.ts";
import { existsSync } from "node:fs";

/** Core the generator is pinned to; the server gets the other one (see server.ts). */
export const generatorCore = 0;
export const serverCore = 1;
const generatorTimeoutMs = 300_000;

function flag(k: string): string {
  return k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

export async function runGenerator(opts: Partial<LoadOptions> & { scenario: LoadOptions["scenario"]; port: number }): Promise<LoadResult> {
  const args = Object.entries(opts)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${flag(k)}=${v}`);
  const argv = [...pinPrefix(generatorCore), process.execPath, "bench/loadgen.ts", ...args];
  const proc = Bun.spawn(argv, { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), generatorTimeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const line = stdout.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) {
    throw new Error(`load generator failed (exit ${code}): ${(stderr.trim().split("\n").slice(-3).join(" | ") || line).slice(0, 400)}`);
  }
  return JSON.parse(line) as LoadResult;
}

/** Builds the io_uring shim when it is missing or stale, as `bun run start` does. Never throws. */
export async function buildShimIfStale(): Promise<string> {
  if (!existsSync(`${repoRoot}/ffi/build.ts`)) return "no ffi/build.ts";
  const proc = Bun.spawn([process.execPath, "ffi/build.ts", "--if-stale", "--quiet"], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return code === 0 ? "ok" : `shim build failed: ${err.trim().split("\n").pop()}`;
}

/** One request in text mode (one JSON line) and its reply, on a fresh connection. */
export async function textRequest(port: number, req: object, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(req)} within ${timeoutMs} ms`)), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(JSON.stringify(req) + "\n");
        },
        data(s, d) {
          buf += d.toString();
          const nl = buf.indexOf("\n");
          if (nl >= 0) {
            clearTimeout(timer);
            s.end();
            resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
          }
        },
        error(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    }).catch((e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
