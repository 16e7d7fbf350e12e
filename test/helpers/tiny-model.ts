// Hand-built XGBoost model documents for tests that need exact control over every field.

export interface TinyTree {
  left: number[];
  right: number[];
  split: number[];
  cond: number[];
  defaultLeft?: number[];
}

/** A depth-1 stump on feature 0 at 0.5: leaves -1 (left) and +1 (right). */
export const STUMP: TinyTree = { left: [1, -1, -1], right: [2, -1, -1], split: [0, 0, 0], cond: [0.5, -1, 1], defaultLeft: [1, 0, 0] };

export function tinyModel(trees: TinyTree[], opts: { numFeature?: number; objective?: string; baseScore?: string; numClass?: number; treeInfo?: number[] } = {}) {
  return {
    learner: {
      attributes: {},
      feature_names: [],
      feature_types: [],
      gradient_booster: {
        model: {
          gbtree_model_param: { num_parallel_tree: '1', num_trees: String(trees.length), size_leaf_vector: '0' },
          tree_info: opts.treeInfo ?? trees.map(() => 0),
          trees: trees.map((t, id) => ({
            id,
            tree_param: { num_deleted: '0', num_feature: String(opts.numFeature ?? 4), num_nodes: String(t.left.length), size_leaf_vector: '0' },
            left_children: t.left,
            right_children: t.right,
            split_indices: t.split,
            split_conditions: t.cond,
            default_left: t.defaultLeft ?? t.left.map(() => 0),
            split_type: t.left.map(() => 0),
            categories: [],
            categories_nodes: [],
            categories_segments: [],
            categories_sizes: [],
            base_weights: t.cond,
            loss_changes: t.left.map(() => 0),
            sum_hessian: t.left.map(() => 1),
            parents: t.left.map(() => 2147483647),
          })),
        },
        name: 'gbtree',
      },
      learner_model_param: { base_score: opts.baseScore ?? '5E-1', num_class: String(opts.numClass ?? 0), num_feature: String(opts.numFeature ?? 4), num_target: '1' },
      objective: { name: opts.objective ?? 'reg:squarederror', reg_loss_param: { scale_pos_weight: '1' } },
    },
    version: [1, 7, 4],
  };
}
