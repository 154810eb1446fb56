// The client under Node 20: bundle it with `bun build --target=node` (as `bun run build:client`
// does), then run a small .mjs under `node` that imports it as "ringq" (package.json exports:
// "bun" -> the .ts sources, "default" -> dist/) against a real server, and check what it printed.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildClientForNode } from "./build.ts";
import { repoRoot, startServer, type TestServer } from "./server.ts";

setDefaultTimeout(30_000);

const node = spawnSync("node", ["--version"], { encoding: "utf8" });
const nodeVersion = node.status === 0 ? node.stdout.trim() : null;

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("Node", () => {
  test("no Bun-only API in src/client", () => {
    for (const file of fs.readdirSync(path.join(repoRoot, "src/client"))) {
      const code = fs.readFileSync(path.join(repoRoot, "src/client", file), "utf8");
      // Comments may mention Bun; code may not use it.
      const withoutComments = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      expect({ file, usesBun: /\bBun\.|from\s+["']bun:|import\(["']bun:/.test(withoutComments) }).toEqual({ file, usesBun: false });
    }
  });

  test.skipIf(nodeVersion === null)("the bundled client pushes, works, counts and closes under node", () => {
    const bundle = buildClientForNode();
    expect(fs.existsSync(bundle)).toBe(true);
    const r = spawnSync("node", [path.join(repoRoot, "tests/client/node-smoke.mjs"), String(server.port)], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(out.runtime).toBe("node");
    expect(out.version).toBe(nodeVersion);
    expect(out.waited).toBe(9);
    expect(out.completed).toBe(49);
    // Sum of i*i for i in 0..49, without 7.
    expect(out.sum).toBe(Array.from({ length: 50 }, (_, i) => i * i).reduce((a, b) => a + b, 0) - 49);
    expect(out.failed).toEqual(["7: seven fails"]);
    expect(out.maxRunning).toBeLessThanOrEqual(4);
    expect(out.counts).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 49, failed: 1 });
    expect(out.validation).toMatch(/^true: PUSH: .*delay/);
    expect(out.eventsTransport).toBe("push");
    expect(out.eventCompleted).toBe(49);
  });
});
