// One client connection: framing -> decode -> dispatch -> encoded replies in the order the
// protocol promises. Replies to requests with a reqId go out as soon as they exist; replies to
// requests without one keep request order (a parked PULL without reqId holds later ones back).
// Output accumulates in one writer and is handed to the backend once per loop turn.

import {
  frameBytesMax,
  outputBytesHighWater,
  requestsInFlightPerConnectionMax,
  subscriptionsPerConnectionMax,
} from "../constants.ts";
import type { Engine, EngineEvent } from "../engine/engine.ts";
import type { PullWaiter, QueueState } from "../engine/model.ts";
import { ClientError, errorReply, internalErrorReply, type ErrorCode } from "../errors.ts";
import { registry } from "../dispatch/commands.ts";
import { BAD_REQ_ID, badReqIdMessage, DEFERRED, reqIdOf, type Answer, type Ctx, type Reply, type ServerInfo, type Session } from "../dispatch/context.ts";
import { FrameMode, FrameReader, type FrameSink } from "../protocol/framing.ts";
import { decodeMsgpackRequest, rawifyJsonRequest, releaseBorrowed } from "../protocol/decode.ts";
import { ReplyTooLarge, ReplyWriter } from "../protocol/writer.ts";
import type { EventHub, Subscriber } from "./events.ts";

const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** A reply slot for an ordered (no reqId) request that has not been answered yet. */
interface Slot {
  bytes: Uint8Array | null;
}

export interface ConnectionOwner {
  engine: Engine;
  events: EventHub;
  /** Bytes the backend still queues for this connection, now. */
  pendingBytes(conn: Connection): number;
  info: ServerInfo;
  markDirty(conn: Connection): void;
  onInternalError(conn: Connection, e: unknown): void;
}

const scratch = new ReplyWriter();

export class Connection implements FrameSink, Ctx, Subscriber {
  readonly reader: FrameReader;
  readonly session: Session;
  readonly out = new ReplyWriter();
  /** Ordered replies waiting for an earlier deferred one. */
  private slots: Slot[] = [];
  inFlight = 0;
  dirty = false;
  closeAfterFlush = false;
  closed = false;
  /** Bytes the backend still held for this connection at the last flush (server.ts sets it). */
  queued = 0;
  /** Bytes of encoded ordered replies waiting in slots. */
  private heldBytes = 0;
  /** Bytes of replies held until an asynchronous commit finishes (server.ts). */
  awaitingCommit = 0;
  /** reqId of the request being dispatched (read by defer()). */
  private reqId: unknown = undefined;

  constructor(
    readonly id: number,
    private readonly owner: ConnectionOwner,
  ) {
    this.reader = new FrameReader(this);
    this.session = { authed: owner.info.authTokens === null, authFailures: 0, client: null, parked: new Set() };
  }

  get engine(): Engine {
    return this.owner.engine;
  }
  get server(): ServerInfo {
    return this.owner.info;
  }

  // ---- FrameSink ----

  onFrame(buf: Uint8Array, offset: number, length: number): void {
    let body: unknown;
    try {
      if (this.reader.mode === FrameMode.Text) {
        const text = textDecoder.decode(buf.subarray(offset, offset + length));
        if (text.trim() === "") return this.emit(undefined, errorOf("INVALID", "Empty line: send one JSON object per line"));
        try {
          body = rawifyJsonRequest(JSON.parse(text), registry.rawSpecOf);
        } catch {
          return this.emit(reqIdFromText(text), errorOf("BAD_FRAME", "Malformed JSON: could not parse the line"));
        }
      } else {
        try {
          body = decodeMsgpackRequest(buf, offset, offset + length, registry.rawSpecOf);
        } catch {
          return this.emit(undefined, errorOf("BAD_FRAME", "Undecodable MessagePack frame: expected one map"));
        }
      }
    } catch {
      return this.emit(undefined, errorOf("BAD_FRAME", "Invalid UTF-8 in line"));
    }
    const reqId = reqIdOf(body);
    if (reqId === BAD_REQ_ID) return this.emit(undefined, errorOf("INVALID", badReqIdMessage));
    if (this.inFlight >= requestsInFlightPerConnectionMax) {
      return this.emit(reqId, errorOf("BUSY", `Too many requests in flight on this connection (limit ${requestsInFlightPerConnectionMax})`));
    }
    this.reqId = reqId;
    let result;
    try {
      result = registry.dispatch(this, body);
    } catch (e) {
      this.owner.onInternalError(this, e);
      result = internalErrorReply;
    } finally {
      releaseBorrowed();
    }
    if (result !== DEFERRED) this.emit(reqId, result);
  }

