// The dashboard's files: plain ES modules, HTML and CSS from src/http/dashboard/ and uPlot from
// node_modules, read once at start and served from memory with a strict Content-Security-Policy
// (own origin only, no inline script). No build step: the browser loads the modules as they are.
// They hold no data: the page asks for the token and every call it makes carries it.

import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface Asset {
  body: Uint8Array;
  type: string;
}

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

export const dashboardCsp = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot sets element styles from script (sizes, positions), which CSP counts as inline style.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** URL path -> file, for everything the dashboard loads. */
export function loadDashboardAssets(): Map<string, Asset> {
  const dir = join(import.meta.dir, "dashboard");
  const out = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const ext = name.slice(name.lastIndexOf("."));
    const type = types[ext];
    if (type === undefined) continue;
    const body = new Uint8Array(readFileSync(join(dir, name)));
    out.set(name === "index.html" ? "/" : `/ui/${name}`, { body, type });
  }
  const uplotDir = dirname(createRequire(import.meta.url).resolve("uplot/package.json"));
  out.set("/ui/vendor/uPlot.esm.js", { body: new Uint8Array(readFileSync(join(uplotDir, "dist", "uPlot.esm.js"))), type: types[".js"]! });
  out.set("/ui/vendor/uPlot.min.css", { body: new Uint8Array(readFileSync(join(uplotDir, "dist", "uPlot.min.css"))), type: types[".css"]! });
  if (!out.has("/")) throw new Error(`dashboard: no index.html in ${dir}`);
  return out;
}
