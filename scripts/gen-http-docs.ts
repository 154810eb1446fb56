// Rewrites the generated block of docs/http.md (routes and error statuses) from the route
// tables. Run after adding or changing a route:
//   npx bun scripts/gen-http-docs.ts        (--check: exit 1 if the file is out of date, write nothing)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderRouteDocs, routesEnd, routesStart } from "../src/http/route-docs.ts";

const path = join(import.meta.dir, "..", "docs", "http.md");
const current = readFileSync(path, "utf8");
const a = current.indexOf(routesStart);
const b = current.indexOf(routesEnd);
if (a < 0 || b < a) {
  console.error(`docs/http.md has no generated block (${routesStart} ... ${routesEnd})`);
  process.exit(1);
}
const next = current.slice(0, a) + renderRouteDocs() + current.slice(b + routesEnd.length);
if (process.argv.includes("--check")) {
  if (next !== current) {
    console.error("docs/http.md is out of date: run npx bun scripts/gen-http-docs.ts");
    process.exit(1);
  }
} else {
  writeFileSync(path, next);
  console.log(`wrote the generated block of ${path}`);
}
