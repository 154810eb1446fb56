// One table: command name -> handler. dispatch() checks the envelope, auth and the schema, runs
// the handler and turns client errors into error replies. Programmer errors are not caught
// here: they reach the server, which answers with an internal error and logs them.

import { ClientError } from "../engine/errors.ts";
import { validate } from "../protocol/schemas.ts";
import type { Ctx, HandlerResult } from "./context.ts";
import { errorReply, jobCommands } from "./job-commands.ts";
import { queueCommands } from "./queue-commands.ts";

type AnyHandler = (ctx: Ctx, request: any) => HandlerResult;

export const commands: Readonly<Record<string, AnyHandler>> = { ...jobCommands, ...queueCommands };

/** Commands allowed before AUTH when AUTH_TOKENS is set. */
const openCommands = new Set(["AUTH", "HELLO", "PING"]);

export function dispatch(ctx: Ctx, body: unknown): HandlerResult {
  try {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new ClientError("INVALID", "Invalid request: expected an object with a 'cmd' field");
    }
    const cmd = (body as { cmd?: unknown }).cmd;
    if (typeof cmd !== "string") throw new ClientError("INVALID", "Invalid request: field 'cmd' must be a string");
    if (!ctx.session.authed && !openCommands.has(cmd)) {
      throw new ClientError("AUTH_REQUIRED", "Authentication required: send AUTH with a token first");
    }
    const handler = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
    if (handler === undefined) throw new ClientError("UNKNOWN_COMMAND", `Unknown command: ${cmd.slice(0, 64)}`);
    const invalid = validate(cmd, body);
    if (invalid !== null) throw new ClientError("INVALID", invalid);
    return handler(ctx, body);
  } catch (e) {
    if (e instanceof ClientError) return errorReply(e);
    throw e;
  }
}
