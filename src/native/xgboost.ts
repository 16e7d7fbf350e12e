// Types of the addon's XGBoost binding (native/xgboost/). Only src/native/index.ts loads the addon.

/** Output transforms; the numbers match xgb::Transform in native/xgboost/forest.h. */
export const enum Transform {
  Identity = 0,
  Sigmoid = 1,
  Exp = 2,
  Softmax = 3,
  Argmax = 4,
}

/**
 * A forest as flat arrays: XGBoost's per-tree node arrays concatenated, node indices local to
 * their tree, -1 children on leaves. The addon re-checks every index before it trusts one.
 */
export interface ForestSpec {
  numFeatures: number;
  numGroups: number;
  transform: Transform;
  baseMargin: Float32Array; // numGroups, margin space
  treeNodeOffset: Int32Array; // numTrees + 1
  treeGroup: Int32Array; // numTrees
  treeWeight: Float32Array; // numTrees: 1 for gbtree, weight_drop for dart
  left: Int32Array;
  right: Int32Array;
  splitIndex: Int32Array;
  splitCondition: Float32Array; // leaf value on leaves
  defaultLeft: Uint8Array;
  isCategorical: Uint8Array; // numNodes, or empty when no tree has a categorical split
  catNodeStart: Int32Array; // numNodes + 1 offsets into catValues (empty when isCategorical is)
  catValues: Int32Array;
}

export interface NativeForest {
  readonly numFeatures: number;
  readonly numGroups: number;
  readonly numOutputs: number;
  /** [sync] Scores after the transform; `out` may be a SharedArrayBuffer view. */
  predict(rows: Float32Array, nRows: number, out?: Float32Array): Float32Array;
  /** [sync] Margins before the transform, nRows x numGroups. */
  predictMargin(rows: Float32Array, nRows: number): Float32Array;
}

export interface XgbBinding {
  /** @throws Error with code SLUICE_MODEL_INVALID naming tree and node when the forest is unsound. */
  XgbForest: new (spec: ForestSpec) => NativeForest;
}
