// QueueEvents: BullMQ's events for any job of a queue, whoever runs it. Uses the server's push
// (SUBSCRIBE, a ringq extension): one message per job transition, re-subscribed after every
// reconnect. Servers without SUBSCRIBE (flashQ, older ringq) get polling instead
// (queue-events-poll.ts), which reports only `active`, `progress`, `completed` and `failed`.
// Delivery is best effort in both: events of a disconnection, or dropped by the server for a
// subscriber that reads too slowly (reported on `error`), are not replayed. `drained` is derived:
// after a job became active, a GETJOBCOUNTS that finds nothing waiting. `added` is a job's
// first event (the server marks it). `retries-exhausted` follows a `failed` whose attempts
// reached the job's max_attempts: read from the event when the server sends it, else from
// GETJOB (a job already removed then cannot be told, and that is reported on `error`).

import type { Connection, ConnectionOptions } from "./connection.ts";
import { eventsPollMsDefault, eventsSubscribeRetryMsMax, eventsSubscribeRetryMsMin } from "./constants.ts";
import { CommandError, RingqError } from "./errors.ts";
import { openConnection } from "./queue.ts";
import { EventPoller } from "./queue-events-poll.ts";
import { CheckedEmitter, checkOptions, queueEventRefusals, queueEventsOptionRefusals } from "./refusals.ts";

export interface QueueEventsOptions {
  connection?: ConnectionOptions | Connection;
  /** Start listening in the constructor (default true); otherwise call run(). */
  autorun?: boolean;
  /**
   * "push" (SUBSCRIBE), "poll" (GETJOBS every pollMs), or "auto" (default): push, and polling
   * when the server does not know SUBSCRIBE.
   */
  mode?: "auto" | "push" | "poll";
  /** Polling interval in poll mode, ms (default 100). */
  pollMs?: number;
  /** BullMQ's replay point: only "$" (events from now on) is possible; nothing is replayed. */
  lastEventId?: "$";
  /** Accepted for BullMQ code: ringq makes no server version check. */
  skipVersionCheck?: boolean;
}

const optionNames = ["connection", "autorun", "mode", "pollMs", "lastEventId", "skipVersionCheck"];
const events = [
  "active", "added", "completed", "failed", "progress", "waiting", "delayed", "stalled", "removed", "retried", "drained", "retries-exhausted", "error", "closed",
  "waiting-children", "deduplicated", "debounced",
];
/** What polling (queue-events-poll.ts) can see; a listener for the rest hears of it on `error`. */
const pollEvents = ["active", "completed", "failed", "progress", "error", "closed"];

/** A pushed event as the server sends it (src/server/events.ts). */
interface PushedEvent {
  event: string;
  queue: string;
  id: number;
  ts?: number;
  result?: unknown;
  error?: string | null;
  attempts?: number;
  progress?: number;
  message?: string | null;
  run_at?: number;
  custom_id?: string;
  dedup_id?: string;
  dropped?: number;
  /** The job's first event: it was just added (with the name it was given). */
  added?: boolean;
  name?: string;
  /** The job's attempts allowed, on `failed` (a server that sends it saves a GETJOB). */
  max_attempts?: number;
}

export class QueueEvents extends CheckedEmitter {
  readonly name: string;
  readonly connection: Connection;
  private readonly owned: boolean;
  private readonly pollMs: number;
  private readonly requestedMode: "auto" | "push" | "poll";
  /** What runs: null until decided. */
  private mode: "push" | "poll" | null = null;
  private started = false;
  private stopped = false;
  private poller: EventPoller | null = null;
  private subscribeFailures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  /** `drained` was emitted and no job became waiting since: it is not said twice. */
  private drainedSaid = false;
  /** A GETJOBCOUNTS for `drained` is in flight, or one is due after it. */
  private drainCheck: "idle" | "running" | "again" = "idle";
  private readonly onEvent = (m: PushedEvent) => {
    if (m.queue === this.name) this.dispatch(m);
  };
  /** After a reconnect the new connection has no subscription: make one. */
  private readonly onReconnected = () => {
    if (this.mode === "push" && !this.stopped) void this.subscribe();
  };

