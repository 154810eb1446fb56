// Test helper: the client as a Node user gets it. `npm pack` of this repository (its prepack
// builds dist/client with tsc: JavaScript and .d.ts), installed from the tarball into an empty
// Node project under /tmp, outside this repository so nothing resolves from its node_modules,
// with @types/node for the type check. No Bun in that project. The project directory is kept
// between runs (its dependencies then install from npm's cache); the tarball is made anew once
// per test process.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "./server.ts";

/** @types/node of the Node major the client is for (README: Node 20). */
const typesNode = "20.19.43";
const projectDir = path.join(os.tmpdir(), `ringq-node-test-${createHash("sha1").update(repoRoot).digest("hex").slice(0, 10)}`);

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

let made: string | null = null;

/** The consumer project with this tree's package installed; made once per test process. */
export function packedProject(): string {
  if (made !== null) return made;
  fs.mkdirSync(projectDir, { recursive: true });
  const packDir = fs.mkdtempSync(path.join(projectDir, "pack-"));
  try {
    run("npm", ["pack", "--pack-destination", packDir, "--loglevel=error"], repoRoot);
    const tarball = fs.readdirSync(packDir).find((f) => f.endsWith(".tgz"));
    if (tarball === undefined) throw new Error(`npm pack wrote no tarball into ${packDir}`);
    const kept = path.join(projectDir, "ringq.tgz");
    fs.renameSync(path.join(packDir, tarball), kept);
    // A fresh manifest and no lock: the tarball at this path changes from run to run.
    fs.writeFileSync(path.join(projectDir, "package.json"), JSON.stringify({
      name: "ringq-node-consumer",
      private: true,
      type: "module",
      dependencies: { ringq: "file:ringq.tgz", "@types/node": typesNode },
    }, null, 2));
    fs.rmSync(path.join(projectDir, "package-lock.json"), { force: true });
    fs.rmSync(path.join(projectDir, "node_modules", "ringq"), { recursive: true, force: true });
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], projectDir);
  } finally {
    fs.rmSync(packDir, { recursive: true, force: true });
  }
  made = projectDir;
  return made;
}

/** The repository's tsc (a devDependency), run with node on a consumer project's tsconfig. */
export function tsc(project: string, config: string): { status: number | null; out: string } {
  const bin = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync("node", [bin, "-p", config], { cwd: project, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
