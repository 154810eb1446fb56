// What a command handler sees: the engine, the session of its connection, server facts, and a
// way to answer later (parked PULL, WAITJOB). Payload fields arrive as Raw MessagePack bytes.
// Handlers are synchronous; a deferred reply is delivered through the function defer() returns.

import type { Engine, EngineEvent } from "../engine/engine.ts";

export type Reply = Record<string, unknown>;

/** Returned by a handler that will answer later through defer(). */
export const DEFERRED: unique symbol = Symbol("deferred");
export type HandlerResult = Reply | typeof DEFERRED;

export interface Session {
  authed: boolean;
  /** Cancels parked requests of this connection; run when it closes. */
  readonly parked: Set<() => void>;
}

export interface ServerInfo {
  version: string;
  ioBackend: string;
  authTokens: ReadonlySet<string> | null;
  /** Every command name (HELLO). */
  commands: readonly string[];
  /** Counters the server keeps about itself (STATS). */
  readonly stats: { internalErrors: number };
}

export interface Ctx {
  readonly engine: Engine;
  readonly session: Session;
  readonly server: ServerInfo;
  /** The reply will be given later, exactly once, through the returned function. */
  defer(): (reply: Reply) => void;
  /** Starts (or changes) pushing events of a queue ("*": all) to this connection. */
  subscribe(queue: string, events: readonly EngineEvent[] | null): void;
  /** Stops them for one queue, or all when null; returns how many subscriptions ended. */
  unsubscribe(queue: string | null): number;
}

/** Parks a request: registers its cancel with the session and removes it once answered. */
export function park(
  ctx: Ctx,
  start: (answer: (reply: Reply) => void) => (() => void) | null,
): typeof DEFERRED {
  const send = ctx.defer();
  let cancel: (() => void) | null = null;
  let answered = false;
  cancel = start((reply) => {
    answered = true;
    if (cancel !== null) ctx.session.parked.delete(cancel);
    send(reply);
  });
  if (!answered && cancel !== null) ctx.session.parked.add(cancel);
  return DEFERRED;
}
