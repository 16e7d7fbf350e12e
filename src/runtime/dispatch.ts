// The dispatch stage: runs a routed batch's work on the pool, one task per worker thread, and
// keeps each key partition's committed state between tasks. Partition p is always in group
// p % groups, and a group's task waits for its previous one, so a partition's tasks run one at a
// time, in order. A task works on a copy of its partitions' states (src/state/arena.ts); its
// result replaces them only when it succeeds.
import type { KeyNamesBuffers } from '../decode/key-names';
import { SluiceError } from '../errors';
import { logger } from '../log';
import { Arena, type PartitionState } from '../state/arena';
import { BatchHeader, type EventBatch } from '../state/batch';
import { TaskOutput } from '../state/output';
import type { FiredOutput } from './emitter';
import { TaskTimeout, type WindowPool } from './pool';
import type { EngineMetrics } from './ports';
import type { PlanVersions } from '../models/plan';
import type { ScoredSample } from '../models/calls';
import type { PartitionWork, PooledWindowTask, WindowTaskResult } from './protocol';
import type { SummaryBuilder } from './summary';

const log = logger('engine');

/** What to do when a task runs past model.timeoutMs. */
export interface TimeoutPolicy {
  /** The models that score, for messages. */
  models: string;
  /** Where the job file sets timeoutMs and onTimeout: model (the shorthand) or scoring. */
  at: 'model' | 'scoring';
  onTimeout: 'fail' | 'dead-letter';
  /** scoring.onError is set: a timed-out task runs again with its rows failed, for the fallback. */
  fallback: boolean;
  timeoutMs: number;
}

/** Tests only: fail the task of this (batch number, partition) once, part-way. */
export type FailTask = { batch: number; partition: number; how: 'throw' | 'exit' };

export class Dispatcher {
  private readonly groups: number[][];
  private readonly chains: Array<Promise<unknown>>;
  /** Per partition: the state before its last task, which the next task's copy may go into. */
  private readonly spares: Array<PartitionState | undefined>;
  /** States a checkpoint still has to stage (count per state): never reused as a spare. */
  private readonly pinned = new Map<PartitionState, number>();
  /** Per partition, from its last task: the time of its next timer, open windows, state bytes. */
  private readonly nextTimerMs: Float64Array;
  private readonly openWindows: Float64Array;
  private readonly stateBytes: Float64Array;
  /** Inline tasks may change unpinned states in place (WindowPool.inPlace). */
  private readonly inPlace: boolean;

  constructor(
    private readonly pool: WindowPool,
    /** Each key partition's committed state; replaced as tasks finish. */
    private readonly states: PartitionState[],
    private readonly timeout: TimeoutPolicy,
    private readonly summary: SummaryBuilder,
    private readonly metrics: EngineMetrics,
    /** Rows the tasks' model versions scored (the models' reload checks). */
    private readonly noteSamples: (samples: ScoredSample[] | undefined) => void,
    private readonly failTask?: FailTask,
  ) {
    const P = states.length;
    this.inPlace = pool.inPlace;
    this.groups = Array.from({ length: Math.min(P, pool.threads) }, () => []);
    for (let p = 0; p < P; p++) this.groups[p % this.groups.length].push(p);
    this.chains = this.groups.map(() => Promise.resolve());
    this.spares = new Array(P);
    this.nextTimerMs = new Float64Array(P).fill(Infinity);
    this.openWindows = new Float64Array(P);
    this.stateBytes = new Float64Array(P);
    for (let p = 0; p < P; p++) ({ liveSlots: this.openWindows[p], nextTimerMs: this.nextTimerMs[p] } = Arena.peek(states[p]));
  }

  /** Windows open in all partitions, as of their last tasks. */
  get totalOpenWindows(): number {
    return this.openWindows.reduce((a, b) => a + b, 0);
  }

  get totalStateBytes(): number {
    return this.stateBytes.reduce((a, b) => a + b, 0);
  }

  /**
   * Starts the batch's tasks; resolves with its partitions' outputs. With `pinTo`, each
   * partition's state after the batch goes into pinTo[p] (a checkpoint's), kept from reuse until
   * unpin. `versions`: the models' versions, once one was reloaded. `delayMs` slows the tasks
   * down (tests). `live`: the source is keeping up, so small tasks may run inline (WindowPool.run).
   */
  dispatch(batch: EventBatch, number: number, keys: KeyNamesBuffers, versions: PlanVersions | undefined, opts: { pinTo?: PartitionState[]; delayMs?: number; live?: boolean } = {}): Promise<FiredOutput[]> {
    const { pinTo, delayMs, live = false } = opts;
    const watermarkAfterMs = batch.header[BatchHeader.WatermarkAfterMs];
    const tasks: Array<Promise<FiredOutput[]>> = [];
    for (let g = 0; g < this.groups.length; g++) {
      // Only once the group's previous task is done are its partitions' next timers known, so
      // the check whether a partition without events has windows to fire is made in the chain.
      const run = this.chains[g].then(async (): Promise<FiredOutput[]> => {
        const parts: PartitionWork[] = [];
        let taskEvents = 0;
        for (const p of this.groups[g]) {
          const events = batch.partitionStart[p + 1] - batch.partitionStart[p];
          taskEvents += events;
          const afterMs = batch.partitionClocks ? batch.partitionClock[3 * p + 1] : watermarkAfterMs;
          if (events === 0 && !(this.nextTimerMs[p] <= afterMs)) continue;
          const fail = this.failTask && this.failTask.batch === number && this.failTask.partition === p ? this.failTask.how : undefined;
          const inPlace = this.inPlace && !this.pinned.has(this.states[p]) ? true : undefined;
          parts.push({ partition: p, state: this.states[p], spare: this.spares[p], inPlace, failMidTask: fail, delayMs });
        }
        const out = parts.length > 0 ? this.commit(parts, await this.runTask({ batch: batch.buffer, keys, versions, parts }, taskEvents, live)) : null;
        if (pinTo) for (const p of this.groups[g]) this.pin((pinTo[p] = this.states[p]));
        return out ? [out] : [];
      });
      this.chains[g] = run.catch(() => undefined);
      tasks.push(run);
    }
    return Promise.all(tasks).then((outs) => outs.flat());
  }

