// A Piscina task for test/native/threads.test.ts: score a slice of shared rows into shared output.
import { XGBoostModel } from '../../src/scoring/xgboost/xgboost-model';
import * as fs from 'node:fs';

const models = new Map<string, XGBoostModel>();

export default function scoreSlice(task: { modelPath: string; rows: SharedArrayBuffer; out: SharedArrayBuffer; numFeatures: number; numOutputs: number; begin: number; end: number }): number {
  let model = models.get(task.modelPath);
  if (!model) {
    model = XGBoostModel.fromBytes(task.modelPath, fs.readFileSync(task.modelPath));
    models.set(task.modelPath, model);
  }
  const n = task.end - task.begin;
  const rows = new Float32Array(task.rows, task.begin * task.numFeatures * 4, n * task.numFeatures);
  const out = new Float32Array(task.out, task.begin * task.numOutputs * 4, n * task.numOutputs);
  model.predictInto(rows, n, out);
  return n;
}
