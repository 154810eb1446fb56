// Test helper: bundle the client for Node (`bun run build:client` does the same into dist/).
// Builds to a private file and renames it into place, so test runs started at the same time
// never see a half-written bundle. Returns the bundle's path.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "./server.ts";

export const distDir = path.join(repoRoot, "dist");

export function buildClientForNode(): string {
  const out = path.join(distDir, "client", "index.js");
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(
    process.execPath,
    ["build", "src/client/index.ts", "--target=node", "--packages=external", `--outfile=${tmp}`],
    { cwd: repoRoot, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`bun build of the client failed (${r.status}): ${r.stderr}${r.stdout}`);
  fs.renameSync(tmp, out);
  return out;
}
