// The command registry: each command declared ONCE (name, summary, request schema, which fields
// stay raw MessagePack, whether it is open before AUTH, handler, reply shape). Decoding reads its
// raw specs, dispatch its validators and auth flags, HELLO its names, docs/commands.md and the
// HTTP API its schemas. Load-time assertions: names unique and upper case, every command has a
// schema, every raw field is declared in the schema. Handlers throw ClientError for refusals.

import type { Static, TObject, TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { ClientError, errorReply } from "../errors.ts";
import { hasNull, invalidPayload, RawSpec, type RawTree } from "../protocol/decode.ts";
import { compileStrip, type Strip } from "./absent.ts";
import type { Ctx, HandlerResult } from "./context.ts";

export interface CommandDef<S extends TObject = TObject> {
  readonly name: string;
  /** One line for docs and OpenAPI. */
  readonly summary: string;
  readonly schema: S;
  /** Payload fields, kept as the MessagePack bytes they arrived in. */
  readonly raw?: RawTree;
  /** Allowed before AUTH when AUTH_TOKENS is set. */
  readonly open?: boolean;
  /** The success reply (errors are always { ok: false, error, code }). */
  readonly reply: TSchema;
  readonly handler: (ctx: Ctx, request: Static<S>) => HandlerResult;
}

/** Declares a command; the type ties the handler's request to the schema. */
export function defineCommand<S extends TObject>(def: CommandDef<S>): CommandDef {
  return def as unknown as CommandDef;
}

export interface Command extends CommandDef {
  readonly check: TypeCheck<TObject>;
  readonly rawSpec: RawSpec | undefined;
  /** Deletes the optional fields sent as null (absent.ts). */
  readonly stripNulls: Strip;
}

export class Registry {
  private readonly byName = new Map<string, Command>();

  constructor(defs: readonly CommandDef[]) {
    for (const def of defs) {
      if (!/^[A-Z]+$/.test(def.name)) throw new Error(`registry: command name '${def.name}' must be upper case letters only`);
      if (this.byName.has(def.name)) throw new Error(`registry: command ${def.name} declared twice`);
      if (def.schema === undefined || def.schema.type !== "object") throw new Error(`registry: command ${def.name} has no object schema`);
      if (def.reply === undefined) throw new Error(`registry: command ${def.name} has no reply schema`);
      const rawSpec = def.raw === undefined ? undefined : RawSpec.compile(def.raw);
      if (def.raw !== undefined) checkRawDeclared(def.name, def.raw, def.schema, new Set());
      this.byName.set(def.name, { ...def, check: TypeCompiler.Compile(def.schema), rawSpec, stripNulls: compileStrip(def.schema) });
    }
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get all(): Iterable<Command> {
    return this.byName.values();
  }

  get(name: string): Command | undefined {
    return this.byName.get(name);
  }

  /** For the decoders: where this command keeps payloads raw. */
  readonly rawSpecOf = (cmd: string): RawSpec | undefined => this.byName.get(cmd)?.rawSpec;

  /**
   * Checks the envelope, auth and the schema, runs the handler and turns client errors into
   * error replies. Programmer errors are not caught here: the caller logs them as INTERNAL.
   */
  dispatch(ctx: Ctx, body: unknown): HandlerResult {
    try {
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new ClientError("INVALID", "Invalid request: expected an object with a 'cmd' field");
      }
      const cmd = (body as { cmd?: unknown }).cmd;
      if (typeof cmd !== "string") throw new ClientError("INVALID", "Invalid request: field 'cmd' must be a string");
      const c = this.byName.get(cmd);
      if (!ctx.session.authed && !(c !== undefined && c.open === true)) {
        throw new ClientError("AUTH_REQUIRED", "Authentication required: send AUTH with a token first");
      }
      if (c === undefined) throw new ClientError("UNKNOWN_COMMAND", `Unknown command: ${cmd.slice(0, 64)}`);
      const invalid = validateRequest(c, body);
      if (invalid !== null) throw new ClientError("INVALID", invalid);
      return c.handler(ctx, body as never);
    } catch (e) {
      if (e instanceof ClientError) return errorReply(e.code, e.message);
      throw e;
    }
  }
}

/** What dispatch checks before a handler runs: nulls stripped from optional fields, the schema,
 *  the payloads. Returns null when the request is valid, else the error naming the field. */
export function validateRequest(c: Command, body: object): string | null {
  if ((body as Record<symbol, unknown>)[hasNull] === true) c.stripNulls(body);
  return validationError(c, body) ?? (c.rawSpec !== undefined && invalidPayloadIn(body) ? describeInvalidPayload(c, body, c.rawSpec) : null);
}

/** null if valid, else a message naming the first offending field. */
function validationError(c: Command, body: unknown): string | null {
  if (c.check.Check(body)) return null;
  const first = c.check.Errors(body).First();
  if (first === undefined) return `Invalid ${c.name} request`;
  const field = first.path.replace(/^\//, "").replace(/\//g, ".") || "(request)";
  return `Invalid ${c.name} request: field '${field}': ${first.message}`;
}

const invalidPayloadIn = (body: unknown): boolean => (body as Record<symbol, unknown>)[invalidPayload] === true;

/** The first payload the decoder found unfit to keep (ext types, nesting), named by its path. */
function describeInvalidPayload(c: Command, body: unknown, spec: RawSpec): string | null {
  const bad = spec.firstInvalid(body);
  return bad === null ? null : `Invalid ${c.name} request: field '${bad.path}': ${bad.reason}`;
}

/** Every raw field must be a property of the schema at that place (an undeclared one would be
 *  decoded as bytes no handler reads). */
function checkRawDeclared(cmd: string, tree: RawTree, schema: TSchema, seen: Set<RawTree>): void {
  if (seen.has(tree)) return;
  seen.add(tree);
  const props = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  for (const [name, node] of Object.entries(tree)) {
    const prop = props[name];
    if (prop === undefined) throw new Error(`registry: ${cmd} keeps '${name}' raw but its schema has no such field`);
    if (node === true || node === "borrowed") continue;
    if (Array.isArray(node)) {
      const items = (prop as { items?: TSchema }).items;
      if (items === undefined) throw new Error(`registry: ${cmd} field '${name}' is raw per item but not an array`);
      checkRawDeclared(cmd, node[0]!, items, seen);
    } else {
      checkRawDeclared(cmd, node as RawTree, prop, seen);
    }
  }
}