  onFrameError(message: string, fatal: boolean): void {
    this.emit(undefined, errorOf(fatal ? "TOO_LARGE" : "BAD_FRAME", message));
    if (fatal) {
      this.closeAfterFlush = true;
      this.owner.markDirty(this);
    }
  }

  // ---- Ctx ----

  defer(): Answer {
    const reqId = this.reqId;
    this.inFlight++;
    let slot: Slot | null = null;
    if (reqId === undefined) {
      slot = { bytes: null };
      this.slots.push(slot);
    }
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
      if (slot === null || this.slots[0] === slot) {
        // Straight into the output (first in line: the usual case, no detached copy).
        if (!this.write(slot === null ? reqId : undefined, reply)) return false;
        if (slot !== null) {
          this.slots.shift();
          this.flushSlots();
        }
      } else {
        const bytes = this.encodeDetached(reply);
        if (bytes === null) return false;
        slot.bytes = bytes;
        this.flushSlots();
      }
      done = true;
      this.inFlight--;
      return true;
    };
  }

  /** Whether a parked pull of this connection must wait: while it owes more than the high-water
   *  mark (a client that does not read would otherwise be handed every job and hold them). */
  readonly deliveryBlocked = (w: PullWaiter): boolean => {
    if (this.out.pos + this.backlog <= outputBytesHighWater) return false;
    this.blockedQueues.add(w.queue);
    return true;
  };
  /** Queues whose parked pulls of this connection were passed over; served again once it drains. */
  private readonly blockedQueues = new Set<QueueState>();

  get hasBlockedDeliveries(): boolean {
    return this.blockedQueues.size > 0;
  }

  /** Serves the passed-over pulls again once the output is back under the high-water mark
   *  (the backend's onWritable or the next write to this connection brings us here). */
  resumeDeliveries(): void {
    if (this.blockedQueues.size === 0 || this.closed) return;
    if (this.out.pos + this.backlog > outputBytesHighWater) return;
    const queues = [...this.blockedQueues];
    this.blockedQueues.clear();
    for (const q of queues) this.owner.engine.serveQueue(q);
  }

  subscribe(queue: string, events: readonly EngineEvent[] | null): void {
    const hub = this.owner.events;
    if (hub.subscriptions(this) >= subscriptionsPerConnectionMax) {
      throw new ClientError("LIMIT", `Too many subscriptions on this connection (limit ${subscriptionsPerConnectionMax}); use queue "*"`);
    }
    hub.subscribe(this, queue, events);
  }

  unsubscribe(queue: string | null): number {
    return this.owner.events.unsubscribe(this, queue);
  }

  revoke(): void {
    this.owner.events.unsubscribe(this, null);
    const parked = [...this.session.parked];
    this.session.parked.clear();
    for (const p of parked) {
      p.cancel();
      p.answer(revoked);
    }
  }

  closeAfterReply(): void {
    this.closeAfterFlush = true;
    this.reader.stop();
    this.owner.markDirty(this);
  }

  /** An event frame, outside request order; dropped (false) while the client owes too much. */
  pushEvent(message: Record<string, unknown>): boolean {
    if (this.closed) return false;
    this.queued = this.owner.pendingBytes(this); // fresh: a dropped event marks nothing dirty
    if (this.out.pos + this.backlog > outputBytesHighWater) return false;
    try {
      if (this.reader.mode === FrameMode.Text) this.out.line(message);
      else this.out.frame(message);
    } catch (e) {
      if (!(e instanceof ReplyTooLarge)) this.owner.onInternalError(this, e);
      return false; // counted as dropped, like one the client was too slow for
    }
    this.owner.markDirty(this);
    return true;
  }

  // ---- output ----

  /** An immediate reply; one over the frame limit becomes a TOO_LARGE error. */
  private emit(reqId: unknown, reply: Reply): void {
    if (reqId === undefined && this.slots.length > 0) {
      this.slots.push({ bytes: this.encodeDetached(reply) ?? this.encodeDetached(tooLarge)! });
      this.checkPressure();
      return;
    }
    if (!this.write(reqId, reply)) this.write(reqId, tooLarge);
  }

  /** false: the reply would exceed the frame limit, nothing was written. */
  private write(reqId: unknown, reply: Reply): boolean {
    if (!encode(this, this.out, reqId, reply)) return false;
    this.owner.markDirty(this);
    this.checkPressure();
    return true;
  }

  /** Bytes owed to the client outside this turn's writer: held ordered replies + backend queue. */
  get backlog(): number {
    return this.heldBytes + this.queued + this.awaitingCommit;
  }

  /**
   * Back-pressure per frame: once this connection owes more than the high-water mark (replies
   * of this turn, ordered replies held back, bytes the backend still queues), stop parsing its
   * input. The reader picks up where it stopped when the owed bytes drain (server.ts flush,
   * onWritable), so a client that pipelines and never reads costs at most about high water.
   */
  private checkPressure(): void {
    if (this.out.pos + this.backlog > outputBytesHighWater && !this.reader.paused) {
      this.reader.paused = true;
      this.owner.markDirty(this); // the flush decides when to go on
    }
  }

  /** Encodes a reply apart from the output, to be written when its turn in order comes; null
   *  when it would exceed the frame limit. */
  private encodeDetached(reply: Reply): Uint8Array | null {
    scratch.reset();
    if (!encode(this, scratch, undefined, reply)) return null;
    this.heldBytes += scratch.pos;
    return scratch.buf.slice(0, scratch.pos);
  }

  /** A reply that cannot be encoded was rolled back by the writer: log it, send INTERNAL. */
  encodeFailed(e: unknown): void {
    this.owner.onInternalError(this, e);
  }

  private flushSlots(): void {
    while (this.slots.length > 0 && this.slots[0]!.bytes !== null) {
      const bytes = this.slots.shift()!.bytes!;
      this.heldBytes -= bytes.length;
      this.out.bytes(bytes);
      this.owner.markDirty(this);
    }
  }

  /** The connection is gone: parked requests are released, nothing more is written. */
  dispose(): void {
    this.closed = true;
    this.owner.events.unsubscribe(this, null);
    for (const p of this.session.parked) p.cancel();
    this.session.parked.clear();
    this.slots = [];
  }
}

