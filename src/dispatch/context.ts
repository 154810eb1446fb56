// What a command handler sees: the engine, the session of its connection, server facts, and a
// way to answer later (parked PULL, WAITJOB). Payload fields arrive as Raw MessagePack bytes.
// Handlers are synchronous; a deferred reply is delivered through the function defer() returns.

import { reqIdCharsMax } from "../constants.ts";
import type { Engine, EngineEvent } from "../engine/engine.ts";
import type { PullWaiter } from "../engine/model.ts";

export type Reply = Record<string, unknown>;

/** What reqIdOf returns for a reqId that is there but not one: the request gets badReqIdMessage. */
export const BAD_REQ_ID: unique symbol = Symbol("bad reqId");
export const badReqIdMessage = `Invalid field 'reqId': a string of at most ${reqIdCharsMax} chars or a number`;

/** The request's reqId, echoed in its reply (TCP and WebSocket alike): a string of at most
 *  reqIdCharsMax chars or a finite number; undefined when absent (or null); BAD_REQ_ID else. */
export function reqIdOf(body: unknown): string | number | undefined | typeof BAD_REQ_ID {
  if (typeof body !== "object" || body === null) return undefined;
  const r = (body as { reqId?: unknown }).reqId;
  if ((typeof r === "string" && r.length <= reqIdCharsMax) || (typeof r === "number" && Number.isFinite(r))) return r;
  return r === undefined || r === null ? undefined : BAD_REQ_ID;
}

/** Returned by a handler that will answer later through defer(). */
export const DEFERRED: unique symbol = Symbol("deferred");
export type HandlerResult = Reply | typeof DEFERRED;

export interface Session {
  authed: boolean;
  /** Failed AUTHs on this connection (past authFailuresMax it is closed). */
  authFailures: number;
  /** What the client called itself in HELLO (STATS counts connections by it; logs name it). */
  client: string | null;
  /** Parked requests of this connection: cancelled when it closes, cancelled and answered with
   *  an error when its authentication is revoked. */
  readonly parked: Set<Parked>;
}

export interface ServerInfo {
  version: string;
  ioBackend: string;
  authTokens: ReadonlySet<string> | null;
  /** Every command name (HELLO). */
  commands: readonly string[];
  /** Counters the server keeps about itself (STATS). */
  readonly stats: { internalErrors: number };
  /** Open connections by the client name they gave in HELLO (STATS). */
  clients(): Record<string, number>;
}

/**
 * Delivers a deferred reply. true: written. false: nothing was written, because the reply would
 * exceed the frame limit (answer again with less: an error reply always fits) or because the
 * connection is gone (then every later answer is false too).
 */
export type Answer = (reply: Reply) => boolean;

export interface Ctx {
  readonly engine: Engine;
  readonly session: Session;
  readonly server: ServerInfo;
  /** The reply will be given later through the returned function, which succeeds once. */
  defer(): Answer;
  /** Whether this parked pull of the connection must wait (it owes too much output now). */
  readonly deliveryBlocked: (w: PullWaiter) => boolean;
  /** Starts (or changes) pushing events of a queue ("*": all) to this connection. */
  subscribe(queue: string, events: readonly EngineEvent[] | null): void;
  /** Stops them for one queue, or all when null; returns how many subscriptions ended. */
  unsubscribe(queue: string | null): number;
  /** Ends what the connection set up while authenticated: parked requests and subscriptions. */
  revoke(): void;
  /** The connection is closed once this reply (and those before it) are out; nothing more is read. */
  closeAfterReply(): void;
}

export interface Parked {
  /** Forgets the request in the engine (no answer). */
  cancel(): void;
  /** Answers it (an error) once it was cancelled. */
  answer: Answer;
}

/** Parks a request: registers it with the session and removes it once answered. */
export function park(
  ctx: Ctx,
  start: (answer: Answer) => (() => void) | null,
): typeof DEFERRED {
  const send = ctx.defer();
  let parked: Parked | null = null;
  let answered = false;
  const cancel = start((reply) => {
    const ok = send(reply);
    if (ok) {
      answered = true;
      if (parked !== null) ctx.session.parked.delete(parked);
    }
    return ok;
  });
  if (!answered && cancel !== null) ctx.session.parked.add((parked = { cancel, answer: send }));
  return DEFERRED;
}
