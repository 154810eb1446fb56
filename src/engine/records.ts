// Small persisted entities beside the jobs: cron schedules, KV entries, webhooks. Each kind has
// ONE owner that keeps it in memory, reports every change to the journal as its stored form (a
// plain MessagePack-able object, the owner's codec), and gets each stored record back at
// recovery, before the server listens. The records table (persistence/migrations.ts, v2) holds
// them all, keyed by (kind, key). Kind numbers are stored: never renumber one.

export const enum RecordKind {
  Schedule = 1,
  Kv = 2,
  Webhook = 3,
}

export const recordKindNames: Record<number, string> = {
  [RecordKind.Schedule]: "cron schedule",
  [RecordKind.Kv]: "KV entry",
  [RecordKind.Webhook]: "webhook",
};

export interface RecordOwner {
  readonly kind: RecordKind;
  /** A stored record, as its owner wrote it (decoded MessagePack). Throws if it is unreadable. */
  restore(key: string, value: unknown): void;
  /** After every record of every kind and every job is back (schedules arm their timers). */
  recovered?(): void;
}

/** Owners by kind: the engine's own (scheduler, KV) and those of other layers (webhooks). */
export class RecordOwners {
  private readonly byKind = new Map<number, RecordOwner>();

  add(o: RecordOwner): void {
    if (this.byKind.has(o.kind)) throw new Error(`record kind ${o.kind} has two owners`);
    this.byKind.set(o.kind, o);
  }

  get(kind: number): RecordOwner | undefined {
    return this.byKind.get(kind);
  }

  recovered(): void {
    for (const o of this.byKind.values()) o.recovered?.();
  }
}
