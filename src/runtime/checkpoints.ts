// Checkpoints (SPEC §10), taken at a batch boundary. At the boundary the engine notes the sinks'
// positions and starts their flushes, and keeps the partitions' states as of that batch from
// being reused. This module then, in the background and one checkpoint after another:
//   0. stages the checkpoint: the state pages that changed, the keys, watermarks, positions and
//      file lengths (StateStore.stage, in slices of ~10 ms so the pipeline is never held long);
//   1. waits until every output written before the boundary is acknowledged (flush);
//   2. writes the staged checkpoint: one atomic, synced RocksDB write batch;
//   3. commits the source positions to Kafka, for lag tools (recovery reads them from the store).
import type { PartitionState } from '../state/arena';
import type { StagedCheckpoint, StateStore } from '../state/store';
import type { WatermarkTracker } from '../time/watermark';
import { faultPoint } from './faults';
import type { EngineMetrics, JobSinks, Source } from './ports';

/** A checkpoint's boundary, after a batch. */
export interface CheckpointAt {
  /** Per key partition, its state after the batch (filled in as the batch's tasks finish, and
   *  kept from reuse until staged). */
  states: PartitionState[];
  positions: Array<number | null>;
  watermarks: ReturnType<WatermarkTracker['snapshot']>;
}

const SINK_NAMES = ['results', 'late', 'deadLetters', 'shadow'] as const;

/** Files' lengths at a boundary, by sink (for truncation on restore). */
export type SinkBytes = Record<string, number>;

export interface CheckpointStats {
  /** Checkpoints written in this run. */
  count: number;
  /** The checkpoint this run started from (null: none, a fresh start). */
  restoredFrom: number | null;
  /** Time to open the store and load the checkpoint, ms. */
  restoreMs: number;
  /** The pipeline's pause per checkpoint: the longest slice of staging, ms. */
  pauseMs: { p50: number; max: number };
  /** Staging's wall time per checkpoint (in slices, the pipeline running in between), ms. */
  stageMs: { p50: number; max: number };
  /** From staging to the write's sync, ms (the pipeline does not wait for it). */
  writeMs: { p50: number; max: number };
  /** Bytes written by the last checkpoint, and in all. */
  lastBytes: number;
  totalBytes: number;
  /** With a changelog (SPEC §15): partitions taken on, by where their state came from, and the
   *  rebalances gone through. */
  partitions?: { changelog: number; local: number; none: number; rebalances: number };
}

/** Per source partition, the position (next offset) after each submitted batch. */
export class PositionTracker {
  private readonly position: Array<number | null>;

  constructor(startPositions: readonly number[], numPartitions: number) {
    this.position = Array.from({ length: numPartitions }, (_, p) => startPositions[p] ?? null);
  }

  note(count: number, partition: Int32Array, offset: Float64Array): void {
    for (let i = 0; i < count; i++) {
      const p = partition[i];
      const current = this.position[p];
      if (current === null || offset[i] + 1 > current) this.position[p] = offset[i] + 1;
    }
  }

  /** A partition taken on (its checkpoint's position) or given up (null). */
  set(partition: number, position: number | null): void {
    this.position[partition] = position;
  }

  get current(): Array<number | null> {
    return this.position.slice();
  }

  /** Every partition has been read up to `ends` (per partition, an offset). */
  reached(ends: readonly number[]): boolean {
    return ends.every((end, p) => (this.position[p] ?? -Infinity) >= end);
  }
}

const median = (xs: number[]) => (xs.length ? xs.slice().sort((a, b) => a - b)[xs.length >> 1] : 0);

export class Checkpointer {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private failure: unknown = null;
  private readonly pauses: number[] = [];
  private readonly stages: number[] = [];
  private readonly writes: number[] = [];
  private lastBytes = 0;
  private totalBytes = 0;

  constructor(
    /** The store, or with a changelog the partition owner (src/runtime/partitions.ts). */
    private readonly store: Pick<StateStore, 'write'>,
    private readonly source: Source,
    private readonly restoredFrom: number | null,
    private readonly restoreMs: number,
    private readonly metrics: EngineMetrics,
  ) {}

  /** A checkpoint is still being written. */
  get busy(): boolean {
    return this.pending > 0;
  }

  /** Throws the failure of a checkpoint that failed in the background: the job cannot go on
   *  without losing the guarantee, so it stops with the reason. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * Takes a checkpoint at the boundary `at`, once everything before it is written to the sinks:
   * starts their flushes, notes the files' lengths and takes it in the background.
   */
  takeAfter(at: CheckpointAt, sinks: JobSinks, stage: (sinkBytes: SinkBytes) => Promise<StagedCheckpoint>): void {
    const all = SINK_NAMES.flatMap((name) => (sinks[name] ? [[name, sinks[name]!] as const] : []));
    const acked = all.map(([, sink]) => sink.flush());
    const sinkBytes: SinkBytes = {};
    for (const [name, sink] of all) if (sink.bytes !== undefined) sinkBytes[name] = sink.bytes;
    void this.take(() => stage(sinkBytes), acked, at.positions).catch(() => undefined);
  }

  /**
   * Takes a checkpoint in the background: `stage` it, then once `acked` (the sinks' flushes,
   * started at the checkpoint's boundary) resolve, write it and commit `positions`.
   */
  take(stage: () => Promise<StagedCheckpoint>, acked: Array<Promise<void>>, positions: Array<number | null>): Promise<void> {
    const flushed = Promise.all(acked);
    flushed.catch(() => undefined); // handled in the chain below
    const boundaryAtMs = performance.now();
    this.pending++;
    const done = this.chain.then(async () => {
      this.throwIfFailed();
      const stagedAt = performance.now();
      const staged = await stage();
      this.pauses.push(staged.longestSliceMs);
      this.stages.push(staged.stageMs);
      await flushed;
      faultPoint('after-sink-flush');
      await this.store.write(staged);
      this.writes.push(performance.now() - stagedAt);
      this.lastBytes = staged.bytes;
      this.totalBytes += staged.bytes;
      this.metrics.checkpoint((performance.now() - boundaryAtMs) / 1000, staged.longestSliceMs / 1000, staged.bytes);
      faultPoint('after-state-write');
      const due = positions.flatMap((offset, partition) => (offset === null ? [] : [{ partition, offset }]));
      if ((await this.source.commit?.(due)) === false) this.metrics.error('commit');
      faultPoint('after-commit');
    });
    this.chain = done.catch((e) => void (this.failure ??= e)).finally(() => this.pending--);
    return done;
  }

  /** Resolves when every checkpoint started so far is written (or one failed: see throwIfFailed). */
  idle(): Promise<void> {
    return this.chain;
  }

  stats(): CheckpointStats {
    return {
      count: this.writes.length,
      restoredFrom: this.restoredFrom,
      restoreMs: this.restoreMs,
      pauseMs: { p50: median(this.pauses), max: Math.max(0, ...this.pauses) },
      stageMs: { p50: median(this.stages), max: Math.max(0, ...this.stages) },
      writeMs: { p50: median(this.writes), max: Math.max(0, ...this.writes) },
      lastBytes: this.lastBytes,
      totalBytes: this.totalBytes,
    };
  }
}
