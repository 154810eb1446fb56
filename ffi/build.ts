// Builds ffi/build/libringq_uring.so with the system C compiler, liburing linked statically so
// the .so needs only libc. Flags: --if-stale (skip when the .so is newer than every source in
// ffi/), --quiet. It never fails the caller: without a compiler or liburing.h it prints one line
// saying how to enable io_uring and exits 0, and the server falls back to Bun sockets.

import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const ffiDir = import.meta.dir;
export const shimPath = join(ffiDir, "build", "libringq_uring.so");
const sources = ["ringq_uring.c"];

function isStale(): boolean {
  if (!existsSync(shimPath)) return true;
  const built = statSync(shimPath).mtimeMs;
  return readdirSync(ffiDir)
    .filter((f) => /\.(c|h|ts)$/.test(f))
    .some((f) => statSync(join(ffiDir, f)).mtimeMs > built);
}

function findCompiler(): string | null {
  for (const cc of [process.env.CC, "cc", "gcc", "clang"]) {
    if (cc && Bun.which(cc)) return cc;
  }
  return null;
}

/** liburing.a as the compiler sees it; null when liburing-dev is not installed. */
function findLiburing(cc: string): string | null {
  const headers = ["/usr/include/liburing.h", "/usr/local/include/liburing.h"];
  if (!headers.some((h) => existsSync(h))) return null;
  const r = Bun.spawnSync([cc, "-print-file-name=liburing.a"]);
  const path = r.stdout.toString().trim();
  // Unknown files are echoed back bare; a real hit is an absolute path.
  return path.startsWith("/") && existsSync(path) ? path : null;
}

export function buildShim(opts: { ifStale?: boolean; quiet?: boolean } = {}): boolean {
  const log = (s: string) => opts.quiet || console.error(s);
  if (opts.ifStale && !isStale()) return true;
  const cc = findCompiler();
  const liburing = cc ? findLiburing(cc) : null;
  if (!cc || !liburing) {
    console.error(
      `ffi: ${!cc ? "no C compiler" : "liburing-dev not installed"}; io_uring backend disabled, using Bun sockets ` +
        "(enable it with: apt-get install gcc liburing-dev && bun run build:ffi)",
    );
    return false;
  }
  mkdirSync(join(ffiDir, "build"), { recursive: true });
  const tmp = `${shimPath}.${process.pid}.tmp`;
  const args = [
    cc, "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
    "-o", tmp, ...sources.map((s) => join(ffiDir, s)), liburing,
    // -z defs: an unresolved symbol is a build error here, not a dlopen error in production.
    "-Wl,-z,defs", "-Wl,--as-needed",
  ];
  const r = Bun.spawnSync(args, { stderr: "pipe", stdout: "pipe" });
  if (r.exitCode !== 0) {
    console.error(`ffi: building the io_uring shim failed; using Bun sockets\n${r.stderr.toString()}`);
    return false;
  }
  // Rename: a server starting concurrently never dlopens a half-written file.
  Bun.spawnSync(["mv", "-f", tmp, shimPath]);
  log(`ffi: built ${shimPath}`);
  return true;
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  buildShim({ ifStale: argv.includes("--if-stale"), quiet: argv.includes("--quiet") });
  process.exit(0);
}
