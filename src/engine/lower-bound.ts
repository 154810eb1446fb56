// Binary search over an ascending array of numbers (the run heap's sparse chunks, the journal's
// segment order).

/** The first index of ascending `xs` whose value is >= x (xs.length when none). */
export function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
