// Backend selection as an operator meets it (docs/architecture.md, I/O): RINGQ_IO=bun is honoured
// without talk of io_uring; RINGQ_IO=auto without a usable shim serves on Bun sockets and its
// start-up line says why and what to do; RINGQ_IO=uring without one refuses to start, saying
// why. RINGQ_URING_SHIM points ringq at a shim path, which is how these tests break it on purpose.
// And the other way round: where the kernel takes io_uring and the shim is built, auto uses it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeKernelUring } from "../helpers/backends.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

// tests/helpers/deny-uring.c makes io_uring_* fail with EPERM, as Docker's default seccomp
// profile does; it needs a C compiler to build.
const cc = [process.env.CC, "cc", "gcc", "clang"].find((c) => c !== undefined && c !== "" && Bun.which(c) !== null);
if (cc === undefined) console.warn("[conformance/fallback] SKIP the seccomp (Docker-like) tests: no C compiler");

let dir: string;
let missingShim: string;
let garbageShim: string;
let denyUring: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ringq-fallback-"));
  missingShim = join(dir, "no-such-dir", "libringq_uring.so");
  garbageShim = join(dir, "libringq_uring.so");
  writeFileSync(garbageShim, "this is not an ELF shared object\n");
  denyUring = join(dir, "deny-uring");
  if (cc !== undefined) {
    const r = Bun.spawnSync([cc, "-O2", "-o", denyUring, join(import.meta.dir, "..", "helpers", "deny-uring.c")], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building deny-uring failed: ${r.stderr.toString()}`);
  }
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Serves, reports `bun` in HELLO and STATS, and stops with exit 0. */
async function expectServesOnBun(server: ServerProcess): Promise<void> {
  const c = await RawClient.connect(server.port);
  expect((await c.call({ cmd: "HELLO", protocol_version: 1 })).io_backend).toBe("bun");
  expect((await c.call({ cmd: "STATS" })).io_backend).toBe("bun");
  expect((await c.call({ cmd: "PUSH", queue: "fb", data: 1 })).ok).toBe(true);
  c.close();
  server.signal("SIGTERM");
  expect(await server.exited()).toBe(0);
}

/** The `io_uring unavailable (<reason>); <remedy>` part of a fallback line. */
function fallbackParts(ioLine: string): { reason: string; remedy: string } {
  const m = /^IO backend: bun sockets.*?: io_uring unavailable \((.+)\); (.+)$/.exec(ioLine);
  if (m === null) throw new Error(`not a fallback line with a reason and a remedy: ${ioLine}`);
  return { reason: m[1]!, remedy: m[2]! };
}

describe("backend selection and fallback", () => {
  test("RINGQ_IO=bun: Bun sockets, named as chosen rather than as a fallback", async () => {
    const server = await ServerProcess.start({ io: "bun", env: { RINGQ_URING_SHIM: missingShim } });
    try {
      expect(server.ioLine).toBe("IO backend: bun sockets (epoll): RINGQ_IO=bun");
      expect(server.log).not.toContain("unavailable");
      await expectServesOnBun(server);
    } finally {
      server.kill();
    }
  });

  test("RINGQ_IO=auto with a missing shim falls back to Bun sockets, with the reason and a remedy", async () => {
    const server = await ServerProcess.start({ io: "auto", env: { RINGQ_URING_SHIM: missingShim } });
    try {
      const { reason, remedy } = fallbackParts(server.ioLine);
      expect(reason).toContain(missingShim); // which file, so the operator can look
      expect(remedy.length).toBeGreaterThan(10);
      await expectServesOnBun(server);
    } finally {
      server.kill();
    }
  });

  // With RINGQ_URING_SHIM set, "rebuild" cannot help (the server keeps loading the overridden
  // path): the remedy must name the variable.
  test("a missing RINGQ_URING_SHIM gets a remedy that names the variable, not a rebuild", async () => {
    const server = await ServerProcess.start({ io: "auto", env: { RINGQ_URING_SHIM: missingShim } });
    try {
      expect(fallbackParts(server.ioLine).remedy).toContain("RINGQ_URING_SHIM");
    } finally {
      await server.stop();
    }
  });

  test("RINGQ_IO=auto with a shim that is not a shared library falls back too", async () => {
    const server = await ServerProcess.start({ io: "auto", env: { RINGQ_URING_SHIM: garbageShim } });
    try {
      const { reason } = fallbackParts(server.ioLine);
      expect(reason).toContain(garbageShim);
      await expectServesOnBun(server);
    } finally {
      server.kill();
    }
  });

  test("RINGQ_IO=uring with a missing shim refuses to start: non-zero exit, reason and remedy", async () => {
    const server = ServerProcess.spawn({ io: "uring", env: { RINGQ_URING_SHIM: missingShim } });
    try {
      const code = await server.exited();
      expect(code).not.toBe(0);
      expect(server.log).not.toMatch(/listening on/);
      const msg = server.log.split("\n").find((l) => l.includes("failed to start")) ?? "";
      expect(msg).toContain("RINGQ_IO=uring");
      expect(msg).toMatch(/io_uring (is )?unavailable/);
      expect(msg).toContain(missingShim);
    } finally {
      server.kill();
    }
  });

  test.skipIf(cc === undefined)("under Docker's seccomp default (io_uring_* EPERM), auto falls back, naming EPERM and the seccomp remedy", async () => {
    const server = await ServerProcess.start({ io: "auto", wrap: [denyUring], env: { RINGQ_URING_SHIM: undefined } });
    try {
      const { reason, remedy } = fallbackParts(server.ioLine);
      expect(reason).toContain("EPERM");
      expect(remedy).toContain("seccomp");
      expect(remedy).toContain("README.md");
      // README.md's Docker section quotes this line; keep it the line the server really prints.
      expect(readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8")).toContain(server.ioLine);
      await expectServesOnBun(server);
    } finally {
      server.kill();
    }
  });

  test.skipIf(cc === undefined)("under Docker's seccomp default, RINGQ_IO=uring refuses to start with the EPERM reason", async () => {
    const server = ServerProcess.spawn({ io: "uring", wrap: [denyUring], env: { RINGQ_URING_SHIM: undefined } });
    try {
      expect(await server.exited()).not.toBe(0);
      expect(server.log).not.toMatch(/listening on/);
      const msg = server.log.split("\n").find((l) => l.includes("failed to start")) ?? "";
      expect(msg).toContain("RINGQ_IO=uring");
      expect(msg).toContain("EPERM");
      expect(msg).toContain("seccomp");
    } finally {
      server.kill();
    }
  });

  const kernel = probeKernelUring();
  const shimBuilt = existsSync(join(import.meta.dir, "..", "..", "ffi", "build", "libringq_uring.so"));
  const why = !kernel.ok ? `kernel: ${kernel.detail}` : !shimBuilt ? "shim not built (bun run build:ffi)" : "";
  if (why !== "") console.warn(`[conformance/fallback] SKIP "auto picks io_uring": ${why}`);
  test.skipIf(why !== "")("RINGQ_IO=auto picks io_uring where the kernel takes it and the shim is built", async () => {
    // With the default shim path, whatever the developer's shell exports.
    const server = await ServerProcess.start({ io: "auto", env: { RINGQ_URING_SHIM: undefined, RINGQ_URING_WAKE: undefined } });
    try {
      // A fallback here would be ringq's fault, not the machine's: the kernel just created a
      // ring with the flags ringq requires (see probeKernelUring).
      expect(server.ioLine).toMatch(/^IO backend: io_uring/);
      const c = await RawClient.connect(server.port);
      expect((await c.call({ cmd: "HELLO", protocol_version: 1 })).io_backend).toBe("uring");
      c.close();
    } finally {
      await server.stop();
    }
  });
});
