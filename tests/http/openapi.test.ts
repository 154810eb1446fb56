// The API document: GET /openapi.json is OpenAPI 3.1 generated from the registry's schemas and
// the route tables, so every route the server has is in it (and nothing it lacks), parameters
// match the paths, bodies leave out what the path gives, operation ids are unique, references
// resolve; GET /docs renders every operation for people.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { registry } from "../../src/dispatch/commands.ts";
import { renderRouteDocs } from "../../src/http/route-docs.ts";
import { otherRoutes } from "../../src/http/openapi.ts";
import { commandRoutes } from "../../src/http/routes.ts";
import { call, startHttp, type HttpServer } from "./helpers.ts";

let s: HttpServer;
let doc: any;
beforeAll(async () => {
  s = await startHttp();
  doc = (await call(s.base, "GET", "/openapi.json")).body;
});
afterAll(async () => {
  await s.stop();
});

const oa = (p: string) => p.replace(/:([A-Za-z_]+)/g, "{$1}");

describe("/openapi.json", () => {
  test("is OpenAPI 3.1 with every route of the server, and only those", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    const expected = new Set([
      ...commandRoutes.map((r) => `${r.method.toLowerCase()} ${oa(r.path)}`),
      ...registry.names.map((n) => `post /commands/${n}`),
      ...otherRoutes.map((r) => `${r.method.toLowerCase()} ${oa(r.path)}`),
    ]);
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m} ${p}`)));
    expect([...documented].sort()).toEqual([...expected].sort());
  });

  test("every documented route answers (not 404/405), so the document cannot list a route the server lacks", async () => {
    for (const [p, ops] of Object.entries(doc.paths) as [string, Record<string, unknown>][]) {
      if (p.startsWith("/ws")) continue;
      for (const m of Object.keys(ops)) {
        const path = p.replace("{queue}", "oa").replace("{id}", "1").replace("{job_id}", "c").replace("{key}", "k");
        const ac = new AbortController();
        // A route that parks (PULL, WAITJOB) or streams (SSE) exists: it just does not answer yet.
        const timer = setTimeout(() => ac.abort(), 300);
        const r = await fetch(s.base + path, { method: m.toUpperCase(), signal: ac.signal, body: m === "get" || m === "delete" ? undefined : "{}" }).catch(() => null);
        const type = r?.headers.get("content-type") ?? "";
        const body = r !== null && type.includes("json") ? ((await r.json().catch(() => null)) as { error?: string } | null) : null;
        clearTimeout(timer);
        ac.abort();
        const routeMissing = r !== null && (r.status === 405 || (r.status === 404 && String(body?.error).startsWith("No route")));
        expect({ route: `${m} ${p}`, routeMissing }).toEqual({ route: `${m} ${p}`, routeMissing: false });
      }
    }
  });

  test("operation ids are unique, path parameters are declared, references resolve", () => {
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths) as [string, Record<string, any>][]) {
      const inPath = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [m, op] of Object.entries(ops)) {
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        const declared = op.parameters.filter((x: { in: string }) => x.in === "path").map((x: { name: string }) => x.name);
        expect({ op: `${m} ${p}`, declared: declared.sort() }).toEqual({ op: `${m} ${p}`, declared: inPath.sort() });
        expect(op.responses["200"]).toBeDefined();
      }
    }
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) {
      const target = r.slice(8, -1).replace(/^#\//, "").split("/").reduce((o: any, k) => o?.[k], doc);
      expect({ ref: r, found: target !== undefined }).toEqual({ ref: r, found: true });
    }
  });

  test("schemas come from the registry: the body leaves out what the path gives, and keeps the command's bounds", () => {
    const push = doc.paths["/queues/{queue}/jobs"].post;
    const body = push.requestBody.content["application/json"].schema;
    expect(Object.keys(body.properties)).toContain("data");
    expect(Object.keys(body.properties)).not.toContain("queue");
    expect(body.required).toEqual(["data"]);
    expect(push.parameters).toEqual([expect.objectContaining({ name: "queue", in: "path", required: true, schema: expect.objectContaining({ maxLength: 256 }) })]);
    expect(body.properties.max_attempts.maximum).toBe(registry.get("PUSH")!.schema.properties.max_attempts.maximum);
    const list = doc.paths["/queues/{queue}/jobs"].get;
    expect(list.parameters.map((x: { name: string }) => x.name).sort()).toEqual(["desc", "limit", "offset", "queue", "state"]);
    const cmd = doc.paths["/commands/PUSH"].post.requestBody.content["application/json"].schema;
    expect(cmd.required).toEqual(expect.arrayContaining(["queue", "data"]));
    expect(doc.paths["/health"].get.security).toEqual([]);
    expect(doc.components.securitySchemes.bearer.scheme).toBe("bearer");
    expect(doc.paths["/jobs/{id}"].get.responses["404"].description).toContain("NOT_FOUND");
  });
});

describe("/docs", () => {
  test("renders every operation, escaped, without scripts", async () => {
    const r = await call(s.base, "GET", "/docs");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/html");
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(r.text).not.toContain("<script");
    for (const p of Object.keys(doc.paths)) expect(r.text).toContain(`<code>${p}</code>`);
  });
});

describe("docs/http.md", () => {
  const path = join(import.meta.dir, "..", "..", "docs", "http.md");

  test("its generated block is what the route tables render (run npx bun scripts/gen-http-docs.ts after changing a route)", () => {
    expect(readFileSync(path, "utf8")).toContain(renderRouteDocs());
  });

  test("names every metric family a scrape has", async () => {
    const doc = readFileSync(path, "utf8");
    const text = (await call(s.base, "GET", "/metrics")).text;
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(families.length).toBeGreaterThan(30);
    expect(families.filter((f) => !doc.includes(`\`${f}\``))).toEqual([]);
  });
});