function withReqId(reqId: unknown, reply: Reply): Reply {
  return { reqId, ...reply };
}

const revoked: Reply = errorReply("AUTH_REQUIRED", "Authentication revoked by a failed AUTH: this parked request was cancelled");

const tooLarge: Reply = errorReply("TOO_LARGE", `Reply too large: it would exceed the frame limit of ${frameBytesMax} bytes; ask for fewer items (limit, count, ids)`);

/**
 * One reply in the connection's framing. false: it would exceed the frame limit (nothing was
 * written). One that fails to encode (a programmer error) becomes an INTERNAL error reply.
 */
function encode(c: Connection, w: ReplyWriter, reqId: unknown, reply: Reply): boolean {
  const text = c.reader.mode === FrameMode.Text;
  const r = reqId === undefined ? reply : withReqId(reqId, reply);
  try {
    if (text) w.line(r);
    else w.frame(r);
    return true;
  } catch (e) {
    if (e instanceof ReplyTooLarge) return false;
    c.encodeFailed(e);
    const fallback = reqId === undefined ? internalErrorReply : withReqId(reqId, internalErrorReply);
    if (text) w.line(fallback);
    else w.frame(fallback);
    return true;
  }
}

const errorOf = (code: ErrorCode, message: string): Reply => errorReply(code, message);

/** Best effort: the reqId of a line that is not valid JSON, so the error can still carry it. */
function reqIdFromText(text: string): string | undefined {
  const m = /"reqId"\s*:\s*"((?:[^"\\]|\\.){0,256})"/.exec(text);
  return m?.[1];
}
