// The producer/worker example of README.md's "Client" section works as written: the code block
// is cut out of the README, its port replaced by the test server's, and run as a .mjs file
// under Bun (the .ts sources, inside this package) and under Node 20 (in a project with the
// packed tarball installed, node-package.ts), then stopped with SIGTERM.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Queue } from "../../src/client/index.ts";
import { packedProject } from "./node-package.ts";
import { serverPerFile, repoRoot } from "./server.ts";

setDefaultTimeout(180_000); // the Node case may pack and install the package first

function readmeExample(): string {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Client"));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (m === null) throw new Error('README.md: no ```js block in the "Client" section');
  return m[1]!;
}

const hasNode = spawnSync("node", ["--version"]).status === 0;
const server = serverPerFile();

/** Run the example file, wait for its output line, SIGTERM it; resolve with exit code and output. */
async function runExample(runtime: string, file: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(runtime, [file], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    const deadline = Date.now() + 15_000;
    while (!/sent to/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const code = await exited;
    clearTimeout(killer);
    return { code, out, err };
  } finally {
    child.kill("SIGKILL");
  }
}

describe("README client example", () => {
  const runtimes: [string, string, boolean][] = [
    ["bun", process.execPath, true],
    ["node", "node", hasNode],
  ];
  for (const [label, runtime, available] of runtimes) {
    test.skipIf(!available)(`runs as written under ${label}: the job completes and SIGTERM closes cleanly`, async () => {
      const code = readmeExample();
      expect(code).toContain("port: 6789");
      // Bun: inside this package (dist/ is git-ignored), so `import ... from "ringq"` resolves to
      // the sources; Node: in the project where the packed tarball is installed.
      const dir = label === "node" ? packedProject() : path.join(repoRoot, "dist");
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `readme-example-${process.pid}-${label}.mjs`);
      const queueName = `emails`;
      fs.writeFileSync(file, code.replace("port: 6789", `port: ${server.port}`));
      const q = new Queue(queueName, { connection: { port: server.port } });
      try {
        await q.obliterate();
        const r = await runExample(runtime, file);
        expect(r.err).toBe("");
        expect(r.out).toMatch(/^job \d+: sent to ada@example\.com\n$/);
        expect(r.code).toBe(0);
        expect(await q.getJobCounts()).toMatchObject({ completed: 1, waiting: 0, active: 0, failed: 0 });
      } finally {
        await q.close();
        fs.rmSync(file, { force: true });
      }
    });
  }
});
