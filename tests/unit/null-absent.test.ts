// "null means absent", for every command the registry declares: an optional field sent as null
// (flashQ's clients send unset options as nil) is treated as not given, at the top level and in
// nested objects and arrays of objects; a required field sent as null is refused naming it. The
// requests are built from each command's own schema, so a new command is covered as it is added.
// Over a real socket in both framings: tests/protocol/null-absent.test.ts.

import { describe, expect, test } from "bun:test";
import { Kind, OptionalKind, type TSchema } from "@sinclair/typebox";
import { registry } from "../../src/dispatch/commands.ts";
import { validateRequest } from "../../src/dispatch/registry.ts";
import { hasNull } from "../../src/protocol/decode.ts";

/** A minimal valid value of a schema: required fields only, arrays of objects with one item. */
function sample(s: TSchema): unknown {
  switch (s[Kind]) {
    case "Integer":
    case "Number": {
      const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1);
      return s.maximum !== undefined ? Math.min(Math.max(lo, 1), s.maximum) : Math.max(lo, 1);
    }
    case "String": {
      const v = "a".repeat(Math.max(1, s.minLength ?? 1));
      if (s.pattern !== undefined && !new RegExp(s.pattern).test(v)) throw new Error(`no sample for pattern ${s.pattern}`);
      return v;
    }
    case "Boolean": return true;
    case "Literal": return s.const;
    case "Union": return sample((s.anyOf as TSchema[]).find((m) => m[Kind] !== "Null")!);
    case "Array": {
      const item = s.items as TSchema;
      return item[Kind] === "Object" || (s.minItems ?? 0) > 0 ? [sample(item)] : [];
    }
    case "Object": {
      const o: Record<string, unknown> = {};
      for (const [k, p] of Object.entries(s.properties as Record<string, TSchema>)) if (p[OptionalKind] !== "Optional") o[k] = sample(p);
      return o;
    }
    case "Null": return null;
    default: return 1; // Unknown / Any: a payload
  }
}

const acceptsNull = (s: TSchema): boolean =>
  s[Kind] === "Null" || s[Kind] === "Unknown" || (s[Kind] === "Union" && (s.anyOf as TSchema[]).some(acceptsNull));

/** Every field path of an object schema: [path, schema, optional], one level into arrays of objects. */
function fields(s: TSchema, prefix: (string | number)[] = [], depth = 0): [(string | number)[], TSchema, boolean][] {
  const out: [(string | number)[], TSchema, boolean][] = [];
  if (s[Kind] !== "Object" || depth > 2) return out;
  for (const [k, p] of Object.entries(s.properties as Record<string, TSchema>)) {
    const path = [...prefix, k];
    out.push([path, p, p[OptionalKind] === "Optional"]);
    if (p[Kind] === "Array" && (p.items as TSchema)[Kind] === "Object") out.push(...fields(p.items as TSchema, [...path, 0], depth + 1));
    if (p[Kind] === "Object") out.push(...fields(p, path, depth + 1));
  }
  return out;
}

function requestWith(cmd: string, schema: TSchema, path: (string | number)[]): Record<string, unknown> {
  const body = { ...(sample(schema) as Record<string, unknown>), cmd };
  let o: any = body;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    if (o[k] === undefined) {
      const parent = fields(schema).find(([p]) => p.join(".") === path.slice(0, i + 1).join("."))![1];
      o[k] = parent[Kind] === "Array" ? [sample(parent.items as TSchema)] : sample(parent);
    }
    o = o[k];
  }
  o[path[path.length - 1]!] = null;
  (body as Record<symbol, unknown>)[hasNull] = true;
  return body;
}

const get = (o: any, path: (string | number)[]): unknown => path.reduce((v, k) => (v === undefined ? undefined : v[k]), o);

for (const c of registry.all) {
  describe(c.name, () => {
    test("its minimal request is valid (the generator's check)", () => {
      expect(validateRequest(c, { ...(sample(c.schema) as object), cmd: c.name })).toBeNull();
    });
    for (const [path, schema, optional] of fields(c.schema)) {
      const name = path.join(".");
      if (optional && !acceptsNull(schema)) {
        test(`optional ${name}: null is absent`, () => {
          const body = requestWith(c.name, c.schema, path);
          expect(validateRequest(c, body)).toBeNull();
          expect(Object.hasOwn(get(body, path.slice(0, -1)) as object, path[path.length - 1]!)).toBe(false);
        });
      } else if (!optional && !acceptsNull(schema)) {
        test(`required ${name}: null is refused naming it`, () => {
          const body = requestWith(c.name, c.schema, path);
          expect(validateRequest(c, body)).toContain(`field '${name}'`);
        });
      }
    }
  });
}

test("the registry has commands with nested optional fields (the walk reaches them)", () => {
  const nested = [...registry.all].flatMap((c) => fields(c.schema).filter(([p, , opt]) => opt && p.length > 1).map(([p]) => `${c.name}.${p.join(".")}`));
  expect(nested).toContain("PUSHB.jobs.0.delay");
});
