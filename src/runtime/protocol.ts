// The messages between the main thread and window workers. Types only: both sides import it.
import type { FeatureConfig, WindowConfig } from '../config/types';
import type { KeyNamesBuffers } from '../decode/key-names';
import type { EncodedTaskRecords, RecordsSpec } from './result-records';
import type { OperatorCounters } from '../windows/operator';
import type { PartitionState } from '../state/arena';
import type { PlanVersions, ScoringPlan } from '../models/plan';
import type { ScoredSample } from '../models/calls';
import type { ScoringCounts } from '../models/scorer';

/** What a worker needs to know about the job; small, sent with every task (workers cache by jobId). */
export interface WorkerJobSpec {
  jobId: string;
  /** windows, or per-event (SPEC §13): a result per event. */
  mode: 'windows' | 'per-event';
  window: WindowConfig;
  features: FeatureConfig[];
  /** The models and the variants that score (src/models/plan.ts). */
  scoring: ScoringPlan;
  /** How the worker writes the result records. */
  records: RecordsSpec;
}

/** One key partition's share of a pooled task. */
export interface PartitionWork {
  partition: number;
  /** The partition's committed state; the worker works on a copy and returns it. */
  state: PartitionState;
  /** Buffers the copy may go into (the partition's state before the last task), if any. */
  spare?: PartitionState;
  /** Run inline (src/runtime/pool.ts), the task may change the committed state itself, not a
   *  copy: no checkpoint has it to stage. Never sent to a worker. */
  inPlace?: boolean;
  /** Tests only: make the worker fail this task part-way, to prove a retry loses nothing. */
  failMidTask?: 'throw' | 'exit';
  /** Tests only: make the task take this much longer (a slow handler, or a slow model). */
  delayMs?: number;
}

/**
 * A task as the pool sends it: one batch, several partitions, applied one after another into one
 * output, then scored and written as records once, all or nothing (each partition works on a copy
 * of its state, so a failed task is simply run again). One task per worker thread per batch, not
 * one per partition, and the job spec only once, as the workers' workerData: per-task messaging
 * was a fifth of the main thread at thousands of tasks a second, and a scoring call, an output
 * and a records buffer per partition cost ~250 µs each for a few rows.
 */
export interface PooledWindowTask {
  /** An EventBatch buffer (src/state/batch.ts) shared by every partition's task of the batch. */
  batch: SharedArrayBuffer;
  /** The key names as of the batch (src/decode/key-names.ts): its results' keys are in them. */
  keys: KeyNamesBuffers;
  /** The models' versions, once one was reloaded (the job spec has the ones at start). */
  versions?: PlanVersions;
  parts: PartitionWork[];
  /** A made-up task before the first record (src/runtime/warm-up.ts): remote models are not called. */
  warmUp?: boolean;
  /** Fire windows without calling the model: the task timed out before (model.onTimeout). */
  noScore?: boolean;
  /** Fire windows with every variant's call failed for this reason (the task timed out before):
   *  the fallback scores them (scoring.onError). */
  failedWhy?: string;
}

/** A pooled task with its job, as window-task.ts runs it. */
export interface WindowTask extends PooledWindowTask {
  job: WorkerJobSpec;
}

export interface WindowWorkerData {
  job: WorkerJobSpec;
}

/** A partition's state after a task, and what the main thread keeps of it. */
export interface PartitionResult {
  state: PartitionState;
  nextTimerMs: number;
  counters: OperatorCounters;
  /** Windows open and bytes of state after the task (for the summary's peaks). */
  openWindows: number;
  stateBytes: number;
}

export interface WindowTaskResult {
  /** Per partition of the task, in its order. */
  parts: PartitionResult[];
  /** A TaskOutput buffer (src/state/output.ts) of all the task's partitions, with scores filled
   *  in, results in output order. */
  output: SharedArrayBuffer;
  /** Its results encoded as records, row for row (dead letters for an unscored task's windows). */
  records: EncodedTaskRecords;
  /** Time the worker spent on the task, and of it on the model's calls for scoredRows windows. */
  busyMs: number;
  scoreMs: number;
  scoredRows: number;
  /** Rows some model versions scored (the check rows of a reload, SPEC §12). */
  samples?: ScoredSample[];
  /** Model errors and fallbacks (metrics). */
  scoring?: ScoringCounts;
  /** Run on the main thread, not a worker (set by the pool). */
  inline?: boolean;
}
