// Histograms of job timings, bucketed in place from the engine's event bus (no per-job
// allocation, no extra engine work): wait time, from ready to first delivery (`active` of a job
// never delivered before: started_at - run_at, so a delay is not counted as waiting), and
// processing time of completed jobs (completed_at - started_at of the attempt that completed).
// Per queue name, up to metricsHistogramQueuesMax names; later ones share "_other".

import { metricsHistogramQueuesMax } from "../constants.ts";
import type { Engine, EngineEvent } from "../engine/engine.ts";
import type { Job } from "../engine/model.ts";

/** Upper bounds of the buckets, ms (Prometheus `le`, in seconds when rendered). */
export const timingBucketsMs = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000] as const;

export class Histogram {
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly counts = new Float64Array(timingBucketsMs.length + 1);
  sumMs = 0;
  count = 0;

  observe(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    let i = 0;
    while (i < timingBucketsMs.length && v > timingBucketsMs[i]!) i++;
    this.counts[i]!++;
    this.sumMs += v;
    this.count++;
  }

  add(o: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += o.counts[i]!;
    this.sumMs += o.sumMs;
    this.count += o.count;
  }
}

export const otherQueues = "_other";

class PerQueue {
  readonly byName = new Map<string, Histogram>();
  /** One-entry cache: consecutive events mostly name the same queue (the same string object). */
  private lastName = "";
  private last: Histogram | null = null;

  of(name: string): Histogram {
    if (name === this.lastName && this.last !== null) return this.last;
    let h = this.byName.get(name);
    if (h === undefined) {
      if (this.byName.size >= metricsHistogramQueuesMax) {
        h = this.byName.get(otherQueues) ?? new Histogram();
        this.byName.set(otherQueues, h);
      } else this.byName.set(name, (h = new Histogram()));
    }
    this.lastName = name;
    this.last = h;
    return h;
  }
}

export class JobTimings {
  readonly wait = new PerQueue();
  readonly processing = new PerQueue();

  private readonly listener = (event: EngineEvent, job: Job): void => {
    if (event === "active") {
      if (job.attempts === 0 && job.stallCount === 0) this.wait.of(job.queue.name).observe(job.startedAt - job.runAt);
    } else if (event === "completed") {
      this.processing.of(job.queue.name).observe(job.finishedAt - job.startedAt);
    }
  };

  constructor(private readonly engine: Engine) {}

  start(): void {
    this.engine.events.on(this.listener);
  }

  stop(): void {
    this.engine.events.off(this.listener);
  }
}
