// Event-time watermarks (SPEC §6): per source partition, the largest event time seen minus
// maxOutOfOrdernessMs; the job's watermark is the minimum over active partitions and never moves
// back. A partition that has sent nothing holds the job at -Infinity until it turns idle; idle
// (no data for idleTimeoutMs of wall clock) and finished partitions are left out of the minimum.

interface PartitionClock {
  maxEventTimeMs: number;
  lastDataAtMs: number; // wall clock
  idle: boolean;
  finished: boolean;
}

export class WatermarkTracker {
  private readonly parts: PartitionClock[] = [];
  private watermarkMs = -Infinity;

  constructor(
    numPartitions: number,
    private readonly maxOutOfOrdernessMs: number,
    /** 0 = partitions never turn idle. */
    private readonly idleTimeoutMs: number,
    startedAtMs: number,
  ) {
    for (let p = 0; p < numPartitions; p++) this.addPartition(startedAtMs);
  }

  get current(): number {
    return this.watermarkMs;
  }

  /** The largest event time read so far, over all partitions (-Infinity: none). */
  get maxEventTimeMs(): number {
    let max = -Infinity;
    for (const p of this.parts) if (p.maxEventTimeMs > max) max = p.maxEventTimeMs;
    return max;
  }

  get numPartitions(): number {
    return this.parts.length;
  }

  /** A partition discovered later (a Kafka assignment); it holds the job back until it sends or idles. */
  addPartition(nowMs: number): number {
    this.parts.push({ maxEventTimeMs: -Infinity, lastDataAtMs: nowMs, idle: false, finished: false });
    return this.parts.length - 1;
  }

  /** One cleanly decoded event; returns the job watermark after it. */
  observe(partition: number, eventTimeMs: number, nowMs: number): number {
    const p = this.parts[partition];
    p.lastDataAtMs = nowMs;
    const wasIdle = p.idle;
    p.idle = false;
    const advanced = eventTimeMs > p.maxEventTimeMs;
    // Only a partition at (or below) the job watermark can be the one holding it back.
    const held = p.maxEventTimeMs - this.maxOutOfOrdernessMs <= this.watermarkMs;
    if (advanced) p.maxEventTimeMs = eventTimeMs;
    // A partition back from idle counts again even when its event time did not move: when every
    // partition had gone idle, the watermark held, and it is this one that lets it go on.
    if (wasIdle || (advanced && held)) this.recompute();
    return this.watermarkMs;
  }

  /** Partition p's own watermark (SPEC §15, with a changelog): its largest event time minus
   *  maxOutOfOrdernessMs; +Infinity once it reached its end. */
  partitionWatermark(partition: number): number {
    const p = this.parts[partition];
    return p.finished ? Infinity : p.maxEventTimeMs - this.maxOutOfOrdernessMs;
  }

  /** Back to a checkpoint's largest event time for one partition (a partition restored on its own). */
  restorePartition(partition: number, maxEventTimeMs: number | null): void {
    const p = this.parts[partition];
    p.maxEventTimeMs = maxEventTimeMs ?? -Infinity;
    p.finished = false;
  }

  /** Marks partitions idle whose last data is older than idleTimeoutMs; returns the watermark. */
  checkIdle(nowMs: number): number {
    if (this.idleTimeoutMs <= 0) return this.watermarkMs;
    let changed = false;
    for (const p of this.parts) {
      if (!p.idle && !p.finished && nowMs - p.lastDataAtMs >= this.idleTimeoutMs) {
        p.idle = true;
        changed = true;
      }
    }
    if (changed) this.recompute();
    return this.watermarkMs;
  }

  /** The partition reached its end offset (bounded runs). When all have, the watermark is +Infinity. */
  finish(partition: number): number {
    this.parts[partition].finished = true;
    this.recompute();
    return this.watermarkMs;
  }

  /** The source started reading the partition only now (a group join can take seconds): its idle
   *  clock starts here. */
  touch(partition: number, nowMs: number): void {
    this.parts[partition].lastDataAtMs = nowMs;
  }

  /** What a checkpoint keeps: per partition the largest event time seen (null: none), and the
   *  job watermark (null: -Infinity). The +Infinity of a finished bounded run is not kept: a later
   *  run over the same topic goes on from the partitions' own watermarks. */
  snapshot(): { maxEventTimeMs: Array<number | null>; watermarkMs: number | null } {
    const maxEventTimeMs = this.parts.map((p) => (Number.isFinite(p.maxEventTimeMs) ? p.maxEventTimeMs : null));
    let w = this.watermarkMs;
    if (w === Infinity) {
      w = -Infinity;
      for (const p of this.parts) if (Number.isFinite(p.maxEventTimeMs)) w = Math.max(w, p.maxEventTimeMs - this.maxOutOfOrdernessMs);
    }
    return { maxEventTimeMs, watermarkMs: Number.isFinite(w) ? w : null };
  }

  /** Back to a snapshot's watermarks (partitions beyond it start as new ones). */
  restore(maxEventTimeMs: ReadonlyArray<number | null>, watermarkMs: number | null): void {
    for (let p = 0; p < Math.min(maxEventTimeMs.length, this.parts.length); p++) this.parts[p].maxEventTimeMs = maxEventTimeMs[p] ?? -Infinity;
    this.watermarkMs = watermarkMs ?? -Infinity;
  }

  isIdle(partition: number): boolean {
    return this.parts[partition].idle;
  }

  private recompute(): void {
    let min = Infinity;
    let active = 0;
    let unfinished = 0;
    for (const p of this.parts) {
      if (!p.finished) unfinished++;
      if (p.idle || p.finished) continue;
      active++;
      const w = p.maxEventTimeMs - this.maxOutOfOrdernessMs;
      if (w < min) min = w;
    }
    // No active partition: all finished means the end of a bounded input (+Infinity); otherwise
    // the rest are idle, and with nothing to go by the watermark holds (as Flink's does).
    if (active === 0) min = unfinished === 0 ? Infinity : this.watermarkMs;
    if (min > this.watermarkMs) this.watermarkMs = min;
  }
}
