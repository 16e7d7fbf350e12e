// One scoring task, as a score worker runs it: rows in a SharedArrayBuffer in, scores out; a
// candidate model version's check (SPEC §12 hot reload in `sluice serve`); or a model's load.
import { threadId } from 'node:worker_threads';
import { checkCandidate, type CandidateCheck, type CheckOutcome } from '../models/check';
import { cachedModel, formatOf } from './load-model';
import { XGBoostModel } from './xgboost/xgboost-model';

export interface ScoreTask {
  modelPath: string;
  format?: 'xgboost' | 'onnx';
  /** Float32 rows, row-major, nRows x numFeatures, from byte 0. */
  rows: SharedArrayBuffer;
  nRows: number;
  /** Float32 scores, nRows x numOutputs, from byte 0; written by the worker. */
  out: SharedArrayBuffer;
}

export interface CheckTask {
  check: CandidateCheck;
}

/** Loads a model into this worker's cache ahead of its first batch. */
export interface WarmTask {
  warm: string;
  format: 'xgboost' | 'onnx';
}

export async function runScoreTask(task: ScoreTask | CheckTask | WarmTask): Promise<number | CheckOutcome> {
  if ('check' in task) return checkCandidate(task.check);
  if ('warm' in task) {
    await cachedModel(task.warm, task.format);
    return threadId; // so that the pool can tell which workers have it
  }
  const model = await cachedModel(task.modelPath, task.format ?? formatOf(task.modelPath));
  const rows = new Float32Array(task.rows, 0, task.nRows * model.numFeatures);
  const out = new Float32Array(task.out, 0, task.nRows * model.numOutputs);
  if (model instanceof XGBoostModel) model.predictInto(rows, task.nRows, out); // no copy
  else out.set(await model.predict(rows, task.nRows));
  return task.nRows;
}
