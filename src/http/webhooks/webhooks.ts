// Registered webhooks: validated (schema, SSRF guard), kept in memory, persisted as records of
// kind Webhook (the journal's record API; they come back at recovery), and subscribed to the
// EventHub like a SUBSCRIBE connection: each gets exactly the events its queue and event filter
// select, in the same message shape as SSE and TCP, and a delivery it could not queue shows up
// as `dropped: n` in the next one. Sending is delivery.ts.

import { randomBytes } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { webhookSecretCharsMax, webhookUrlCharsMax, webhooksMax } from "../../constants.ts";
import { eventNames, type EngineEvent } from "../../engine/events.ts";
import type { Engine } from "../../engine/engine.ts";
import { RecordKind, type RecordOwner } from "../../engine/records.ts";
import { ClientError } from "../../errors.ts";
import type { EventHub, Subscriber } from "../../server/events.ts";
import { Queue } from "../../dispatch/fields.ts";
import { eventText } from "../event-json.ts";
import { Deliveries, type Target } from "./delivery.ts";
import { checkTarget, parseTarget, TargetRefused } from "./ssrf.ts";

const EventName = Type.Union(eventNames.map((e) => Type.Literal(e)));

export const WebhookCreate = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: webhookUrlCharsMax, description: "http(s) URL that receives a POST per event" }),
    queue: Type.Optional(Type.Union([Queue, Type.Literal("*")], { description: 'a queue, or "*" (default) for every queue' })),
    events: Type.Optional(Type.Array(EventName, { minItems: 1, maxItems: eventNames.length, uniqueItems: true, description: "events to send (default: completed, failed)" })),
    secret: Type.Optional(Type.String({ minLength: 16, maxLength: webhookSecretCharsMax, description: "HMAC-SHA256 key for X-Ringq-Signature (default: a random one, returned once)" })),
  },
  { additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreate>;
const checkCreate = TypeCompiler.Compile(WebhookCreate);

/** The stored form (a record of kind Webhook). */
const Stored = Type.Object({
  url: Type.String(),
  queue: Type.String(),
  events: Type.Array(EventName),
  secret: Type.String(),
  created_at: Type.Number(),
});
type Stored = Static<typeof Stored>;
const checkStored = TypeCompiler.Compile(Stored);

const defaultEvents: EngineEvent[] = ["completed", "failed"];

class Webhook implements Target, Subscriber {
  readonly stats = { delivered: 0, failed: 0, dropped: 0, lastError: null as string | null, lastStatus: null as number | null };
  readonly url: URL;

  constructor(
    readonly id: string,
    readonly stored: Stored,
    private readonly deliveries: Deliveries,
  ) {
    this.url = parseTarget(stored.url);
  }

  get secret(): string {
    return this.stored.secret;
  }

  pushEvent(message: Record<string, unknown>): boolean {
    return this.deliveries.enqueue(this, String(message.event), eventText(message));
  }

  /** The API's view: everything but the secret. */
  view(now: number) {
    const b = this.deliveries.breakerOf(this.url.href);
    return {
      id: this.id,
      url: this.stored.url,
      queue: this.stored.queue,
      events: this.stored.events,
      created_at: this.stored.created_at,
      circuit: b.state(now),
      delivered: this.stats.delivered,
      failed: this.stats.failed,
      dropped: this.stats.dropped,
      last_status: this.stats.lastStatus,
      last_error: this.stats.lastError,
    };
  }
}

export class Webhooks implements RecordOwner {
  readonly kind = RecordKind.Webhook;
  private readonly byId = new Map<string, Webhook>();
  readonly deliveries: Deliveries;
  private live = false;

  constructor(
    private readonly engine: Engine,
    private readonly hub: EventHub,
    private readonly allowPrivate: boolean,
    userAgent: string,
  ) {
    this.deliveries = new Deliveries(allowPrivate, userAgent);
  }

  get size(): number {
    return this.byId.size;
  }

  // ---- RecordOwner ----

  restore(key: string, value: unknown): void {
    if (!checkStored.Check(value)) throw new Error(`webhook record ${key} is not a webhook (${checkStored.Errors(value).First()?.message ?? "?"})`);
    this.byId.set(key, new Webhook(key, value, this.deliveries));
  }

  /** Events flow only once recovery is over (the server calls this too: a store with nothing to
   *  recover may not). Idempotent. */
  recovered(): void {
    if (this.live) return;
    this.live = true;
    for (const w of this.byId.values()) this.hub.subscribe(w, w.stored.queue, w.stored.events);
  }

  // ---- the API ----

  /** Registers a webhook; the reply holds its secret, the only time it is shown. */
  async add(body: unknown): Promise<{ webhook: ReturnType<Webhook["view"]>; secret: string }> {
    if (!checkCreate.Check(body)) {
      const e = checkCreate.Errors(body).First();
      const field = e?.path.replace(/^\//, "").replace(/\//g, ".") || "(request)";
      throw new ClientError("INVALID", `Invalid webhook: field '${field}': ${e?.message ?? "invalid"}`);
    }
    let url: URL;
    try {
      url = parseTarget(body.url);
      await checkTarget(url, this.allowPrivate);
    } catch (e) {
      if (e instanceof TargetRefused) throw new ClientError("INVALID", `Invalid webhook url: ${e.message}`);
      throw e;
    }
    // Checked after the await: another registration may have finished meanwhile.
    if (this.byId.size >= webhooksMax) throw new ClientError("LIMIT", `Too many webhooks (limit ${webhooksMax}); delete one first`);
    const stored: Stored = {
      url: url.href,
      queue: body.queue ?? "*",
      events: body.events ?? defaultEvents,
      secret: body.secret ?? randomBytes(32).toString("hex"),
      created_at: this.engine.now(),
    };
    const id = randomBytes(8).toString("hex");
    const w = new Webhook(id, stored, this.deliveries);
    this.byId.set(id, w);
    this.engine.journal.recordChanged(RecordKind.Webhook, id, stored);
    if (this.live) this.hub.subscribe(w, stored.queue, stored.events);
    return { webhook: w.view(Date.now()), secret: stored.secret };
  }

  list() {
    const now = Date.now();
    return [...this.byId.values()].map((w) => w.view(now));
  }

  remove(id: string): void {
    const w = this.byId.get(id);
    if (w === undefined) throw new ClientError("NOT_FOUND", `Webhook not found: ${id.slice(0, 64)}`);
    this.byId.delete(id);
    this.hub.unsubscribe(w, null);
    this.deliveries.forget(id);
    this.engine.journal.recordRemoved(RecordKind.Webhook, id);
  }

  /** A `ping` delivery to one webhook, outside the event flow (to check a receiver). */
  ping(id: string): void {
    const w = this.byId.get(id);
    if (w === undefined) throw new ClientError("NOT_FOUND", `Webhook not found: ${id.slice(0, 64)}`);
    const body = JSON.stringify({ event: "ping", webhook: id, ts: this.engine.now() });
    if (!this.deliveries.enqueue(w, "ping", body)) throw new ClientError("BUSY", "The webhook's circuit is open after repeated failures; it retries on its own later");
  }

  stop(): void {
    for (const w of this.byId.values()) this.hub.unsubscribe(w, null);
    this.deliveries.stop();
  }
}
