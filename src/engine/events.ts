// The engine's job events: one per transition, emitted by core.record after the journal entry,
// in causal order (a transition's own event before anything it lets happen next). Listeners
// (the SUBSCRIBE hub, metrics) register here; with none registered an event costs one check.
// Listeners must not call back into the engine: they observe, they do not act.

import type { Job } from "./model.ts";

export const eventNames = [
  "waiting", "delayed", "active", "completed", "retried", "failed", "stalled", "removed", "progress",
  "partial", "deduplicated", "waitingchildren", "waitingparent", "cancelled",
] as const;
export type EngineEvent = (typeof eventNames)[number];

/** The detail of a new job's first event (waiting, delayed, waitingchildren, waitingparent): the
 *  job was just added (BullMQ's `added`), not moved there. */
export const ADDED: unique symbol = Symbol("added");

/** `detail`: what an event carries besides the job (partial: its data and index; ADDED). */
export type EventListener = (event: EngineEvent, job: Job, detail?: unknown) => void;

export class EventBus {
  private listeners: EventListener[] = [];

  get listening(): boolean {
    return this.listeners.length > 0;
  }

  on(listener: EventListener): void {
    if (!this.listeners.includes(listener)) this.listeners = [...this.listeners, listener];
  }

  off(listener: EventListener): void {
    this.listeners = this.listeners.filter((l) => l !== listener);
  }

  emit(event: EngineEvent, job: Job, detail?: unknown): void {
    // The array is replaced, never mutated, so a listener that unsubscribes does not skip another.
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) ls[i]!(event, job, detail);
  }
}
