// The models of a job as workers get them (small, sent once as workerData): every model the
// variants read, file models by path with the feature order they take, ensembles by member index.
import type { Combine } from '../config/types';

export type PlannedModel =
  | { name: string; version: string; kind: 'file'; type: 'xgboost' | 'onnx'; path: string; inputFeature: number[] }
  | { name: string; version: string; kind: 'ensemble'; members: number[]; combine: Combine; weights?: number[]; threshold?: number };

export interface ScoringPlan {
  models: PlannedModel[];
  /** Per variant, the index of its model in `models`, and its weight (src/models/variants.ts). */
  variantModel: number[];
  variantWeights: number[];
  /** Outputs per row, the same for every variant. */
  numOutputs: number;
}
