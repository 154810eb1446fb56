// The container's own pieces that need no container runtime: the image's health check
// (src/health-check.ts: GET /ready, or a PING with HTTP off) against a real server, a dead
// port, a silent listener, a server not ready and a wrong reply, and deploy/seccomp-ringq.json
// allowing exactly io_uring on top of its base profile.
// The image itself is built and run for real by scripts/container-test.sh (.ci/run), not here:
// that needs root and podman, and takes minutes on a cold machine.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../helpers/ports.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const root = join(import.meta.dir, "..", "..");
const healthCheck = join(root, "src", "health-check.ts");

async function check(env: Record<string, string>): Promise<{ code: number; out: string; ms: number }> {
  const t0 = performance.now();
  const proc = Bun.spawn([process.execPath, healthCheck], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, HOST: undefined, TCP_PORT: undefined, HTTP_PORT: undefined, NO_HTTP: undefined, ...env },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out + err, ms: performance.now() - t0 };
}

describe("health check (src/health-check.ts)", () => {
  let server: ServerProcess;
  let httpPort: number;
  beforeAll(async () => {
    // With AUTH_TOKENS: /ready (and PING) must still pass without one, as the image's HEALTHCHECK sends none.
    httpPort = await freePort();
    server = await ServerProcess.start({ env: { AUTH_TOKENS: "hc-secret", HTTP_PORT: String(httpPort) } });
  });
  afterAll(async () => {
    await server.stop();
  });

  test("exits 0 when GET /ready says 200, on a server with AUTH_TOKENS too (/ready needs no token)", async () => {
    const r = await check({ HTTP_PORT: String(httpPort) });
    expect(r.out).toContain(`ready: http://127.0.0.1:${httpPort}/ready`);
    expect(r.code).toBe(0);
  });

  test("a wildcard HOST (the image's 0.0.0.0) is checked through loopback", async () => {
    const r = await check({ HTTP_PORT: String(httpPort), HOST: "0.0.0.0" });
    expect(r.code).toBe(0);
  });

  test("with HTTP off (HTTP_PORT=0 or NO_HTTP=1) it checks the protocol port with a PING", async () => {
    const r = await check({ HTTP_PORT: "0", TCP_PORT: String(server.port) });
    expect(r.out).toContain(`PING answered by 127.0.0.1:${server.port}`);
    expect(r.code).toBe(0);
    const n = await check({ NO_HTTP: "1", TCP_PORT: String(server.port) });
    expect(n.code).toBe(0);
  });

  test("exits 1 with the reason when nothing listens", async () => {
    const r = await check({ HTTP_PORT: String(await freePort()) });
    expect(r.code).toBe(1);
    expect(r.out).toContain("cannot reach http://127.0.0.1:");
    expect(r.out).toContain("ECONNREFUSED");
    const p = await check({ NO_HTTP: "1", TCP_PORT: String(await freePort()) });
    expect(p.code).toBe(1);
    expect(p.out).toContain("ECONNREFUSED");
  });

  test("exits 1 when the server is not ready (503), saying what it answered", async () => {
    const fake = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response('{"ok":false,"ready":false}', { status: 503 }) });
    try {
      const r = await check({ HTTP_PORT: String(fake.port) });
      expect(r.code).toBe(1);
      expect(r.out).toContain("answered 503");
    } finally {
      fake.stop(true);
    }
  });

  test("exits 1 within its 2 s bound when the port accepts but never answers", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const envs: Record<string, string>[] = [{ HTTP_PORT: String(silent.port) }, { NO_HTTP: "1", TCP_PORT: String(silent.port) }];
      for (const env of envs) {
        const r = await check(env);
        expect(r.code).toBe(1);
        expect(r.out).toMatch(/no answer from|no PING reply/);
        expect(r.ms).toBeGreaterThanOrEqual(1900);
        expect(r.ms).toBeLessThan(5000);
      }
    } finally {
      silent.stop(true);
    }
  });

  test('exits 1 on a PING reply without "pong":true, and on a bad port variable', async () => {
    const wrong = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data(s) { s.write('{"ok":false,"error":"nope"}\n'); } },
    });
    try {
      const r = await check({ NO_HTTP: "1", TCP_PORT: String(wrong.port) });
      expect(r.code).toBe(1);
      expect(r.out).toContain('without "pong":true');
    } finally {
      wrong.stop(true);
    }
    const bad = await check({ NO_HTTP: "1", TCP_PORT: "not-a-port" });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("fix TCP_PORT");
    const badHttp = await check({ HTTP_PORT: "99999" });
    expect(badHttp.code).toBe(1);
    expect(badHttp.out).toContain("fix HTTP_PORT");
  });

  test("imports nothing from the rest of src/ (it must survive their moves)", () => {
    const imports = [...readFileSync(healthCheck, "utf8").matchAll(/^import .* from "([^"]+)"/gm)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.every((p) => p!.startsWith("node:"))).toBe(true);
  });
});

describe("deploy/seccomp-ringq.json", () => {
  interface Rule { names: string[]; action: string }
  const profile = JSON.parse(readFileSync(join(root, "deploy", "seccomp-ringq.json"), "utf8")) as {
    defaultAction: string;
    syscalls: Rule[];
  };
  const uring = ["io_uring_setup", "io_uring_enter", "io_uring_register"];

  test("denies by default and allows the three io_uring calls", () => {
    expect(profile.defaultAction).toBe("SCMP_ACT_ERRNO");
    const allowed = new Set(profile.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW").flatMap((r) => r.names));
    for (const n of uring) expect(allowed.has(n)).toBe(true);
  });

  test("no other rule names an io_uring call (one rule, easy to audit and to drop)", () => {
    const naming = profile.syscalls.filter((r) => r.names.some((n) => n.startsWith("io_uring")));
    expect(naming).toHaveLength(1);
    expect([...naming[0]!.names].sort()).toEqual([...uring].sort());
  });

  test("keeps the base profile's rules (a real default profile, not an allow-list of a few)", () => {
    const allowed = profile.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW").flatMap((r) => r.names);
    for (const n of ["read", "write", "epoll_wait", "accept4", "futex", "mmap"]) expect(allowed).toContain(n);
    expect(allowed).not.toContain("kexec_load");
    expect(allowed.length).toBeGreaterThan(300);
  });
});
