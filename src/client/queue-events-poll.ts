// The polling half of QueueEvents, for servers without SUBSCRIBE (flashQ, older ringq): reads
// GETJOBS (active, completed, failed) every pollMs and reports what changed since the last poll.
// Limits of polling: events arrive up to pollMs late; a job that starts and finishes between two
// polls gets no `active`/`progress`; a job removed on completion before a poll sees it gets no
// `completed`. GETJOBS lists finished jobs oldest first, so each poll reads only the tail past
// what the last poll saw, paging on while more is there (bounded).

import type { Connection } from "./connection.ts";
import { eventsListLimit, eventsPagesMax, eventsSeenIdsMax } from "./constants.ts";
import { CommandError, RingqError } from "./errors.ts";
import type { WireJob } from "./job.ts";

export class EventPoller {
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private polling: Promise<void> | null = null;
  /** First poll records what already exists without announcing it (BullMQ's "$": new events only). */
  private baseline = true;
  /** Finished ids already announced (insertion-ordered: the oldest is forgotten first). */
  private readonly finished = new Map<number, true>();
  /** Active ids and the progress last announced for each. */
  private active = new Map<number, number>();
  /** How far the completed and failed lists were read at the last poll: the next poll reads on. */
  private readonly readTo = { completed: 0, failed: 0 };
  private unsupportedReported = false;
  private firstPollDone!: () => void;
  /** Resolves after the first poll (or at stop). */
  readonly ready = new Promise<void>((r) => (this.firstPollDone = r));

  constructor(
    private readonly conn: Connection,
    private readonly queue: string,
    private readonly pollMs: number,
    private readonly emit: (event: string, payload: Record<string, unknown>) => void,
    private readonly report: (err: Error) => void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
    this.firstPollDone();
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
      lists = await Promise.all([this.list("active", 0), this.listTail("completed"), this.listTail("failed")]);
    } catch (err) {
      if (err instanceof CommandError && err.code === "UNKNOWN_COMMAND") {
        if (!this.unsupportedReported) {
          this.unsupportedReported = true;
          this.report(new RingqError(`QueueEvents needs SUBSCRIBE or GETJOBS; the server at ${this.conn.address} has neither`, "UNKNOWN_COMMAND", "GETJOBS"));
        }
      } else if (!this.stopped) this.report(err as Error);
      this.firstPollDone();
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
    this.firstPollDone();
  }

  /** Jobs of a state from `offset` on, at most eventsPagesMax pages; remembers where it stopped. */
  private async list(state: "active" | "completed" | "failed", offset: number, findOverlap = false): Promise<WireJob[]> {
    const out: WireJob[] = [];
    let backs = 0;
    for (let page = 0; page < eventsPagesMax; page++) {
      const reply = await this.conn.request("GETJOBS", { queue: this.queue, state, limit: eventsListLimit, offset });
      const jobs = (reply.jobs ?? []) as WireJob[];
      if (findOverlap && offset > 0 && jobs.length > 0 && !this.finished.has(jobs[0]!.id) && backs < eventsPagesMax) {
        // The first job is news: retention dropped more old records than a page since the last
        // poll, and new ones may lie before this page. Step back until the pages overlap.
        backs++;
        page--;
        offset = Math.max(0, offset - eventsListLimit);
        continue;
      }
      findOverlap = false;
      for (const job of jobs) out.push(job);
      const total = typeof reply.total === "number" ? reply.total : offset + jobs.length;
      offset += jobs.length;
      if (jobs.length === 0 || offset >= total) break;
    }
    // Where reading stopped: the end of the list, or where the page bound cut it short (the
    // next poll goes on from there).
    if (state !== "active") this.readTo[state] = offset;
    return out;
  }

  /**
   * The newest finished jobs: from one page before where the last poll stopped reading. Records
   * dropped by retention shift the list towards the front: the page of overlap covers a shift of
   * up to a page, and list() steps further back when the first job it reads is news (ids
   * already announced are skipped). The first poll learns the total and reads its last page.
   */
  private async listTail(state: "completed" | "failed"): Promise<WireJob[]> {
    if (this.baseline) {
      const probe = await this.conn.request("GETJOBS", { queue: this.queue, state, limit: 1, offset: 0 });
      this.readTo[state] = typeof probe.total === "number" ? probe.total : 0;
    }
    return this.list(state, Math.max(0, this.readTo[state] - eventsListLimit), !this.baseline);
  }

  private async announceFinished(job: WireJob): Promise<void> {
    const jobId = String(job.id);
    try {
      const reply = await this.conn.request("WAITJOB", { id: job.id, timeout: 0 });
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
}
