// The generated part of docs/http.md: every route (resource routes from routes.ts, the others
// from openapi.ts) and the HTTP status of every error code (status.ts). `npx bun
// scripts/gen-http-docs.ts` rewrites it between its markers; a test fails when it is stale.

import { registry } from "../dispatch/commands.ts";
import { otherRoutes } from "./openapi.ts";
import { commandRoutes } from "./routes.ts";
import { statusOfCode } from "./status.ts";

export const routesStart = "<!-- generated: routes (npx bun scripts/gen-http-docs.ts) -->";
export const routesEnd = "<!-- end of generated routes -->";

export function renderRouteDocs(): string {
  const out = [routesStart, "", "| route | command | fields from the query string |", "|---|---|---|"];
  for (const r of commandRoutes) {
    const c = registry.get(r.cmd)!;
    const props = Object.keys((c.schema as { properties?: Record<string, unknown> }).properties ?? {});
    const inPath = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => r.params?.[m[1]!] ?? m[1]!);
    const query = r.method === "GET" || r.method === "DELETE" ? props.filter((p) => !inPath.includes(p) && !(r.derived ?? []).includes(p)) : (r.query ?? []);
    out.push(`| \`${r.method} ${r.path}\` | [${r.cmd}](commands.md#${r.cmd.toLowerCase()}) | ${query.map((q) => `\`${q}\``).join(", ")} |`);
  }
  out.push(`| \`POST /commands/:name\` | any of the ${registry.names.length} commands, by name | (none: the JSON body) |`);
  out.push("", "| route | what it is | token |", "|---|---|---|");
  for (const r of otherRoutes) out.push(`| \`${r.method} ${r.path}\` | ${r.summary.replace(/\|/g, "\\|")} | ${r.open ? "no" : r.query?.token ? "header or `?token=`" : "yes"} |`);
  out.push("", "| error code | HTTP status |", "|---|---|");
  for (const [code, status] of Object.entries(statusOfCode)) out.push(`| \`${code}\` | ${status} |`);
  out.push("", routesEnd);
  return out.join("\n");
}
