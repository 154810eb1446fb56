// The client as a Node user gets it: `npm pack` (whose prepack builds dist/ and the .d.ts with
// tsc), installed from the tarball into an empty Node project in /tmp (node-package.ts), a
// TypeScript program type-checked against it with tsc, compiled and run under `node` against a
// real server: a Queue, a Worker and QueueEvents doing real work.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { packedProject, tsc } from "./node-package.ts";
import { serverPerFile, repoRoot } from "./server.ts";

// npm pack (tsc) and npm install take several seconds on a cold cache.
setDefaultTimeout(180_000);

const node = spawnSync("node", ["--version"], { encoding: "utf8" });
const nodeVersion = node.status === 0 ? node.stdout.trim() : null;

const server = serverPerFile();

const consumerTsconfig = (files: string[]) => ({
  compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, types: ["node"], outDir: "build" },
  files,
});

describe("Node", () => {
  test("no Bun-only API in src/client", () => {
    for (const file of fs.readdirSync(path.join(repoRoot, "src/client")).filter((f) => f.endsWith(".ts"))) {
      const code = fs.readFileSync(path.join(repoRoot, "src/client", file), "utf8");
      // Comments may mention Bun; code may not use it.
      const withoutComments = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      expect({ file, usesBun: /\bBun\.|from\s+["']bun:|import\(["']bun:/.test(withoutComments) }).toEqual({ file, usesBun: false });
    }
  });

  test.skipIf(nodeVersion === null)("the packed tarball installs into an empty project, type-checks with tsc and runs a Queue and a Worker under node", () => {
    const dir = packedProject();
    const pkg = path.join(dir, "node_modules", "ringq");
    // What the tarball holds: the built client with its types, the sources for Bun, no server.
    for (const f of ["dist/client/index.js", "dist/client/index.d.ts", "dist/client/queue.d.ts", "src/client/index.ts", "docs/migrating-from-bullmq.md"]) {
      expect({ f, there: fs.existsSync(path.join(pkg, f)) }).toEqual({ f, there: true });
    }
    for (const f of ["src/engine", "src/server", "tests", "bench", "node_modules/bun"]) {
      expect({ f, there: fs.existsSync(path.join(pkg, f)) }).toEqual({ f, there: false });
    }

    // The program, type-checked (strict) against the package's .d.ts and compiled, in one tsc
    // run with a file that misuses the types: that file, and only it, must be an error.
    const source = fs.readFileSync(path.join(repoRoot, "tests/client/node-smoke.ts"), "utf8").replace(/^\/\/ @ts-nocheck.*\n/, "");
    fs.writeFileSync(path.join(dir, "app.ts"), source);
    fs.writeFileSync(path.join(dir, "wrong.ts"), 'import { Queue } from "ringq";\nconst id: number = (await new Queue("q").add("n", 1)).id;\nconsole.log(id);\n');
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(consumerTsconfig(["app.ts", "wrong.ts"])));
    fs.rmSync(path.join(dir, "build"), { recursive: true, force: true });
    const checked = tsc(dir, "tsconfig.json");
    expect(checked.out.trim().split("\n")).toEqual(["wrong.ts(2,7): error TS2322: Type 'string' is not assignable to type 'number'."]);
    expect(fs.existsSync(path.join(dir, "build", "app.js"))).toBe(true);

    const r = spawnSync("node", [path.join(dir, "build", "app.js"), String(server.port)], { cwd: dir, encoding: "utf8", timeout: 30_000 });
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
    expect(out.refused).toMatch(/^true: repeat: queue.add does not schedule/);
    expect(out.eventsTransport).toBe("push");
    expect(out.eventCompleted).toBe(49);
  });
});
