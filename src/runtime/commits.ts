// Which source offsets are safe to commit (SPEC §10, before durable state): only offsets below the
// first record of any event that is in a window not yet fired, and only once the outputs before
// them are acknowledged. Workers report, per key partition, the oldest batch holding such an event
// (Arena.pendingSinceBatch); this turns batch numbers into per-partition offsets.

interface BatchOffsets {
  /** Per source partition: the batch's first offset (NaN: no record of it in the batch). */
  first: Float64Array;
  /** Per source partition: the position after the batch (the next offset; NaN: nothing read yet). */
  next: Float64Array;
}

export class CommitTracker {
  private readonly batches = new Map<number, BatchOffsets>();
  private readonly position: Float64Array;
  private oldest = 0;

  constructor(private readonly numPartitions: number) {
    this.position = new Float64Array(numPartitions).fill(NaN);
  }

  /** Called for every batch, in order, as it is submitted. */
  note(number: number, count: number, partition: Int32Array, offset: Float64Array): void {
    const first = new Float64Array(this.numPartitions).fill(NaN);
    for (let i = 0; i < count; i++) {
      const p = partition[i];
      if (Number.isNaN(first[p])) first[p] = offset[i];
      if (!(this.position[p] > offset[i])) this.position[p] = offset[i] + 1;
    }
    this.batches.set(number, { first, next: this.position.slice() });
  }

  /**
   * Positions to commit once batch `number`'s outputs are acknowledged, when the oldest batch with
   * an unfired event is `pendingSince` (Infinity: none). Forgets batches no later commit needs.
   */
  positions(number: number, pendingSince: number): Array<{ partition: number; offset: number }> {
    const after = this.batches.get(number);
    if (!after) return [];
    const out: Array<{ partition: number; offset: number }> = [];
    for (let p = 0; p < this.numPartitions; p++) {
      let offset = after.next[p];
      for (let b = Math.max(pendingSince, this.oldest); b <= number; b++) {
        const first = this.batches.get(b)?.first[p];
        if (first !== undefined && !Number.isNaN(first)) {
          offset = first;
          break;
        }
      }
      if (!Number.isNaN(offset)) out.push({ partition: p, offset });
    }
    const keepFrom = Math.min(pendingSince, number + 1);
    for (let b = this.oldest; b < keepFrom; b++) this.batches.delete(b);
    this.oldest = Math.max(this.oldest, keepFrom);
    return out;
  }
}
