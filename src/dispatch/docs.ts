// docs/commands.md, rendered from the registry: every command's summary, an example request
// (examples.ts), request fields (type, bounds, whether required, whether kept raw) and reply fields. `bun scripts/gen-docs.ts`
// writes it; a test fails when the file and the registry disagree. Rendering only: no I/O.

import { Kind, type TSchema } from "@sinclair/typebox";
import { commandExamples } from "./examples.ts";
import type { Registry } from "./registry.ts";

type S = TSchema & Record<string, unknown>;

/** A short type for a table cell. */
export function typeOf(schema: TSchema): string {
  const s = schema as S;
  switch (s[Kind]) {
    case "Integer":
    case "Number": {
      const base = s[Kind] === "Integer" ? "integer" : "number";
      const lo = s.minimum as number | undefined;
      const hi = s.maximum as number | undefined;
      return lo !== undefined && hi !== undefined ? `${base} ${fmt(lo)}..${fmt(hi)}` : lo !== undefined ? `${base} >= ${fmt(lo)}` : base;
    }
    case "String": {
      const max = s.maxLength as number | undefined;
      return max !== undefined ? `string (<= ${max} chars)` : "string";
    }
    case "Boolean": return "boolean";
    case "Null": return "null";
    case "Literal": return JSON.stringify(s.const);
    case "Unknown": return "any";
    case "Array": {
      const max = s.maxItems as number | undefined;
      return `[${typeOf(s.items as TSchema)}]${max !== undefined ? ` (<= ${fmt(max)})` : ""}`;
    }
    case "Union": return (s.anyOf as TSchema[]).map(typeOf).join(" \\| ");
    case "Object": return "object";
    case "Intersect": return "object";
    default: return String(s[Kind] ?? "?");
  }
}

function fmt(n: number): string {
  return String(n);
}

function fieldsTable(schema: TSchema, raw: Set<string>): string[] {
  const props = (schema as S).properties as Record<string, TSchema> | undefined;
  const required = new Set(((schema as S).required as string[] | undefined) ?? []);
  if (props === undefined || Object.keys(props).length === 0) return ["(no fields)"];
  const rows = ["| field | type | required | notes |", "|---|---|---|---|"];
  for (const [name, p] of Object.entries(props)) {
    const notes = [(p as S).description as string | undefined, raw.has(name) ? "kept as sent (raw)" : undefined].filter(Boolean).join("; ");
    rows.push(`| \`${name}\` | ${typeOf(p)} | ${required.has(name) ? "yes" : ""} | ${notes.replace(/\|/g, "\\|")} |`);
  }
  return rows;
}

export function renderCommandDocs(registry: Registry): string {
  const out = [
    "# ringq commands",
    "",
    "Generated from the command registry (`src/dispatch/`) by `npx bun scripts/gen-docs.ts`; a test",
    "fails when this file and the code disagree. The wire format, framing and semantics are in",
    "[protocol.md](protocol.md). Every request may carry a `reqId` (echoed in the reply); every",
    "error reply is `{ok: false, error, code}` with a code from `src/errors.ts`.",
    "",
    registry.names.map((n) => `[${n}](#${n.toLowerCase()})`).join(" · "),
    "",
  ];
  for (const c of registry.all) {
    // Top-level payload fields; nested ones (jobs[].data) are listed in the line above the table.
    const raw = new Set(c.rawSpec?.paths().filter((p) => !/[.[]/.test(p)) ?? []);
    out.push(`## ${c.name}`, "", c.summary + (c.open ? " Allowed before AUTH." : ""), "");
    if (c.rawSpec !== undefined) out.push(`Payload fields (kept as the bytes sent): ${c.rawSpec.paths().map((p) => `\`${p}\``).join(", ")}.`, "");
    const example = commandExamples[c.name];
    if (example !== undefined) out.push("Example:", "", "```json", JSON.stringify({ cmd: c.name, ...example }), "```", "");
    out.push("Request:", "", ...fieldsTable(c.schema, raw), "", "Reply:", "", ...fieldsTable(c.reply, new Set()), "");
  }
  return out.join("\n");
}
