// Binary search over ascending arrays: the engine, the event batch, the raw batch and the Kafka
// source each look up a position in a sorted column.

/** The first index in [from, to) whose value is >= x (`to` when none is). */
export function lowerBound(a: ArrayLike<number>, x: number, from = 0, to = a.length): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
