// The Dockerfile, checked without Docker (none on the dev and CI machines) by
// scripts/check-dockerfile.sh: COPY sources exist, the build stage's shim build really runs and
// yields a .so that needs only libc, and the runtime layout starts the server with the image's
// CMD and stops on SIGTERM. Plus proof the check can fail: a broken copy of the Dockerfile.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const script = join(root, "scripts", "check-dockerfile.sh");

async function check(dockerfile?: string): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["bash", script, ...(dockerfile ? [dockerfile] : [])], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, RINGQ_IO: undefined, TCP_PORT: undefined, HOST: undefined },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out + err };
}

// The replay compiles the shim as the build stage does; without liburing-dev or a compiler here
// it cannot (setup.sh installs them where it can).
const cc = ["cc", "gcc", "clang"].find((c) => Bun.which(c) !== null);
const canBuild = cc !== undefined && ["/usr/include/liburing.h", "/usr/local/include/liburing.h"].some((h) => existsSync(h));
if (!canBuild) console.warn("[conformance/dockerfile] SKIP the full check: no C compiler or liburing-dev on this machine");

describe("Dockerfile", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ringq-dockerfile-test-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test.skipIf(!canBuild)("scripts/check-dockerfile.sh passes on the repository's Dockerfile", async () => {
    const { code, out } = await check();
    if (code !== 0) console.error(out);
    expect(out).toContain("shim NEEDED: libc.so.6 ");
    expect(out).toContain("runtime layout starts");
    expect(out).toContain("check-dockerfile: OK");
    expect(code).toBe(0);
  }, 60_000);

  test("it fails on a Dockerfile with a missing COPY source, a missing EXPOSE and a wrong CMD", async () => {
    const broken = readFileSync(join(root, "Dockerfile"), "utf8")
      .replace(/^COPY src src$/m, "COPY srcx src")
      .replace(/^EXPOSE 6789 6790$/m, "EXPOSE 6789")
      .replace(/^CMD .*$/m, 'CMD ["bun", "src/main.ts"]');
    const path = join(dir, "Dockerfile");
    writeFileSync(path, broken);
    const { code, out } = await check(path);
    expect(code).not.toBe(0);
    expect(out).toContain("COPY source 'srcx' does not exist");
    expect(out).toContain("does not EXPOSE 6790");
    expect(out).toContain("CMD should run 'bun run start'");
  });
});