  constructor(name: string, opts: QueueEventsOptions = {}) {
    super("QueueEvents", events, queueEventRefusals);
    if (typeof name !== "string" || name === "") {
      throw new RingqError("QueueEvents: a queue name is required", "INVALID");
    }
    checkOptions("QueueEvents", opts, optionNames, queueEventsOptionRefusals);
    if (opts.lastEventId !== undefined && opts.lastEventId !== "$") {
      throw new RingqError(`QueueEvents: lastEventId "${opts.lastEventId}": past events cannot be replayed (only "$")`, "NOT_SUPPORTED");
    }
    this.name = name;
    this.pollMs = opts.pollMs ?? eventsPollMsDefault;
    this.requestedMode = opts.mode ?? "auto";
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
    if (opts.autorun !== false) this.run();
  }

  run(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.requestedMode === "poll") this.startPolling();
    else {
      this.connection.on("event", this.onEvent);
      this.connection.on("ready", this.onReconnected);
      void this.subscribe();
    }
  }

  /** Resolves once listening (subscribed, or first poll done): events from then on are reported. */
  waitUntilReady(): Promise<void> {
    this.run();
    return this.ready;
  }

  /** "push" or "poll" once decided (after waitUntilReady), null before. */
  get transport(): "push" | "poll" | null {
    return this.mode;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connection.off("event", this.onEvent);
    this.connection.off("ready", this.onReconnected);
    await this.poller?.stop();
    if (this.owned) await this.connection.close();
    else if (this.mode === "push") await this.connection.request("UNSUBSCRIBE", { queue: this.name }).catch(() => {});
    this.readyResolve();
    this.emit("closed");
  }

  private async subscribe(): Promise<void> {
    try {
      await this.connection.request("SUBSCRIBE", { queue: this.name });
    } catch (err) {
      if (this.stopped) return;
      const unknown = err instanceof CommandError && err.code === "UNKNOWN_COMMAND";
      if (unknown && this.requestedMode === "auto" && this.mode === null) {
        this.connection.off("event", this.onEvent);
        this.connection.off("ready", this.onReconnected);
        this.startPolling();
        return;
      }
      this.report(err as Error);
      // A connection that never came up does not retry by itself; try again with back-off.
      const delayMs = Math.min(eventsSubscribeRetryMsMax, eventsSubscribeRetryMsMin * 2 ** this.subscribeFailures++);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.stopped) void this.subscribe();
      }, delayMs);
      return;
    }
    if (this.stopped) return;
    this.subscribeFailures = 0;
    this.mode = "push";
    this.readyResolve();
  }

  private startPolling(): void {
    this.mode = "poll";
    const unheard = this.eventNames().filter((e): e is string => typeof e === "string" && !pollEvents.includes(e));
    if (unheard.length > 0) {
      this.report(new RingqError(`QueueEvents "${this.name}": the server has no SUBSCRIBE; polling cannot report ${unheard.join(", ")}`, "NOT_SUPPORTED"));
    }
    this.poller = new EventPoller(this.connection, this.name, this.pollMs, (e, p) => this.emit(e, p), (err) => this.report(err));
    this.poller.start();
    void this.poller.ready.then(() => this.readyResolve());
  }

  /** One pushed event -> BullMQ's QueueEvents payloads (jobId as a string). */
  private dispatch(m: PushedEvent): void {
    if (typeof m.dropped === "number" && m.dropped > 0) {
      this.report(new RingqError(`QueueEvents "${this.name}": the server dropped ${m.dropped} events (this listener read too slowly)`, "EVENTS_DROPPED"));
    }
    const jobId = String(m.id);
    if (m.added === true) this.emit("added", { jobId, name: m.name ?? "" });
    switch (m.event) {
      case "completed":
        this.emit("completed", { jobId, returnvalue: m.result ?? null, prev: "active" });
        break;
      case "failed":
        this.emit("failed", { jobId, failedReason: m.error ?? "", prev: "active" });
        if (this.listenerCount("retries-exhausted") > 0) this.checkExhausted(jobId, m);
        break;
      case "retried":
        // A failed attempt that will run again (BullMQ reports it as `failed` then `waiting`/`delayed`).
        this.emit("retried", { jobId, failedReason: m.error ?? "", attemptsMade: m.attempts });
        break;
      case "progress":
        this.emit("progress", { jobId, data: m.progress ?? 0 });
        break;
      case "active":
        this.emit("active", { jobId, prev: "waiting" });
        if (!this.drainedSaid && this.listenerCount("drained") > 0) this.checkDrained();
        break;
      case "waiting":
        this.drainedSaid = false;
        this.emit("waiting", { jobId });
        break;
      case "delayed":
        this.emit("delayed", { jobId, delay: m.run_at });
        break;
      case "stalled":
        this.emit("stalled", { jobId });
        break;
      case "removed":
        this.emit("removed", { jobId });
        break;
      case "waitingchildren": // a dependsOn job waiting for its dependencies
      case "waitingparent": // a flow's parent waiting for its children
        this.emit("waiting-children", { jobId });
        break;
      case "deduplicated":
        // jobId is the job whose window stood for the add; the add made no job, so BullMQ's
        // deduplicatedJobId has no value here. `debounced` is BullMQ's older name, sent as well.
        this.emit("deduplicated", { jobId, deduplicationId: m.dedup_id ?? "" });
        this.emit("debounced", { jobId, debounceId: m.dedup_id ?? "" });
        break;
      default:
        break; // events a newer server adds are ignored, not errors
    }
  }

  /**
   * A failed job whose attempts ran out (not one failed early by UnrecoverableError, discard or
   * a ttl): BullMQ's `retries-exhausted`, after its `failed`.
   */
  private checkExhausted(jobId: string, m: PushedEvent): void {
    const attempts = m.attempts ?? 0;
    if (typeof m.max_attempts === "number") {
      if (attempts >= m.max_attempts) this.emit("retries-exhausted", { jobId, attemptsMade: attempts });
      return;
    }
    this.connection.request("GETJOB", { id: m.id }).then(
      (reply) => {
        if (this.stopped) return;
        const job = reply.job as { attempts?: number; max_attempts?: number } | null | undefined;
        if (job === null || job === undefined) {
          this.report(new RingqError(`QueueEvents "${this.name}": job ${jobId} failed and was removed before its attempts could be read: retries-exhausted not known`, "NOT_FOUND", "GETJOB"));
          return;
        }
        if ((job.attempts ?? attempts) >= (job.max_attempts ?? 1)) this.emit("retries-exhausted", { jobId, attemptsMade: job.attempts ?? attempts });
      },
      (err) => {
        if (!this.stopped) this.report(err as Error);
      },
    );
  }

  /**
   * After a job became active: is anything left waiting? Replies and events share the
   * connection in the server's order, so a push before the count was taken has already been
   * seen as `waiting` when the count says 0. One count in flight at a time.
   */
  private checkDrained(): void {
    if (this.drainCheck !== "idle") {
      this.drainCheck = "again";
      return;
    }
    this.drainCheck = "running";
    this.connection.request("GETJOBCOUNTS", { queue: this.name }).then(
      (reply) => {
        const again = this.drainCheck === "again";
        this.drainCheck = "idle";
        if (this.stopped || this.drainedSaid) return;
        if (reply.waiting === 0) {
          this.drainedSaid = true;
          this.emit("drained", String(Date.now()));
        } else if (again) this.checkDrained();
      },
      (err) => {
        this.drainCheck = "idle";
        if (!this.stopped) this.report(err as Error);
      },
    );
  }

  private report(err: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }
}
