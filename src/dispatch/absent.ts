// "null means absent": flashQ's clients send every unset option as null/nil (`"delay": nil`),
// and flashQ declares those fields optional. One rule, applied by the registry to every command
// before its schema is checked: an optional field whose value is null is deleted, at the top
// level and inside nested objects and arrays of objects (PUSHB `jobs[]`, FLOW `children[]`,
// KVMSET `entries[]`). A field whose schema accepts null keeps it; a required field set to null
// stays and is refused by the schema, naming it. The walk is compiled from each schema once and
// runs only on requests whose decoder saw a null (decode.ts `hasNull`).

import { Kind, OptionalKind, type TSchema } from "@sinclair/typebox";

/** Deletes the null optional fields of a value of this schema, in place. */
export type Strip = (value: unknown) => void;

const noop: Strip = () => {};

function acceptsNull(s: TSchema): boolean {
  const k = s[Kind];
  if (k === "Null" || k === "Unknown" || k === "Any") return true;
  if (k === "Union") return (s.anyOf as TSchema[]).some(acceptsNull);
  return false;
}

/** The object schemas a value of this schema may be (a union's object members merged). */
function objectMembers(s: TSchema): TSchema[] {
  const k = s[Kind];
  if (k === "Object") return [s];
  if (k === "Union") return (s.anyOf as TSchema[]).flatMap(objectMembers);
  if (k === "Intersect") return (s.allOf as TSchema[]).flatMap(objectMembers);
  return [];
}

/** Compiles the strip walk of a schema (memoized per schema node). */
export function compileStrip(schema: TSchema, memo = new Map<TSchema, Strip>()): Strip {
  const known = memo.get(schema);
  if (known !== undefined) return known;
  // A placeholder first, so a schema that contains itself (nested flows) terminates.
  let impl: Strip = noop;
  const self: Strip = (v) => impl(v);
  memo.set(schema, self);

  if (schema[Kind] === "Array") {
    const item = compileStrip(schema.items as TSchema, memo);
    impl = (v) => {
      if (Array.isArray(v)) for (let i = 0; i < v.length; i++) item(v[i]);
    };
    return self;
  }
  const objects = objectMembers(schema);
  if (objects.length === 0) {
    memo.set(schema, noop);
    return noop;
  }
  const optionalNames: string[] = [];
  const nested: [string, Strip][] = [];
  for (const o of objects) {
    for (const [name, prop] of Object.entries((o.properties ?? {}) as Record<string, TSchema>)) {
      if (prop[OptionalKind] === "Optional" && !acceptsNull(prop) && !optionalNames.includes(name)) optionalNames.push(name);
      const inner = compileStrip(prop, memo);
      if (inner !== noop) nested.push([name, inner]);
    }
  }
  if (optionalNames.length === 0 && nested.length === 0) {
    memo.set(schema, noop);
    return noop;
  }
  impl = (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return;
    const o = v as Record<string, unknown>;
    for (let i = 0; i < optionalNames.length; i++) {
      const n = optionalNames[i]!;
      if (o[n] === null && Object.hasOwn(o, n)) delete o[n];
    }
    for (let i = 0; i < nested.length; i++) {
      const [n, strip] = nested[i]!;
      const inner = o[n];
      if (typeof inner === "object" && inner !== null) strip(inner);
    }
  };
  return self;
}
