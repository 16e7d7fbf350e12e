// One scoring task, as a score worker runs it: rows in a SharedArrayBuffer in, scores out.
import { cachedModel } from './load-model';

export interface ScoreTask {
  modelPath: string;
  format?: 'xgboost' | 'onnx';
  /** Float32 rows, row-major, nRows x numFeatures, from byte 0. */
  rows: SharedArrayBuffer;
  nRows: number;
  /** Float32 scores, nRows x numOutputs, from byte 0; written by the worker. */
  out: SharedArrayBuffer;
}

export async function runScoreTask(task: ScoreTask): Promise<number> {
  const model = await cachedModel(task.modelPath, task.format ?? (task.modelPath.toLowerCase().endsWith('.onnx') ? 'onnx' : 'xgboost'));
  const rows = new Float32Array(task.rows, 0, task.nRows * model.numFeatures);
  const out = new Float32Array(task.out, 0, task.nRows * model.numOutputs);
  out.set(model.predictSync ? model.predictSync(rows, task.nRows) : await model.predict(rows, task.nRows));
  return task.nRows;
}
