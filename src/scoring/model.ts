// The model interface of SPEC §8, shared by XGBoost and ONNX models.

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
}
