// One WebSocket (/ws, /ws/:queue): job events as on an SSE stream, and the whole protocol as
// JSON text messages, as on a text-mode TCP connection ({"cmd":"PUSH",...,"reqId":"a1"}): the
// same registry, SUBSCRIBE/UNSUBSCRIBE included. Replies carry the request's reqId; a deferred
// one (PULL, WAITJOB) comes when it is ready, so a client that pipelines should send reqIds.
// Bounded like a TCP connection: requests in flight, and output owed before events are dropped
// and parked pulls wait.

import {
  eventStreamBufferedBytesMax,
  outputBytesHighWater,
  subscriptionsPerConnectionMax,
  wsRequestsInFlightMax,
} from "../constants.ts";
import { registry } from "../dispatch/commands.ts";
import { BAD_REQ_ID, badReqIdMessage, DEFERRED, reqIdOf, type Answer, type Reply } from "../dispatch/context.ts";
import type { EngineEvent } from "../engine/engine.ts";
import { ClientError, errorReply, internalErrorReply } from "../errors.ts";
import { rawifyJsonRequest } from "../protocol/decode.ts";
import { StreamCtx, type EventStreams, type WsSocket } from "./event-streams.ts";
import { replyJson } from "./json.ts";

const decoder = new TextDecoder();

export class WsSession extends StreamCtx {
  private inFlight = 0;
  /** The socket is gone: nothing more is written. */
  private closed = false;
  /** Close once the next reply is out (three failed AUTHs). */
  private closeAfterSend = false;
  /** reqId of the message being dispatched (read by defer()). */
  private reqId: unknown = undefined;

  constructor(
    streams: EventStreams,
    private readonly ws: WsSocket,
  ) {
    super(streams);
  }

  pushEvent(message: Record<string, unknown>): boolean {
    if (this.closed || this.ws.getBufferedAmount() > eventStreamBufferedBytesMax) {
      this.streams.count(false);
      return false;
    }
    const json = this.eventJson(message);
    const ok = json !== null && this.ws.send(json) !== 0;
    this.streams.count(ok);
    return ok;
  }

  readonly deliveryBlocked = (): boolean => this.ws.getBufferedAmount() > outputBytesHighWater;

  subscribe(queue: string, events: readonly EngineEvent[] | null): void {
    if (this.streams.host.events.subscriptions(this) >= subscriptionsPerConnectionMax) {
      throw new ClientError("LIMIT", `Too many subscriptions on this WebSocket (limit ${subscriptionsPerConnectionMax}); use queue "*"`);
    }
    super.subscribe(queue, events);
  }

  closeAfterReply(): void {
    this.closeAfterSend = true;
  }

  /** One text message: a JSON request. */
  onMessage(text: string): void {
    let body: unknown;
    try {
      body = rawifyJsonRequest(JSON.parse(text), registry.rawSpecOf);
    } catch {
      return this.reply(undefined, errorReply("BAD_FRAME", "Malformed JSON message: send one JSON object per message"));
    }
    const reqId = reqIdOf(body);
    if (reqId === BAD_REQ_ID) return this.reply(undefined, errorReply("INVALID", badReqIdMessage));
    if (this.inFlight >= wsRequestsInFlightMax) {
      return this.reply(reqId, errorReply("BUSY", `Too many requests in flight on this WebSocket (limit ${wsRequestsInFlightMax})`));
    }
    this.reqId = reqId;
    let result;
    try {
      result = registry.dispatch(this, body);
    } catch (e) {
      this.streams.host.internalError("a WebSocket request", e);
      result = internalErrorReply;
    }
    this.streams.host.wake();
    if (result !== DEFERRED) this.reply(reqId, result);
  }

  defer(): Answer {
    const reqId = this.reqId;
    this.inFlight++;
    let done = false;
    return (reply) => {
      if (done) {
        if (this.closed) return false;
        throw new Error("deferred reply answered twice");
      }
      if (this.closed) {
        done = true;
        this.inFlight--;
        return false;
      }
      const text = this.encode(reqId, reply);
      if (text === null) return false;
      done = true;
      this.inFlight--;
      this.afterCommit(() => this.write(text));
      return true;
    };
  }

  /** An immediate reply; one over the frame limit becomes TOO_LARGE. */
  private reply(reqId: unknown, reply: Reply): void {
    const text = this.encode(reqId, reply) ?? this.encode(reqId, errorReply("TOO_LARGE", "Reply too large: it would exceed the frame limit; ask for fewer items"))!;
    this.afterCommit(() => this.write(text));
  }

  /** Under DURABILITY=sync a reply goes out after the commit of what it reports, as on TCP. */
  private afterCommit(f: () => void): void {
    const commit = this.streams.host.committed();
    if (commit === null) f();
    else commit.then(f);
  }

  private encode(reqId: unknown, reply: Reply): string | null {
    try {
      const bytes = replyJson(reqId === undefined ? reply : { reqId, ...reply });
      return bytes === null ? null : decoder.decode(bytes);
    } catch (e) {
      this.streams.host.internalError("a WebSocket reply", e);
      return JSON.stringify(reqId === undefined ? internalErrorReply : { reqId, ...internalErrorReply });
    }
  }

  private write(text: string): void {
    if (this.closed) return;
    this.ws.send(text);
    if (this.closeAfterSend) this.ws.close(1008, "too many failed AUTH attempts");
  }

  /** The socket closed: parked requests are cancelled, subscriptions end. */
  onClose(): void {
    this.closed = true;
    this.streams.closed(this);
  }
}
