// QueueEvents: BullMQ's `active`, `progress`, `completed` and `failed` events for any job of a
// queue, whoever runs it. TODO(no SUBSCRIBE command yet): the server cannot push events, so this
// polls GETJOBS (active/completed/failed) every `pollMs` and diffs against what it saw; a future
// SUBSCRIBE replaces poll() and keeps the public API. Limits of polling, by design until then:
// events arrive up to pollMs late; a job that starts and finishes between two polls gets no
// `active`/`progress`; a job removed on completion before a poll sees it gets no `completed`; more
// than eventsListLimit jobs finishing in one interval are reported as later polls reach them.

import { EventEmitter } from "node:events";
import type { Connection, ConnectionOptions } from "./connection.ts";
import { eventsListLimit, eventsPollMsDefault, eventsSeenIdsMax } from "./constants.ts";
import { CommandError, RingqError } from "./errors.ts";
import type { WireJob } from "./job.ts";
import { openConnection } from "./queue.ts";

export interface QueueEventsOptions {
  connection?: ConnectionOptions | Connection;
  /** Start polling in the constructor (default true); otherwise call run(). */
  autorun?: boolean;
  /** Polling interval, ms (default 100). */
  pollMs?: number;
}

export class QueueEvents extends EventEmitter {
  readonly name: string;
  readonly connection: Connection;
  private readonly owned: boolean;
  private readonly pollMs: number;
  private started = false;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private polling: Promise<void> | null = null;
  /** First poll records what already exists without announcing it (BullMQ's "$": new events only). */
  private baseline = true;
  /** Finished ids already announced (insertion-ordered: the oldest is forgotten first). */
  private readonly finished = new Map<number, true>();
  /** Active ids and the progress last announced for each. */
  private active = new Map<number, number>();
  private unsupportedReported = false;
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((r) => (this.readyResolve = r));

  constructor(name: string, opts: QueueEventsOptions = {}) {
    super();
    if (typeof name !== "string" || name === "") {
      throw new RingqError("QueueEvents: a queue name is required", "INVALID");
    }
    this.name = name;
    this.pollMs = opts.pollMs ?? eventsPollMsDefault;
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    if (opts.autorun !== false) this.run();
  }

  run(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /** Resolves after the first poll: events from then on will be reported. */
  waitUntilReady(): Promise<void> {
    this.run();
    return this.ready;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
    if (this.owned) await this.connection.close();
    this.readyResolve();
    this.emit("closed");
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedule(this.pollMs);
      });
    }, delayMs);
  }

  private async poll(): Promise<void> {
    let lists: WireJob[][];
    try {
      lists = await Promise.all(
        (["active", "completed", "failed"] as const).map(async (state) => {
          const reply = await this.connection.request("GETJOBS", {
            queue: this.name,
            state,
            limit: eventsListLimit,
            offset: 0,
          });
          return (reply.jobs ?? []) as WireJob[];
        }),
      );
    } catch (err) {
      if (err instanceof CommandError && err.code === "UNKNOWN_COMMAND") {
        if (!this.unsupportedReported) {
          this.unsupportedReported = true;
          this.report(new RingqError(`QueueEvents needs GETJOBS, which the server at ${this.connection.address} does not support`, "UNKNOWN_COMMAND", "GETJOBS"));
        }
      } else if (!this.stopped) this.report(err as Error);
      this.readyResolve();
      return;
    }
    const [active, completed, failed] = lists as [WireJob[], WireJob[], WireJob[]];
    const baseline = this.baseline;
    this.baseline = false;

    const nowActive = new Map<number, number>();
    for (const job of active) {
      const progress = job.progress ?? 0;
      const before = this.active.get(job.id);
      nowActive.set(job.id, progress);
      if (baseline) continue;
      if (before === undefined) this.emit("active", { jobId: String(job.id), prev: "waiting" });
      if (progress !== (before ?? 0)) this.emit("progress", { jobId: String(job.id), data: progress });
    }
    this.active = nowActive;

    // Finished jobs not announced yet; WAITJOB with timeout 0 answers at once with the result
    // or the failure reason, which GETJOBS does not carry.
    const fresh: WireJob[] = [];
    for (const job of completed.concat(failed)) {
      if (this.finished.has(job.id)) continue;
      this.remember(job.id);
      if (!baseline) fresh.push(job);
    }
    await Promise.all(fresh.map((job) => this.announceFinished(job)));
    this.readyResolve();
  }

  private async announceFinished(job: WireJob): Promise<void> {
    const jobId = String(job.id);
    try {
      const reply = await this.connection.request("WAITJOB", { id: job.id, timeout: 0 });
      this.emit("completed", { jobId, returnvalue: reply.result, prev: "active" });
    } catch (err) {
      if (err instanceof CommandError && err.code === "JOB_FAILED") {
        this.emit("failed", { jobId, failedReason: err.message.replace(/^WAITJOB: (Job failed: )?/, ""), prev: "active" });
      } else if (!(err instanceof CommandError && err.code === "NOT_FOUND")) {
        // NOT_FOUND: removed since the listing; nothing left to announce.
        if (!this.stopped) this.report(err as Error);
      }
    }
  }

  private remember(id: number): void {
    this.finished.set(id, true);
    if (this.finished.size > eventsSeenIdsMax) {
      const oldest = this.finished.keys().next().value as number;
      this.finished.delete(oldest);
    }
  }

  private report(err: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }
}
