// The model interface of SPEC §8, shared by XGBoost and ONNX models.
import { SluiceError } from '../errors';

export interface Model {
  /** Width of one input row. */
  readonly numFeatures: number;
  /** Values per row in the output (classes for multi:softprob, 1 for most objectives). */
  readonly numOutputs: number;
  /** Input names when the model file carries them. */
  readonly featureNames?: string[];
  /** Scores rows (row-major, NaN = missing); resolves to nRows x numOutputs values. */
  predict(rows: Float32Array, nRows: number): Promise<Float32Array>;
  /** Synchronous scoring; XGBoost models have it, ONNX models do not. */
  predictSync?(rows: Float32Array, nRows: number): Float32Array;
}

export interface LoadModelOptions {
  /** Force the format instead of guessing it from the file name and contents. */
  format?: 'xgboost' | 'onnx';
  /** Refuse a file larger than this (the job's model.maxBytes). */
  maxBytes?: number;
}

/** Checks that `rows` holds nRows full rows for a model of numFeatures inputs; returns nRows. */
export function checkRows(file: string, numFeatures: number, rows: Float32Array, nRows: number): number {
  if (!(rows instanceof Float32Array)) {
    throw new SluiceError('SLUICE_MODEL_INPUT', `${file}: rows must be a Float32Array`);
  }
  if (!Number.isInteger(nRows) || nRows < 0 || nRows * numFeatures > rows.length) {
    throw new SluiceError(
      'SLUICE_MODEL_INPUT',
      `${file}: expected ${nRows} rows of ${numFeatures} features (${nRows * numFeatures} values), got ${rows.length} values`,
    );
  }
  return nRows;
}