  /** Replaces a partition's state (taken on or given up, SPEC §15), between batches only. */
  replace(p: number, state: PartitionState): void {
    this.states[p] = state;
    this.spares[p] = undefined;
    ({ liveSlots: this.openWindows[p], nextTimerMs: this.nextTimerMs[p] } = Arena.peek(state));
    this.stateBytes[p] = Arena.bytesOf(state);
  }

  /** The committed states as they are now (between batches: those of the last batch). */
  get current(): readonly PartitionState[] {
    return this.states;
  }

  /** Releases states pinned by a dispatch with `pinTo` (the checkpoint has staged them). */
  unpin(list: PartitionState[]): void {
    for (const s of list) {
      const n = this.pinned.get(s)!;
      if (n > 1) this.pinned.set(s, n - 1);
      else this.pinned.delete(s);
    }
  }

  private pin(s: PartitionState): void {
    this.pinned.set(s, (this.pinned.get(s) ?? 0) + 1);
  }

  /** A task succeeded: its partitions' states become the committed ones. */
  private commit(parts: PartitionWork[], r: WindowTaskResult): FiredOutput {
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i].partition;
      const s = r.parts[i];
      // Nothing reads the old state any more (unless a checkpoint has yet to stage it): the next
      // task copies into it. Copying into fresh memory instead would leave a partition's worth of
      // SharedArrayBuffers per task for the garbage collector, which frees them far too late
      // (measured: RSS grew without bound). A task that changed the state in place keeps the spare.
      if (s.state !== this.states[p]) this.spares[p] = this.pinned.has(this.states[p]) ? undefined : this.states[p];
      this.states[p] = s.state;
      this.openWindows[p] = s.openWindows;
      this.stateBytes[p] = s.stateBytes;
      this.nextTimerMs[p] = s.nextTimerMs;
      this.summary.lateEvents += s.counters.lateEvents;
      this.summary.expiredAssignments += s.counters.expiredAssignments;
      this.metrics.lateEvents(s.counters.lateEvents);
      this.metrics.expiredAssignments(s.counters.expiredAssignments);
    }
    this.summary.workerBusyMs += r.busyMs;
    this.summary.tasks++;
    if (r.inline) this.summary.inlineTasks++;
    this.metrics.scored(r.scoredRows, r.scoreMs / 1000);
    this.noteSamples(r.samples);
    for (const e of r.scoring?.errors ?? []) this.metrics.modelErrors(e.model, e.kind, e.rows);
    for (const f of r.scoring?.fallbacks ?? []) this.metrics.modelFallbacks(f.model, f.fallback, f.rows);
    for (const c of r.scoring?.cache ?? []) this.metrics.modelCache(c.model, c.hits, c.misses);
    for (const h of r.scoring?.scores ?? []) this.metrics.modelScores(h.model, h.buckets, h.sum);
    return { out: new TaskOutput(r.output), records: r.records };
  }

  /** A pooled task; past model.timeoutMs its rows are model errors for scoring.onError's
   *  fallback, if any; without one (or if that times out too) the policy decides: fail the job,
   *  or run it again without the model and dead-letter its windows. */
  private async runTask(task: PooledWindowTask, events: number, live: boolean): Promise<WindowTaskResult> {
    // Retries go without spares: the timed-out worker may still be writing into them.
    const again = (change: Partial<PooledWindowTask>) => ({ ...task, ...change, parts: task.parts.map((p) => ({ ...p, spare: undefined, delayMs: undefined })) });
    try {
      return await this.pool.run(task, events, live);
    } catch (e) {
      if (!(e instanceof TaskTimeout)) throw e;
      this.metrics.error('model-timeout');
      if (this.timeout.fallback && !task.failedWhy) {
        log.warn(`model ${this.timeout.models}: ${e.message} (${this.timeout.at}.timeoutMs); its windows go to the fallback (scoring.onError)`);
        const failedWhy = `the model call did not finish within ${this.timeout.at}.timeoutMs (${this.timeout.timeoutMs} ms)`;
        return this.runTask(again({ failedWhy }), events, live);
      }
      const at = this.timeout.at;
      const what = `model ${this.timeout.models}: ${e.message} (${at}.timeoutMs): its model call hung or is too slow`;
      if (this.timeout.onTimeout === 'fail') throw new SluiceError('SLUICE_RUNTIME', `${what}; raise ${at}.timeoutMs, or set ${at}.onTimeout: dead-letter to go on without those windows' scores`);
      log.warn(`${what}; its windows go to the dead letters unscored (${at}.onTimeout: dead-letter)`);
      return this.pool.run(again({ noScore: true }));
    }
  }
}
