// Sending webhook deliveries: a bounded queue (webhookQueueMax; the oldest is dropped and counted
// when it is full), at most webhookConcurrencyMax fetches in flight, retries with exponential
// back-off and jitter, and a circuit breaker per URL. Everything is asynchronous: the loop never
// waits on a receiver. Each POST is signed: X-Ringq-Signature = sha256=HMAC(secret, "<ts>.<body>").

import {
  webhookAttemptsMax,
  webhookBackoffMsMax,
  webhookBackoffMsMin,
  webhookBreakerFailures,
  webhookBreakerOpenMs,
  webhookBreakerOpenMsMax,
  webhookConcurrencyMax,
  webhookQueueMax,
  webhookTimeoutMs,
} from "../../constants.ts";
import { checkTarget, TargetRefused } from "./ssrf.ts";

export interface Target {
  readonly id: string;
  readonly url: URL;
  readonly secret: string;
  /** Outcome counters, per webhook (GET /webhooks and /metrics). */
  readonly stats: { delivered: number; failed: number; dropped: number; lastError: string | null; lastStatus: number | null };
}

interface Delivery {
  target: Target;
  id: string;
  event: string;
  body: string;
  attempt: number;
  dueAt: number;
}

/** One URL's circuit: closed (normal), open (deliveries dropped until openUntil), half-open
 *  (one trial in flight; its outcome closes or reopens it). */
export class Breaker {
  failures = 0;
  openUntil = 0;
  openMs = webhookBreakerOpenMs;
  trial = false;

  state(now: number): "closed" | "open" | "half-open" {
    if (this.failures < webhookBreakerFailures) return "closed";
    return now < this.openUntil || this.trial ? "open" : "half-open";
  }
}

export interface DeliveryCounters {
  delivered: number;
  failedAttempts: number;
  /** Gave up after webhookAttemptsMax attempts. */
  abandoned: number;
  /** Queue full, circuit open, or the webhook was deleted. */
  dropped: number;
}

export class Deliveries {
  private readonly ready: Delivery[] = [];
  private readyHead = 0;
  /** Retries, ordered by dueAt. */
  private readonly later: Delivery[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;
  private inFlight = 0;
  private seq = 0;
  private stopped = false;
  readonly breakers = new Map<string, Breaker>();
  readonly counters: DeliveryCounters = { delivered: 0, failedAttempts: 0, abandoned: 0, dropped: 0 };

  constructor(
    private readonly allowPrivate: boolean,
    private readonly userAgent: string,
    private readonly now: () => number = Date.now,
  ) {}

  get queued(): number {
    return this.ready.length - this.readyHead + this.later.length;
  }

  get active(): number {
    return this.inFlight;
  }

  breakerOf(url: string): Breaker {
    let b = this.breakers.get(url);
    if (b === undefined) this.breakers.set(url, (b = new Breaker()));
    return b;
  }

  /** Queues one event for a webhook; false when it was dropped (circuit open). A full queue
   *  drops its oldest delivery instead, so recent events win. */
  enqueue(target: Target, event: string, body: string): boolean {
    if (this.stopped) return false;
    if (this.breakerOf(target.url.href).state(this.now()) === "open") {
      target.stats.dropped++;
      this.counters.dropped++;
      return false;
    }
    if (this.queued >= webhookQueueMax) this.dropOldest();
    this.ready.push({ target, id: `${this.now().toString(36)}-${(++this.seq).toString(36)}`, event, body, attempt: 1, dueAt: 0 });
    this.pump();
    return true;
  }

  /** Forgets queued deliveries of a deleted webhook. */
  forget(targetId: string): void {
    const keep = (d: Delivery) => d.target.id !== targetId;
    const ready = this.ready.slice(this.readyHead).filter(keep);
    this.ready.length = 0;
    this.readyHead = 0;
    this.ready.push(...ready);
    const later = this.later.filter(keep);
    this.later.length = 0;
    this.later.push(...later);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private dropOldest(): void {
    const d = this.readyHead < this.ready.length ? this.ready[this.readyHead++] : this.later.shift();
    if (d === undefined) return;
    d.target.stats.dropped++;
    this.counters.dropped++;
    this.compact();
  }

  private compact(): void {
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
  }

  private pump(): void {
    const now = this.now();
    while (this.later.length > 0 && this.later[0]!.dueAt <= now) this.ready.push(this.later.shift()!);
    while (this.inFlight < webhookConcurrencyMax && this.readyHead < this.ready.length) {
      const d = this.ready[this.readyHead++]!;
      const b = this.breakerOf(d.target.url.href);
      const state = b.state(now);
      if (state === "open") {
        d.target.stats.dropped++;
        this.counters.dropped++;
        continue;
      }
      if (state === "half-open") b.trial = true;
      this.inFlight++;
      void this.send(d).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
    this.compact();
    this.arm();
  }

  private arm(): void {
    const at = this.later.length > 0 ? this.later[0]!.dueAt : Infinity;
    if (at === this.timerAt || this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - this.now()));
  }

  private async send(d: Delivery): Promise<void> {
    const t = d.target;
    let error: string | null = null;
    let status: number | null = null;
    try {
      if (this.stopped) return;
      await checkTarget(t.url, this.allowPrivate);
      const ts = String(this.now());
      const signature = new Bun.CryptoHasher("sha256", t.secret).update(`${ts}.${d.body}`).digest("hex");
      const res = await fetch(t.url, {
        method: "POST",
        body: d.body,
        redirect: "manual",
        signal: AbortSignal.timeout(webhookTimeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": this.userAgent,
          "x-ringq-event": d.event,
          "x-ringq-delivery": d.id,
          "x-ringq-timestamp": ts,
          "x-ringq-signature": `sha256=${signature}`,
          "x-ringq-attempt": String(d.attempt),
        },
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? " (redirects are not followed)" : ""}`;
    } catch (e) {
      error = e instanceof TargetRefused ? `refused: ${e.message}` : (e as Error).name === "TimeoutError" ? `no answer within ${webhookTimeoutMs} ms` : `${(e as Error).message}`;
    }
    t.stats.lastStatus = status;
    const b = this.breakerOf(t.url.href);
    b.trial = false;
    if (error === null) {
      t.stats.delivered++;
      this.counters.delivered++;
      b.failures = 0;
      b.openMs = webhookBreakerOpenMs;
      return;
    }
    t.stats.lastError = error;
    this.counters.failedAttempts++;
    b.failures++;
    if (b.failures >= webhookBreakerFailures) {
      // Opened (or re-opened after a failed trial): each re-opening waits twice as long.
      if (b.failures > webhookBreakerFailures) b.openMs = Math.min(b.openMs * 2, webhookBreakerOpenMsMax);
      b.openUntil = this.now() + b.openMs;
    }
    if (d.attempt >= webhookAttemptsMax) {
      t.stats.failed++;
      this.counters.abandoned++;
      return;
    }
    const base = Math.min(webhookBackoffMsMin * 2 ** (d.attempt - 1), webhookBackoffMsMax);
    d.attempt++;
    d.dueAt = this.now() + base / 2 + Math.random() * (base / 2);
    const i = this.later.findIndex((x) => x.dueAt > d.dueAt);
    if (i < 0) this.later.push(d);
    else this.later.splice(i, 0, d);
  }
}
