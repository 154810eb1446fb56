// Recent throughput and latency for METRICS, kept in place as jobs complete: one bucket per
// second over the last `throughputWindowSeconds`, each the count of completions in that second
// and the sum of their processing and waiting times. A completion costs a few arithmetic
// operations (no allocation, no timer); a reading sums the buckets of the last full seconds.

import { throughputWindowSeconds } from "../constants.ts";

export class Throughput {
  private readonly second = new Float64Array(throughputWindowSeconds).fill(-1);
  private readonly count = new Float64Array(throughputWindowSeconds);
  private readonly processingMs = new Float64Array(throughputWindowSeconds);
  private readonly waitMs = new Float64Array(throughputWindowSeconds);
  private readonly startedAt: number;

  constructor(now: number) {
    this.startedAt = now;
  }

  /** A job completed at `now` after `processing` ms active and `wait` ms from ready to start. */
  completed(now: number, processing: number, wait: number): void {
    const s = Math.floor(now / 1000);
    const i = s % throughputWindowSeconds;
    if (this.second[i] !== s) {
      this.second[i] = s;
      this.count[i] = 0;
      this.processingMs[i] = 0;
      this.waitMs[i] = 0;
    }
    this.count[i]!++;
    this.processingMs[i]! += processing;
    this.waitMs[i]! += wait;
  }

  /** Completions per second and mean processing / waiting ms over the last full seconds of the
   *  window (fewer right after start-up). */
  read(now: number): { perSecond: number; avgProcessingMs: number; avgWaitMs: number } {
    const current = Math.floor(now / 1000);
    const seconds = Math.max(1, Math.min(throughputWindowSeconds - 1, current - Math.floor(this.startedAt / 1000)));
    let n = 0;
    let processing = 0;
    let wait = 0;
    for (let i = 0; i < throughputWindowSeconds; i++) {
      const s = this.second[i]!;
      if (s < current - seconds || s >= current) continue;
      n += this.count[i]!;
      processing += this.processingMs[i]!;
      wait += this.waitMs[i]!;
    }
    return { perSecond: n / seconds, avgProcessingMs: n === 0 ? 0 : processing / n, avgWaitMs: n === 0 ? 0 : wait / n };
  }
}
