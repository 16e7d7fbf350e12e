// Scores fired windows in bulk: one model call per task for all its windows (SPEC §1: scoring
// batches many windows per addon or onnxruntime call). The model sees each window's features,
// picked and ordered by model.inputs, cast to float32 (SPEC §6 Scores).
import type { TaskOutput } from '../state/output';
import { loadModel } from './load-model';
import type { Model } from './model';

const models = new Map<string, Promise<Model>>();

/** One model per file and thread, loaded on first use and kept. */
export function cachedModel(path: string, type: 'xgboost' | 'onnx'): Promise<Model> {
  let m = models.get(path);
  if (!m) {
    m = loadModel(path, { format: type });
    models.set(path, m);
    m.catch(() => models.delete(path)); // a failed load is retried next time
  }
  return m;
}

/**
 * Fills output.scores for every non-retraction row; inputFeature[i] is the feature feeding input i.
 * Resolves to the milliseconds spent scoring (for ONNX, this includes waiting for the session).
 */
export async function scoreWindows(model: Model, output: TaskOutput, inputFeature: readonly number[]): Promise<number> {
  const startedAt = performance.now();
  const rows: number[] = [];
  for (let r = 0; r < output.numResults; r++) if (!output.retracted[r]) rows.push(r);
  if (rows.length === 0) return 0;
  const width = inputFeature.length;
  const F = output.numFeatures;
  const input = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    for (let j = 0; j < width; j++) input[i * width + j] = output.features[r * F + inputFeature[j]];
  });
  const scores = model.predictSync ? model.predictSync(input, rows.length) : await model.predict(input, rows.length);
  const k = output.numOutputs;
  rows.forEach((r, i) => output.scores.set(scores.subarray(i * k, i * k + k), r * k));
  return performance.now() - startedAt;
}
