// Writes docs/commands.md from the command registry. Run after adding or changing a command:
//   npx bun scripts/gen-docs.ts        (--check: exit 1 if the file is out of date, write nothing)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { registry } from "../src/dispatch/commands.ts";
import { renderCommandDocs } from "../src/dispatch/docs.ts";

const path = join(import.meta.dir, "..", "docs", "commands.md");
const text = renderCommandDocs(registry);
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current !== text) {
    console.error("docs/commands.md is out of date: run npx bun scripts/gen-docs.ts");
    process.exit(1);
  }
} else {
  writeFileSync(path, text);
  console.log(`wrote ${path} (${registry.names.length} commands)`);
}
