// One client connection: framing -> decode -> dispatch -> encoded replies in the order the
// protocol promises. Replies to requests with a reqId go out as soon as they exist; replies to
// requests without one keep request order (a parked PULL without reqId holds later ones back).
// Output accumulates in one writer and is handed to the backend once per loop turn.

import {
  outputBytesHighWater,
  requestsInFlightPerConnectionMax,
  reqIdCharsMax,
  subscriptionsPerConnectionMax,
} from "../constants.ts";
import type { Engine, EngineEvent } from "../engine/engine.ts";
import { ClientError, errorReply, internalErrorReply, type ErrorCode } from "../errors.ts";
import { registry } from "../dispatch/commands.ts";
import { DEFERRED, type Ctx, type Reply, type ServerInfo, type Session } from "../dispatch/context.ts";
import { FrameMode, FrameReader, type FrameSink } from "../protocol/framing.ts";
import { decodeMsgpackRequest, rawifyJsonRequest } from "../protocol/decode.ts";
import { ReplyWriter } from "../protocol/writer.ts";
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
    this.session = { authed: owner.info.authTokens === null, parked: new Set() };
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
    let reqId: unknown = undefined;
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
    if (typeof body === "object" && body !== null) {
      const r = (body as { reqId?: unknown }).reqId;
      if ((typeof r === "string" && r.length <= reqIdCharsMax) || (typeof r === "number" && Number.isFinite(r))) reqId = r;
      else if (r !== undefined && r !== null) {
        return this.emit(undefined, errorOf("INVALID", `Invalid field 'reqId': a string of at most ${reqIdCharsMax} chars or a number`));
      }
    }
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

  defer(): (reply: Reply) => void {
    const reqId = this.reqId;
    this.inFlight++;
    let slot: Slot | null = null;
    if (reqId === undefined) {
      slot = { bytes: null };
      this.slots.push(slot);
    }
    let done = false;
    return (reply) => {
      if (done) throw new Error("deferred reply answered twice");
      done = true;
      this.inFlight--;
      if (this.closed) return;
      if (slot === null) this.write(reqId, reply);
      else if (this.slots[0] === slot) {
        // First in line (the usual case): straight into the output, no detached copy.
        this.slots.shift();
        this.write(undefined, reply);
        this.flushSlots();
      } else {
        slot.bytes = this.encodeDetached(reply);
        this.flushSlots();
      }
    };
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

  /** An event frame, outside request order; dropped (false) while the client owes too much. */
  pushEvent(message: Record<string, unknown>): boolean {
    if (this.closed) return false;
    this.queued = this.owner.pendingBytes(this); // fresh: a dropped event marks nothing dirty
    if (this.out.pos + this.backlog > outputBytesHighWater) return false;
    if (this.reader.mode === FrameMode.Text) this.out.line(message);
    else this.out.frame(message);
    this.owner.markDirty(this);
    return true;
  }

  // ---- output ----

  private emit(reqId: unknown, reply: Reply): void {
    if (reqId === undefined && this.slots.length > 0) {
      this.slots.push({ bytes: this.encodeDetached(reply) });
      this.checkPressure();
      return;
    }
    this.write(reqId, reply);
  }

  private write(reqId: unknown, reply: Reply): void {
    encode(this, this.out, reqId, reply);
    this.owner.markDirty(this);
    this.checkPressure();
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

  /** Encodes a reply apart from the output, to be written when its turn in order comes. */
  private encodeDetached(reply: Reply): Uint8Array {
    scratch.reset();
    encode(this, scratch, undefined, reply);
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
    for (const cancel of this.session.parked) cancel();
    this.session.parked.clear();
    this.slots = [];
  }
}

function withReqId(reqId: unknown, reply: Reply): Reply {
  return { reqId, ...reply };
}

/** One reply in the connection's framing; one that fails to encode becomes an INTERNAL error. */
function encode(c: Connection, w: ReplyWriter, reqId: unknown, reply: Reply): void {
  const text = c.reader.mode === FrameMode.Text;
  const r = reqId === undefined ? reply : withReqId(reqId, reply);
  try {
    if (text) w.line(r);
    else w.frame(r);
  } catch (e) {
    c.encodeFailed(e);
    const fallback = reqId === undefined ? internalErrorReply : withReqId(reqId, internalErrorReply);
    if (text) w.line(fallback);
    else w.frame(fallback);
  }
}

const errorOf = (code: ErrorCode, message: string): Reply => errorReply(code, message);

/** Best effort: the reqId of a line that is not valid JSON, so the error can still carry it. */
function reqIdFromText(text: string): string | undefined {
  const m = /"reqId"\s*:\s*"((?:[^"\\]|\\.){0,256})"/.exec(text);
  return m?.[1];
}
