// A GC ballast for the long-running commands (`sluice run`, `sluice serve`).
//
// V8 starts an incremental mark-compact as soon as the old generation's room under its limit is
// smaller than the young generation's capacity (heap.cc, IncrementalMarkingLimitReached). A
// process whose live heap is small (~15 MB) but that allocates fast grows its young generation
// to 16 MB while the old generation's limit, set from the live size, stays near 30 MB: it then
// ran a mark-compact every 150-300 ms, each a 4-15 ms pause plus marking steps of up to 9 ms.
// 64 MB of doubles, which the collector never traces or moves (one large object without
// pointers), lift that limit clear of the condition. Measured on the bench machine: `sluice
// serve` under 100-row load went from 18 mark-compacts in 9 s to none after start-up, and
// per-event mode's outside-in p99 from 123 ms to 81-92 ms (npm run bench per-event --quick).
// The flags that do this (--max-semi-space-size, --initial-old-space-size) only apply when given
// to node at start, which `node bin/sluice.js` and npx cannot be relied on to do.

const MB = 1024 * 1024;
let ballast: number[] | null = null;

/** Holds the ballast for the life of the process (once; later calls do nothing). */
export function holdGcBallast(mb = 64): void {
  ballast ??= new Array<number>((mb * MB) / 8).fill(0.5);
}
