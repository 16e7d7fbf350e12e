// A worker task for test/native/threads.test.ts: score a slice of shared rows, then put the scores
// into a t-digest that lives in a shared region (the way window digests live in arenas).
import * as fs from 'node:fs';
import { native } from '../../src/native';
import { XGBoostModel } from '../../src/scoring/xgboost/xgboost-model';

export const DIGEST_WORDS = 4096;

export default function scoreAndDigest(task: { modelPath: string; rows: SharedArrayBuffer; region: SharedArrayBuffer; numFeatures: number; begin: number; end: number; slot: number }): number {
  const model = XGBoostModel.fromBytes(task.modelPath, fs.readFileSync(task.modelPath));
  const n = task.end - task.begin;
  const scores = model.predictSync(new Float32Array(task.rows, task.begin * task.numFeatures * 4, n * task.numFeatures), n);
  const region = new Float64Array(task.region);
  const at = task.slot * DIGEST_WORDS;
  native.digestInit(region, at, DIGEST_WORDS, 100);
  for (const s of scores) if (native.digestAdd(region, at, s) !== 0) throw new Error('digest block too small');
  return n;
}
