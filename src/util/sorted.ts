// Binary search over ascending arrays: the engine, the event batch, the raw batch and the Kafka
// source each look up a position in a sorted column.

/** The first index whose value is >= x (a.length when none is). */
export function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
