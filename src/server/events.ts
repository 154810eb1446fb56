// Job events pushed to subscribed connections (SUBSCRIBE/UNSUBSCRIBE, a ringq extension):
// what QueueEvents needs without polling. The hub listens on the engine's event bus only while
// someone subscribes, so a server without subscribers pays nothing. Delivery is best effort,
// like any pub/sub: a subscriber that does not read loses events past its back-pressure bound,
// and the next event it gets says how many.

import type { Engine, PartialResult } from "../engine/engine.ts";
import { ADDED, eventNames, type EngineEvent } from "../engine/events.ts";
import type { Job } from "../engine/model.ts";
import { Raw } from "../protocol/msgpack.ts";

/** Subscribes to every queue. */
export const allQueues = "*";

/** What the hub needs of a connection. */
export interface Subscriber {
  /** Writes one event message unless the connection owes too much already; false: dropped. */
  pushEvent(message: Record<string, unknown>): boolean;
}

interface Subscription {
  sub: Subscriber;
  /** Bit set of EngineEvent indexes in eventNames. */
  mask: number;
  /** Events dropped for back-pressure since the last delivered one. */
  dropped: number;
}

const bit = (e: EngineEvent): number => 1 << eventNames.indexOf(e);
export const allEvents = eventNames.reduce((m, e) => m | bit(e), 0);

export class EventHub {
  /** Queue name (or "*") -> subscriptions. */
  private readonly byQueue = new Map<string, Subscription[]>();
  private count = 0;
  private readonly hook = (event: EngineEvent, job: Job, detail?: unknown): void => this.publish(event, job, detail);

  constructor(private readonly engine: Engine) {}

  /** Adds or replaces the connection's subscription to one queue (or "*"). */
  subscribe(sub: Subscriber, queue: string, events: readonly EngineEvent[] | null): void {
    const mask = events === null ? allEvents : events.reduce((m, e) => m | bit(e), 0);
    let list = this.byQueue.get(queue);
    if (list === undefined) this.byQueue.set(queue, (list = []));
    const existing = list.find((s) => s.sub === sub);
    if (existing !== undefined) existing.mask = mask;
    else {
      list.push({ sub, mask, dropped: 0 });
      this.count++;
    }
    this.engine.events.on(this.hook);
  }

  /** Drops the connection's subscription to one queue, or to all when queue is null. Returns how many. */
  unsubscribe(sub: Subscriber, queue: string | null): number {
    let removed = 0;
    for (const [name, list] of this.byQueue) {
      if (queue !== null && name !== queue) continue;
      const i = list.findIndex((s) => s.sub === sub);
      if (i < 0) continue;
      list.splice(i, 1);
      removed++;
      if (list.length === 0) this.byQueue.delete(name);
    }
    this.count -= removed;
    if (this.count === 0) this.engine.events.off(this.hook);
    return removed;
  }

  subscriptions(sub: Subscriber): number {
    let n = 0;
    for (const list of this.byQueue.values()) if (list.some((s) => s.sub === sub)) n++;
    return n;
  }

  private publish(event: EngineEvent, job: Job, detail: unknown): void {
    const b = bit(event);
    const named = this.byQueue.get(job.queue.name);
    const all = this.byQueue.get(allQueues);
    if (named === undefined && all === undefined) return;
    let message: Record<string, unknown> | null = null;
    for (const list of [named, all]) {
      if (list === undefined) continue;
      for (const s of list) {
        if ((s.mask & b) === 0) continue;
        message ??= describe(event, job, this.engine.now(), detail);
        const m = s.dropped > 0 ? { ...message, dropped: s.dropped } : message;
        if (s.sub.pushEvent(m)) s.dropped = 0;
        else s.dropped++;
      }
    }
  }
}

/** The event message: what a listener needs to act without asking for the job. */
function describe(event: EngineEvent, job: Job, ts: number, detail: unknown): Record<string, unknown> {
  const m: Record<string, unknown> = { event, queue: job.queue.name, id: job.id, ts };
  const x = job.x;
  switch (event) {
    case "completed":
      m.result = x?.result ? new Raw(x.result) : null;
      break;
    case "failed":
    case "retried":
      m.error = x?.error ?? null;
      m.attempts = job.attempts;
      // So a listener can tell "attempts ran out" (BullMQ's retries-exhausted) without a GETJOB,
      // which finds nothing once remove_on_fail has dropped the record.
      m.max_attempts = job.maxAttempts;
      break;
    case "progress":
      m.progress = x?.progress ?? 0;
      m.message = x?.progressMsg ?? null;
      break;
    case "delayed":
      m.run_at = job.runAt;
      break;
    case "deduplicated":
      m.dedup_id = detail;
      break;
    case "partial": {
      const p = detail as PartialResult;
      m.data = new Raw(p.data);
      m.index = p.index;
      break;
    }
    default:
      break;
  }
  if (detail === ADDED) {
    // The job's first event: it was just pushed (BullMQ's `added`), with the name it was given.
    m.added = true;
    m.name = job.name;
  }
  if (x !== null && x.customId !== null) m.custom_id = x.customId;
  return m;
}
