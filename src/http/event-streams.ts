// Live job events over HTTP: GET /events[/:queue] (Server-Sent Events) and /ws[/:queue]
// (WebSocket), with the event set and filters of TCP SUBSCRIBE: the subscription itself is a
// SUBSCRIBE dispatched through the registry (same validation, same EventHub, same message), so
// the three transports cannot drift apart. Each client is bounded (eventStreamBufferedBytesMax):
// a slow one loses events, and the next event it gets carries `dropped: n`.

import { eventStreamHeartbeatMs, httpEventStreamsMax } from "../constants.ts";
import { registry } from "../dispatch/commands.ts";
import { DEFERRED, type Answer, type Ctx, type Reply, type ServerInfo, type Session } from "../dispatch/context.ts";
import type { Engine, EngineEvent } from "../engine/engine.ts";
import { ClientError } from "../errors.ts";
import type { Subscriber } from "../server/events.ts";
import type { HttpHost } from "./host.ts";
import { eventText } from "./event-json.ts";
import { SseChannel } from "./sse.ts";

/** Counters for /metrics. */
export interface StreamCounters {
  eventsSent: number;
  eventsDropped: number;
}

/** The SUBSCRIBE body of an /events or /ws request, or a ClientError naming what is wrong. */
export function subscribeBody(queue: string | undefined, query: URLSearchParams): Record<string, unknown> {
  const body: Record<string, unknown> = { cmd: "SUBSCRIBE", queue: queue ?? "*" };
  for (const [k, v] of query) {
    if (k === "token") continue;
    if (k !== "events") throw new ClientError("INVALID", `Unknown query parameter '${k}' (an event stream takes events=<comma list> and token)`);
    body.events = v === "" ? [] : v.split(",");
  }
  const c = registry.get("SUBSCRIBE")!;
  if (!c.check.Check(body)) {
    const e = c.check.Errors(body).First();
    const field = e?.path.replace(/^\//, "").replace(/\//g, ".") || "(request)";
    throw new ClientError("INVALID", `Invalid event filter: field '${field}': ${e?.message ?? "invalid"}`);
  }
  return body;
}

/** What both stream kinds share: a subscriber the hub pushes to, through a SUBSCRIBE dispatch. */
abstract class StreamCtx implements Ctx, Subscriber {
  readonly session: Session = { authed: true, authFailures: 0, client: null, parked: new Set() };

  constructor(protected readonly streams: EventStreams) {}

  get engine(): Engine {
    return this.streams.host.engine;
  }
  get server(): ServerInfo {
    return this.streams.host.info;
  }

  abstract pushEvent(message: Record<string, unknown>): boolean;
  abstract defer(): Answer;
  abstract readonly deliveryBlocked: Ctx["deliveryBlocked"];
  abstract closeAfterReply(): void;

  subscribe(queue: string, events: readonly EngineEvent[] | null): void {
    this.streams.host.events.subscribe(this, queue, events);
  }

  unsubscribe(queue: string | null): number {
    return this.streams.host.events.unsubscribe(this, queue);
  }

  revoke(): void {
    this.streams.host.events.unsubscribe(this, null);
    const parked = [...this.session.parked];
    this.session.parked.clear();
    for (const p of parked) {
      p.cancel();
      p.answer({ ok: false, error: "Authentication revoked by a failed AUTH: this parked request was cancelled", code: "AUTH_REQUIRED" });
    }
  }

  /** An event as JSON text; null (and logged) if it cannot be encoded. */
  protected eventJson(message: Record<string, unknown>): string | null {
    try {
      return eventText(message);
    } catch (e) {
      this.streams.host.internalError("an event message", e);
      return null;
    }
  }

  dispose(): void {
    this.streams.host.events.unsubscribe(this, null);
    for (const p of this.session.parked) p.cancel();
    this.session.parked.clear();
  }
}

/** One SSE client. It sends nothing, so it never defers. */
class SseSubscriber extends StreamCtx {
  readonly channel: SseChannel;

  constructor(streams: EventStreams, headers: Record<string, string>) {
    super(streams);
    this.channel = new SseChannel(() => streams.closed(this), headers, `retry: 2000\n: ringq job events (JSON per message; see docs/http.md)\n\n`);
  }

  pushEvent(message: Record<string, unknown>): boolean {
    const json = this.eventJson(message);
    const ok = json !== null && this.channel.send(json);
    this.streams.count(ok);
    return ok;
  }

  defer(): Answer {
    throw new Error("an SSE stream defers nothing");
  }
  readonly deliveryBlocked = (): boolean => false;
  closeAfterReply(): void {
    this.channel.close();
  }
}

/** What a WebSocket session needs of Bun's socket. */
export interface WsSocket {
  send(text: string): number;
  getBufferedAmount(): number;
  close(code?: number, reason?: string): void;
}

export class EventStreams {
  private readonly sse = new Set<SseSubscriber>();
  private readonly ws = new Set<StreamCtx>();
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  readonly counters: StreamCounters = { eventsSent: 0, eventsDropped: 0 };

  constructor(readonly host: HttpHost) {}

  get open(): { sse: number; ws: number } {
    return { sse: this.sse.size, ws: this.ws.size };
  }

  /** Room for one more stream (SSE or WebSocket)? */
  get full(): boolean {
    return this.sse.size + this.ws.size >= httpEventStreamsMax;
  }

  /** Opens an SSE stream subscribed by `body` (from subscribeBody). */
  openSse(body: Record<string, unknown>, headers: Record<string, string>): Response {
    const s = new SseSubscriber(this, headers);
    this.dispatch(s, body);
    this.sse.add(s);
    this.heartbeat ??= setInterval(() => {
      for (const x of this.sse) x.channel.keepAlive();
    }, eventStreamHeartbeatMs);
    return s.channel.response;
  }

  /** Runs a command for a stream's context; a refusal (or a programmer error) throws. */
  dispatch(ctx: StreamCtx, body: Record<string, unknown>): Reply {
    const r = registry.dispatch(ctx, body);
    if (r === DEFERRED) throw new Error(`${String(body.cmd)} deferred on an event stream`);
    if (r.ok === false) throw new ClientError(r.code as never, String(r.error));
    return r;
  }

  addWs(s: StreamCtx): void {
    this.ws.add(s);
  }

  closed(s: StreamCtx): void {
    s.dispose();
    this.sse.delete(s as SseSubscriber);
    this.ws.delete(s);
    if (this.sse.size === 0 && this.heartbeat !== null) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }

  count(sent: boolean): void {
    if (sent) this.counters.eventsSent++;
    else this.counters.eventsDropped++;
  }

  closeAll(): void {
    for (const s of [...this.sse]) s.channel.close();
  }
}

export { StreamCtx };
