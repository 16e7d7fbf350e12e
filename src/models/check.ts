// A candidate version of a model, tried off the hot path (SPEC §12) on the window pool's checker
// thread (src/runtime/pool.ts): it must load, and score the rows the version in force scored last
// to finite values. The main thread compares its shape with the version in force
// (src/models/versions.ts).
import { loadModel } from '../scoring/load-model';
import type { Model } from '../scoring/model';

export interface CandidateCheck {
  /** The candidate's bytes, where workers will load them from if it is accepted. */
  path: string;
  type: 'xgboost' | 'onnx';
  /** Rows the version in force scored (rows x width, in its input order). */
  rows: Float32Array;
  width: number;
}

export type CheckOutcome =
  | { loaded: false; why: string }
  | { loaded: true; numFeatures: number; numOutputs: number; featureNames?: string[]; scoredRows: number; firstNonFinite: number | null };

export async function checkCandidate(c: CandidateCheck): Promise<CheckOutcome> {
  // Loaded on its own (the checker thread lives with the job: a cache there would keep every
  // candidate); window workers load an accepted version when a window needs it.
  let model: Model;
  try {
    model = await loadModel(c.path, { format: c.type });
  } catch (e) {
    return { loaded: false, why: String((e as Error).message ?? e).split('\n')[0] };
  }
  const shape = { loaded: true as const, numFeatures: model.numFeatures, numOutputs: model.numOutputs, featureNames: model.featureNames };
  const nRows = c.width > 0 ? Math.floor(c.rows.length / c.width) : 0;
  if (model.numFeatures !== c.width || nRows === 0) {
    // Another width: the main thread refuses it by its shape; it never scores here.
    return { ...shape, scoredRows: 0, firstNonFinite: null };
  }
  let out: Float32Array;
  try {
    out = model.predictSync ? model.predictSync(c.rows, nRows) : await model.predict(c.rows, nRows);
  } catch (e) {
    return { loaded: false, why: `it fails to score: ${String((e as Error).message ?? e).split('\n')[0]}` };
  }
  let firstNonFinite: number | null = null;
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) {
      firstNonFinite = Math.floor(i / model.numOutputs);
      break;
    }
  }
  return { ...shape, scoredRows: nRows, firstNonFinite };
}
