// GET /docs: the OpenAPI document as one readable HTML page (no script, no external assets):
// operations by tag, each with its parameters, body fields and reply fields. Rendered once at
// start from openApiDocument(); every text is escaped.

type Obj = Record<string, unknown>;

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A short type for a table cell (JSON Schema in, text out). */
function typeText(s: Obj | undefined): string {
  if (s === undefined) return "";
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.anyOf)) return (s.anyOf as Obj[]).map(typeText).join(" | ");
  if (Array.isArray(s.allOf)) return "object";
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((e) => JSON.stringify(e)).join(" | ");
  const t = s.type as string | undefined;
  if (t === "array") return `${typeText(s.items as Obj)}[]${s.maxItems !== undefined ? ` (<= ${s.maxItems})` : ""}`;
  if (t === "integer" || t === "number") {
    const lo = s.minimum, hi = s.maximum;
    return `${t}${lo !== undefined && hi !== undefined ? ` ${lo}..${hi}` : lo !== undefined ? ` >= ${lo}` : ""}`;
  }
  if (t === "string") return `string${s.maxLength !== undefined ? ` (<= ${s.maxLength})` : ""}`;
  return t ?? "any";
}

function fieldRows(schema: Obj | undefined): string {
  const props = (schema?.properties ?? {}) as Record<string, Obj>;
  const req = new Set((schema?.required ?? []) as string[]);
  const rows = Object.entries(props).map(([k, v]) => `<tr><td><code>${esc(k)}</code></td><td>${esc(typeText(v))}</td><td>${req.has(k) ? "yes" : ""}</td><td>${esc(v.description ?? "")}</td></tr>`);
  return rows.length === 0 ? "" : `<table><tr><th>field</th><th>type</th><th>required</th><th>notes</th></tr>${rows.join("")}</table>`;
}

export function renderApiPage(doc: Obj): string {
  const paths = doc.paths as Record<string, Record<string, Obj>>;
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags as string[])[0]!;
      const params = (op.parameters as Obj[]).map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${esc(typeText(p.schema as Obj))}</td><td>${p.required ? "yes" : ""}</td></tr>`);
      const body = ((op.requestBody as Obj | undefined)?.content as Record<string, { schema: Obj }> | undefined)?.["application/json"]?.schema;
      const ok = ((op.responses as Record<string, Obj>)["200"]?.content as Record<string, { schema?: Obj }> | undefined) ?? {};
      const [type, reply] = Object.entries(ok)[0] ?? ["", {}];
      const html = [
        `<section id="${esc(op.operationId)}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>`,
        `<p>${esc(op.summary ?? "")}${Array.isArray(op.security) && op.security.length === 0 ? " <em>No token needed.</em>" : ""}</p>`,
        params.length > 0 ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th></tr>${params.join("")}</table>` : "",
        body !== undefined ? `<h4>JSON body</h4>${fieldRows(body)}` : "",
        reply.schema !== undefined && (reply.schema.properties !== undefined) ? `<h4>Reply (${esc(type)})</h4>${fieldRows(reply.schema)}` : type !== "" ? `<h4>Reply</h4><p>${esc(type)}</p>` : "",
        "</section>",
      ].join("");
      byTag.set(tag, [...(byTag.get(tag) ?? []), html]);
    }
  }
  const info = doc.info as Obj;
  const toc = [...byTag.keys()].map((t) => `<a href="#tag-${esc(t)}">${esc(t)}</a>`).join(" · ");
  const sections = [...byTag].map(([t, ops]) => `<h2 id="tag-${esc(t)}">${esc(t)}</h2>${ops.join("")}`).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} ${esc(info.version)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2330}code{font:13px ui-monospace,monospace}
table{border-collapse:collapse;margin:.3em 0 1em}td,th{border:1px solid #d6dae3;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f2f4f8}
section{border-top:1px solid #e3e6ed;padding:.4em 0}h3{margin:.6em 0 .2em;font-size:15px}.m{display:inline-block;min-width:4.5em;font:600 12px ui-monospace,monospace;padding:2px 6px;border-radius:3px;color:#fff;background:#5b6475}
.m.get{background:#2d7d46}.m.post{background:#2b5fb4}.m.put{background:#8a5a00}.m.delete{background:#b3261e}</style></head>
<body><h1>${esc(info.title)} <small>${esc(info.version)}</small></h1><p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). ${toc}</p>${sections}</body></html>`;
}
