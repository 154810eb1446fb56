// Delivery: who gets which ready job, and when. pull takes ready jobs at once; pullOrPark parks
// the request when nothing is ready; serve hands ready jobs to parked pullers, oldest first, and
// runs after any transition that gave a queue work. "May this queue hand out a job now?" is
// asked in one place, canDeliver (pause and the concurrency limit), and the rate limit's token
// is taken in one place, take(), only for a job actually delivered. A pull stopped by the rate
// limit arms the refill timer for the next token (no polling); a slot freed under the
// concurrency limit, a resume and a refill serve the parked pullers.

import type { Core } from "./core.ts";
import type { DeliveryLimit, Job, PullWaiter, QueueState } from "./model.ts";

/** How a pull may be handed jobs: its connection's back-pressure and the reply's bound. */
export interface PullOptions {
  blocked?: (w: PullWaiter) => boolean;
  limit?: DeliveryLimit | null;
}

const never = (): boolean => false;
import type { PullTimers } from "./waiters.ts";

export class Delivery {
  constructor(
    private readonly core: Core,
    private readonly pulls: PullTimers,
  ) {}

  /** The one gate for handing out a job of this queue (the rate limit's tokens apart: take). */
  canDeliver(q: QueueState): boolean {
    return !q.paused && (q.concurrencyLimit === 0 || q.active.size < q.concurrencyLimit);
  }

  /** Takes up to `count` ready jobs (-> Active) without waiting. */
  pull(q: QueueState, count: number, now: number, limit: DeliveryLimit | null = null): Job[] {
    return this.take(q, count, now, limit);
  }

  /**
   * Pull, or park until a job is ready or `timeoutMs` passes (then resolves []). Earlier parked
   * pullers of the queue go first. Returns the waiter so a closing connection can cancel it;
   * null when it was answered at once.
   */
  pullOrPark(q: QueueState, count: number, timeoutMs: number, now: number, resolve: (jobs: Job[]) => void, opts: PullOptions = {}): PullWaiter | null {
    const limit = opts.limit ?? null;
    // Earlier parked pullers go first, unless jobs are ready while they wait: after every serve
    // that means each of them is blocked (its connection owes too much), so this one may take.
    if (q.waiters.length === 0 || q.ready.size > 0) {
      const jobs = this.take(q, count, now, limit);
      if (jobs.length > 0 || timeoutMs <= 0) {
        resolve(jobs);
        return null;
      }
    } else if (timeoutMs <= 0) {
      resolve([]);
      return null;
    }
    const w: PullWaiter = { hi: -1, deadline: now + timeoutMs, queue: q, count, done: false, resolve, blocked: opts.blocked ?? never, limit };
    this.pulls.park(w);
    return w;
  }

  /** Hands ready jobs to parked pullers, oldest first, passing over those whose connection
   *  cannot take them now (they keep their place and are served when it drains). */
  serve(q: QueueState, now: number): void {
    q.servePending = false;
    let i = 0;
    while (i < q.waiters.length && q.ready.size > 0) {
      const w = q.waiters[i]!;
      if (w.blocked(w)) {
        i++;
        continue;
      }
      const jobs = this.take(q, w.count, now, w.limit);
      if (jobs.length === 0) return;
      this.pulls.cancel(w);
      w.resolve(jobs);
    }
  }

  /** Up to `count` jobs from the front of the ready line while the queue may deliver: an expired
   *  job fails, one of a busy group is held aside, the rest become active. */
  private take(q: QueueState, count: number, now: number, limit: DeliveryLimit | null): Job[] {
    const out: Job[] = [];
    const core = this.core;
    const rate = q.rateLimit;
    let cost = 0;
    while (out.length < count && this.canDeliver(q)) {
      const job = q.ready.peek();
      if (job === undefined) break;
      if (rate !== null && rate.available(now) < 1) {
        core.awaitToken(rate, now);
        break;
      }
      if (limit !== null) {
        cost += limit.cost(job);
        if (cost > limit.costMax && out.length > 0) break; // the rest stay waiting
      }
      const ttl = job.k.p.ttl;
      if (ttl > 0 && now >= job.createdAt + ttl) {
        core.expire(job, now);
        continue;
      }
      const x = job.x;
      if (x !== null) {
        if (x.groupId !== null && q.groups.get(x.groupId)!.active >= q.groupConcurrency) {
          core.holdForGroup(job, x.groupId);
          continue;
        }
      }
      core.activate(job, now);
      if (rate !== null) rate.tokens -= 1;
      out.push(job);
    }
    return out;
  }
}
