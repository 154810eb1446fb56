// One HTTP request as the command registry sees it (the TCP Connection's counterpart): its
// session is authenticated by the HTTP layer before dispatch (Bearer token), a deferred reply
// (a parked PULL, WAITJOB, a bulk DRAIN) resolves the request's promise, and a client that goes
// away cancels what it parked. Subscriptions need a connection that stays open: SSE or WebSocket.

import { httpParkedRequestsMax } from "../constants.ts";
import type { Engine } from "../engine/engine.ts";
import { ClientError, errorReply } from "../errors.ts";
import { DEFERRED, type Answer, type Ctx, type Reply, type ServerInfo, type Session } from "../dispatch/context.ts";
import { registry } from "../dispatch/commands.ts";
import { internalErrorReply } from "../errors.ts";
import type { HttpHost } from "./host.ts";
import { replyJson, replyJsonOrError } from "./json.ts";

/** An encoded reply and its error code (null: success). */
export interface EncodedReply {
  bytes: Uint8Array;
  code: string | null;
}

/** HTTP requests parked now, across clients (bounded by httpParkedRequestsMax). */
let parkedNow = 0;
export const parkedRequests = (): number => parkedNow;

class RequestCtx implements Ctx {
  readonly session: Session = { authed: true, authFailures: 0, client: null, parked: new Set() };
  /** The client went away: answers are refused, parked requests cancelled. */
  gone = false;
  closeConnection = false;
  deferred: Promise<EncodedReply> | null = null;

  constructor(
    private readonly host: HttpHost,
    private readonly shape: ((r: Reply) => Reply) | undefined,
  ) {}

  get engine(): Engine {
    return this.host.engine;
  }
  get server(): ServerInfo {
    return this.host.info;
  }

  defer(): Answer {
    if (this.deferred !== null) throw new Error("an HTTP request deferred twice");
    let resolve!: (r: EncodedReply) => void;
    this.deferred = new Promise((r) => (resolve = r));
    parkedNow++;
    let done = false;
    return (answer: Reply): boolean => {
      const reply = this.shape === undefined ? answer : this.shape(answer);
      if (done) {
        if (this.gone) return false;
        throw new Error("deferred reply answered twice");
      }
      if (this.gone) {
        done = true;
        parkedNow--;
        return false;
      }
      let bytes: Uint8Array | null;
      try {
        bytes = replyJson(reply);
      } catch (e) {
        this.host.internalError("an HTTP reply", e);
        bytes = replyJson(internalErrorReply)!;
      }
      // Too large for one reply: the caller answers again with less (PULLB halves its batch).
      if (bytes === null) return false;
      done = true;
      parkedNow--;
      const code = reply.ok === false ? String(reply.code) : null;
      const commit = this.host.committed();
      if (commit === null) resolve({ bytes, code });
      else commit.then(() => resolve({ bytes, code }));
      return true;
    };
  }

  readonly deliveryBlocked = (): boolean => false;

  subscribe(): void {
    throw new ClientError("INVALID", "SUBSCRIBE needs a connection that stays open: use GET /events/<queue> (Server-Sent Events) or the WebSocket /ws/<queue>");
  }

  unsubscribe(): number {
    throw new ClientError("INVALID", "UNSUBSCRIBE needs a connection that stays open: close the /events or /ws connection instead");
  }

  revoke(): void {
    const parked = [...this.session.parked];
    this.session.parked.clear();
    for (const p of parked) {
      p.cancel();
      p.answer(errorReply("AUTH_REQUIRED", "Authentication revoked by a failed AUTH: this parked request was cancelled"));
    }
  }

  closeAfterReply(): void {
    this.closeConnection = true;
  }

  /** The client closed the request: forget what it parked. */
  abandon(): void {
    this.gone = true;
    for (const p of this.session.parked) p.cancel();
    this.session.parked.clear();
  }
}

export interface Execution {
  reply: EncodedReply;
  closeConnection: boolean;
}

/**
 * Runs one command body through the registry (the same dispatch TCP uses) and resolves with
 * its encoded reply once it may go out: after the commit under DURABILITY=sync, after the
 * parked request is answered for PULL/WAITJOB. `signal` aborts when the client goes away.
 */
export async function execute(
  host: HttpHost,
  body: Record<string, unknown>,
  signal: () => AbortSignal | null,
  onDeferred: () => void,
  shape?: (reply: Reply) => Reply,
): Promise<Execution> {
  if (parkedNow >= httpParkedRequestsMax) {
    return { reply: errorEncoded("BUSY", `Too many HTTP requests waiting (limit ${httpParkedRequestsMax}); retry later`), closeConnection: false };
  }
  const ctx = new RequestCtx(host, shape);
  let result;
  try {
    result = registry.dispatch(ctx, body);
  } catch (e) {
    host.internalError(`HTTP ${String(body.cmd)}`, e);
    result = internalErrorReply;
  }
  host.wake();
  if (result === DEFERRED) {
    onDeferred();
    const abandon = () => {
      ctx.abandon();
      host.wake();
    };
    const sig = signal();
    if (sig?.aborted) abandon();
    sig?.addEventListener("abort", abandon, { once: true });
    try {
      return { reply: await ctx.deferred!, closeConnection: ctx.closeConnection };
    } finally {
      sig?.removeEventListener("abort", abandon);
    }
  }
  if (shape !== undefined) result = shape(result);
  const reply = replyJsonOrError(result, (e) => host.internalError(`HTTP ${String(body.cmd)} reply`, e));
  const commit = host.committed();
  if (commit !== null) await commit;
  return { reply, closeConnection: ctx.closeConnection };
}

export function errorEncoded(code: string, message: string): EncodedReply {
  return { bytes: new TextEncoder().encode(JSON.stringify({ ok: false, error: message, code })), code };
}
