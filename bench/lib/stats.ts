// Small statistics for benchmark results: median of runs, percentiles of latency samples.
// Deliberately no means of latencies and no outlier rejection: medians of several runs and
// tail percentiles are what the bench reports.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Percentile (0..100) of an already sorted array, nearest-rank. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  // The epsilon keeps 99.9 % of 1000 at rank 999, not 1000 (99.9 / 100 * 1000 = 999.0000000000001).
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p * n) / 100 - 1e-9) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Sorts the first n samples in place and summarises them (same unit as the samples). */
export function summarizeLatency(samples: Float64Array, n: number): LatencySummary {
  const s = samples.subarray(0, n).sort();
  return {
    n,
    p50: percentileSorted(s, 50),
    p99: percentileSorted(s, 99),
    p999: percentileSorted(s, 99.9),
    max: n > 0 ? s[n - 1]! : NaN,
  };
}

/** Human figure: 1234567 -> "1.23M", 4321 -> "4.32k". */
export function si(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return "n/a";
  const a = Math.abs(x);
  if (a >= 1e9) return (x / 1e9).toPrecision(digits) + "G";
  if (a >= 1e6) return (x / 1e6).toPrecision(digits) + "M";
  if (a >= 1e3) return (x / 1e3).toPrecision(digits) + "k";
  return x.toPrecision(digits);
}
