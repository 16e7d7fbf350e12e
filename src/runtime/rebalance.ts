// Rebalances of a changelog job (SPEC §15), as the source reports them: the pipeline pauses
// between batches while partitions move. Revoke (before the group completes): everything read is
// written, and a checkpoint of every held partition is taken; the states stay in memory. Assign:
// partitions that come straight back keep their state; the rest are taken on (local copy or
// changelog) or dropped, and reading starts from each one's checkpointed position.
import { logger } from '../log';
import type { PartitionState } from '../state/arena';
import { Arena } from '../state/arena';
import type { WatermarkTracker } from '../time/watermark';
import type { PositionTracker } from './checkpoints';
import type { Dispatcher } from './dispatch';
import type { PartitionOwner } from './partitions';
import type { EngineMetrics, RebalanceListener } from './ports';

const log = logger('partitions');

export class Rebalancer implements RebalanceListener {
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  /** Revokes and assigns run one after another: a rebalance can start while partitions of the
   *  last one are still being restored, and a checkpoint must not see them half taken on. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly taken = { changelog: 0, local: 0, none: 0, rebalances: 0 };

  constructor(
    private readonly owner: PartitionOwner,
    private readonly dispatcher: Dispatcher,
    private readonly tracker: WatermarkTracker,
    private readonly positions: PositionTracker,
    private readonly metrics: EngineMetrics,
    /** Resolves once every batch read so far is written and checkpoints are done. */
    private readonly drain: () => Promise<void>,
    /** Takes a checkpoint of the states as they are, and resolves once it is written. */
    private readonly checkpointNow: () => Promise<void>,
    private readonly empty: () => PartitionState,
  ) {}

  /** The engine's loop waits here, between batches, while partitions move. */
  async between(): Promise<void> {
    while (this.gate) await this.gate;
  }

  revoke(): Promise<void> {
    return this.serially(() => this.revokeNow());
  }

  assign(partitions: number[]): Promise<Map<number, number | null>> {
    return this.serially(() => this.assignNow(partitions));
  }

  /** The group lost this member without a revoke (a consumer restart): stop writing at once. */
  lost(): void {
    this.owner.suspend();
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Partitions taken on so far, by where from, and rebalances (the run summary). */
  stats(): typeof this.taken {
    return { ...this.taken };
  }

  private async revokeNow(): Promise<void> {
    const held = this.owner.held;
    this.metrics.rebalance();
    this.taken.rebalances++;
    if (held.length === 0) return;
    const startedAt = performance.now();
    await this.pause();
    try {
      await this.checkpointNow();
      // Until the group assigns again, no timed checkpoint writes partitions another process
      // may be taking on.
      this.owner.suspend();
    } finally {
      this.resume();
    }
    log.info('partitions revoked', { partitions: held, checkpointMs: Math.round(performance.now() - startedAt) });
  }

  private async assignNow(partitions: number[]): Promise<Map<number, number | null>> {
    await this.pause();
    try {
      const before = this.owner.held;
      const taken = await this.owner.take(partitions);
      for (const p of before) {
        if (partitions.includes(p)) continue;
        this.dispatcher.replace(p, this.empty());
        this.positions.set(p, null);
        this.tracker.restorePartition(p, null);
      }
      for (const t of taken) {
        if (t.state) {
          this.dispatcher.replace(t.partition, t.state);
          this.positions.set(t.partition, t.position);
          this.tracker.restorePartition(t.partition, t.maxEventTimeMs);
        }
        this.taken[t.from]++;
        const windows = t.state ? t.windows : Arena.peek(this.dispatcher.current[t.partition]).liveSlots;
        log.info('partition assigned', { partition: t.partition, restoredFrom: t.from, ...(t.state ? {} : { inMemory: true }), windows, ms: Math.round(t.ms) });
      }
      this.metrics.assignedPartitions(partitions.length);
      const at = this.positions.current;
      return new Map(partitions.map((p) => [p, at[p]]));
    } finally {
      this.resume();
    }
  }

  private async pause(): Promise<void> {
    if (!this.gate) this.gate = new Promise((resolve) => (this.openGate = resolve));
    await this.drain();
  }

  private resume(): void {
    const open = this.openGate;
    this.gate = null;
    this.openGate = null;
    open?.();
  }
}
