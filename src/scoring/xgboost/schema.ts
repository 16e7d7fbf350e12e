// Reads a parsed XGBoost model (from JSON or UBJSON, 1.x to 3.x) into the flat ForestSpec the addon
// evaluates. Every structural error names its place in the file, e.g.
// `learner.gradient_booster.model.trees[3].left_children: expected 15 integers, got 14`.
import { Transform, type ForestSpec } from '../../native/xgboost';

export class SchemaError extends Error {}

export interface ParsedModel {
  spec: ForestSpec;
  objective: string;
  booster: 'gbtree' | 'dart';
  numOutputs: number;
  featureNames?: string[];
  version?: number[];
}

/** Limits that stop a hostile file before it allocates; real models sit far below them. */
const LIMITS = { features: 1 << 20, groups: 1 << 16, trees: 1 << 20, nodesPerTree: 1 << 24, totalNodes: 1 << 27 };

const fail = (where: string, what: string): never => {
  throw new SchemaError(`${where}: ${what}`);
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

function obj(parent: Obj, key: string, where: string): Obj {
  const v = parent[key];
  if (!isObj(v)) fail(`${where}${key}`, `expected an object, got ${describe(v)}`);
  return v as Obj;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a typed array of ${(v as unknown as ArrayLike<number>).length}`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  return typeof v === 'object' ? 'an object' : String(v);
}

/** XGBoost stores many integers as strings ("127"); accepts both. */
function int(v: unknown, where: string, min: number, max: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    fail(where, `expected an integer from ${min} to ${max}, got ${describe(v)}`);
  }
  return n as number;
}

/** Float arrays read JSON null as NaN: that is how a NaN written by XGBoost comes back from JSON. */
function floats(v: unknown, where: string, length: number): ArrayLike<number> {
  if (Array.isArray(v)) return numbers(v.map((x) => (x === null ? NaN : x)), where, length);
  return numbers(v, where, length);
}

function numbers(v: unknown, where: string, length: number): ArrayLike<number> {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = v as unknown as ArrayLike<number>;
    if (a.length !== length) fail(where, `expected ${length} numbers, got ${a.length}`);
    return a;
  }
  if (!Array.isArray(v)) return fail(where, `expected an array of ${length} numbers, got ${describe(v)}`);
  if (v.length !== length) fail(where, `expected ${length} numbers, got ${v.length}`);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' && typeof x !== 'boolean') fail(`${where}[${i}]`, `expected a number, got ${describe(x)}`);
  }
  return v as number[];
}

function ints(v: unknown, where: string, length: number): Int32Array {
  const a = numbers(v, where, length);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const x = Number(a[i]);
    if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647) fail(`${where}[${i}]`, `expected an integer, got ${x}`);
    out[i] = x;
  }
  return out;
}

/** The array's length, before anything is copied, so sizes can be checked first. */
function lengthOf(v: unknown, where: string): number {
  if (Array.isArray(v)) return v.length;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return (v as unknown as ArrayLike<number>).length;
  return fail(where, `expected an array, got ${describe(v)}`);
}

const OBJECTIVES: Record<string, { transform: Transform; toMargin: (p: number, where: string) => number }> = {};
const identity = (p: number) => p;
const logit = (p: number, where: string) => {
  if (!(p > 0 && p < 1)) fail(where, `base_score must be in (0, 1) for a logistic objective, got ${p}`);
  return -Math.log(1 / p - 1);
};
const log = (p: number, where: string) => {
  if (!(p > 0)) fail(where, `base_score must be positive for a log-link objective, got ${p}`);
  return Math.log(p);
};
// binary:logitraw's base_score is already a margin in 1.7.4 (the parity fixture pins it).
for (const name of ['reg:squarederror', 'binary:logitraw']) OBJECTIVES[name] = { transform: Transform.Identity, toMargin: identity };
for (const name of ['reg:logistic', 'binary:logistic']) OBJECTIVES[name] = { transform: Transform.Sigmoid, toMargin: logit };
for (const name of ['count:poisson', 'reg:gamma', 'reg:tweedie']) OBJECTIVES[name] = { transform: Transform.Exp, toMargin: log };
OBJECTIVES['multi:softprob'] = { transform: Transform.Softmax, toMargin: identity };
OBJECTIVES['multi:softmax'] = { transform: Transform.Argmax, toMargin: identity };

function objectiveOf(name: string, where: string) {
  const o = OBJECTIVES[name] ?? (name.startsWith('rank:') ? { transform: Transform.Identity, toMargin: identity } : undefined);
  if (!o) {
    fail(where, `objective ${JSON.stringify(name)} is not supported; supported: ${Object.keys(OBJECTIVES).join(', ')}, rank:*`);
  }
  return o!;
}

/** "5E-1" (all versions) or "[5E-1,2E-1]" (3.1+, one per output group). */
function baseScores(v: unknown, where: string, numGroups: number): number[] {
  let values: unknown[];
  if (typeof v === 'number') values = [v];
  else if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('[')) {
      try {
        values = JSON.parse(s) as unknown[];
      } catch {
        return fail(where, `expected a number or an array of numbers, got ${describe(v)}`);
      }
      if (!Array.isArray(values)) fail(where, `expected an array of numbers, got ${describe(v)}`);
    } else values = [s === '' ? NaN : Number(s)];
  } else return fail(where, `expected a number as a string, got ${describe(v)}`);
  if (values.length !== 1 && values.length !== numGroups) {
    fail(where, `expected 1 or ${numGroups} values (one per output group), got ${values.length}`);
  }
  const out = values.map((x, i) => {
    const n = typeof x === 'string' ? Number(x) : x;
    if (typeof n !== 'number' || !Number.isFinite(n)) fail(where, `value ${i} is not a finite number: ${describe(x)}`);
    return n as number;
  });
  return values.length === 1 ? new Array(numGroups).fill(out[0]) : out;
}

interface TreeArrays {
  n: number;
  left: Int32Array;
  right: Int32Array;
  splitIndex: Int32Array;
  splitCondition: ArrayLike<number>;
  defaultLeft: ArrayLike<number>;
  cats: Map<number, Int32Array> | null; // node -> categories, for categorical nodes
}

function readTree(t: unknown, where: string, totalSoFar: number): TreeArrays {
  if (!isObj(t)) return fail(where, `expected a tree object, got ${describe(t)}`);
  const param = obj(t, 'tree_param', `${where}.`);
  const n = int(param.num_nodes, `${where}.tree_param.num_nodes`, 1, LIMITS.nodesPerTree);
  if (totalSoFar + n > LIMITS.totalNodes) fail(where, `the model has more than ${LIMITS.totalNodes} nodes in all`);
  const leafVector = param.size_leaf_vector === undefined ? 0 : int(param.size_leaf_vector, `${where}.tree_param.size_leaf_vector`, 0, 1 << 20);
  if (leafVector > 1) fail(`${where}.tree_param.size_leaf_vector`, `vector leaves (multi_strategy "multi_output_tree") are not supported, got ${leafVector}`);
  for (const k of ['left_children', 'right_children', 'split_indices', 'split_conditions', 'default_left']) {
    lengthOf(t[k], `${where}.${k}`);
  }
  const tree: TreeArrays = {
    n,
    left: ints(t.left_children, `${where}.left_children`, n),
    right: ints(t.right_children, `${where}.right_children`, n),
    splitIndex: ints(t.split_indices, `${where}.split_indices`, n),
    splitCondition: floats(t.split_conditions, `${where}.split_conditions`, n),
    defaultLeft: numbers(t.default_left, `${where}.default_left`, n),
    cats: null,
  };
  const splitType = t.split_type === undefined ? null : numbers(t.split_type, `${where}.split_type`, n);
  const catNodesLen = t.categories_nodes === undefined ? 0 : lengthOf(t.categories_nodes, `${where}.categories_nodes`);
  const hasCat = catNodesLen > 0 || (splitType !== null && Array.prototype.some.call(splitType, (x: number) => Number(x) === 1));
  if (hasCat) {
    const categories = t.categories;
    const nCategories = lengthOf(categories, `${where}.categories`);
    const nodes = ints(t.categories_nodes, `${where}.categories_nodes`, catNodesLen);
    const segments = ints(t.categories_segments, `${where}.categories_segments`, catNodesLen);
    const sizes = ints(t.categories_sizes, `${where}.categories_sizes`, catNodesLen);
    const values = ints(categories, `${where}.categories`, nCategories);
    tree.cats = new Map();
    for (let i = 0; i < catNodesLen; i++) {
      const node = nodes[i], beg = segments[i], size = sizes[i];
      if (node < 0 || node >= n) fail(`${where}.categories_nodes[${i}]`, `node ${node} is out of range (the tree has ${n} nodes)`);
      if (beg < 0 || size < 0 || beg + size > nCategories) {
        fail(`${where}.categories_segments[${i}]`, `segment [${beg}, ${beg + size}) is outside categories (${nCategories} values)`);
      }
      tree.cats.set(node, values.subarray(beg, beg + size));
    }
    if (splitType !== null) {
      for (let i = 0; i < n; i++) {
        if (Number(splitType[i]) === 1 && tree.left[i] !== -1 && !tree.cats.has(i)) tree.cats.set(i, new Int32Array(0));
      }
    }
  }
  return tree;
}

export function readModel(doc: unknown): ParsedModel {
  if (!isObj(doc)) return fail('(top level)', `expected an XGBoost model object, got ${describe(doc)}`);
  const learner = obj(doc, 'learner', '');
  const version = Array.isArray(doc.version) ? (doc.version as unknown[]).map((x) => (typeof x === 'number' ? x : NaN)) : undefined;
  const lmp = obj(learner, 'learner_model_param', 'learner.');
  const numFeatures = int(lmp.num_feature, 'learner.learner_model_param.num_feature', 1, LIMITS.features);
  const numClass = lmp.num_class === undefined ? 0 : int(lmp.num_class, 'learner.learner_model_param.num_class', 0, LIMITS.groups);
  const numTarget = lmp.num_target === undefined ? 1 : int(lmp.num_target, 'learner.learner_model_param.num_target', 1, LIMITS.groups);
  const numGroups = numClass > 0 ? numClass : numTarget;

  const objectiveName = obj(learner, 'objective', 'learner.').name;
  if (typeof objectiveName !== 'string') fail('learner.objective.name', `expected a string, got ${describe(objectiveName)}`);
  const objective = objectiveOf(objectiveName as string, 'learner.objective.name');

  const gb = obj(learner, 'gradient_booster', 'learner.');
  let booster: 'gbtree' | 'dart';
  let model: Obj;
  let modelWhere: string;
  let weights: ArrayLike<number> | null = null;
  if (gb.name === 'gbtree') {
    booster = 'gbtree';
    model = obj(gb, 'model', 'learner.gradient_booster.');
    modelWhere = 'learner.gradient_booster.model';
  } else if (gb.name === 'dart') {
    booster = 'dart';
    model = obj(obj(gb, 'gbtree', 'learner.gradient_booster.'), 'model', 'learner.gradient_booster.gbtree.');
    modelWhere = 'learner.gradient_booster.gbtree.model';
  } else {
    return fail('learner.gradient_booster.name', `expected "gbtree" or "dart", got ${describe(gb.name)} (gblinear models are not supported)`);
  }
  const trees = model.trees;
  const numTrees = lengthOf(trees, `${modelWhere}.trees`);
  if (!Array.isArray(trees)) return fail(`${modelWhere}.trees`, 'expected an array of tree objects');
  if (numTrees > LIMITS.trees) fail(`${modelWhere}.trees`, `more than ${LIMITS.trees} trees`);
  const treeInfo = ints(model.tree_info, `${modelWhere}.tree_info`, numTrees);
  // Tree weights: dart keeps weight_drop beside its gbtree; since 3.3 dart is a gbtree option and
  // weight_drop sits beside or inside the gbtree model.
  if (gb.weight_drop !== undefined) weights = floats(gb.weight_drop, 'learner.gradient_booster.weight_drop', numTrees);
  else if (model.weight_drop !== undefined) weights = floats(model.weight_drop, `${modelWhere}.weight_drop`, numTrees);
  else if (booster === 'dart') fail('learner.gradient_booster.weight_drop', 'a dart model needs weight_drop, one weight per tree');
  const param = model.gbtree_model_param;
  if (isObj(param) && param.num_trees !== undefined) {
    const declared = int(param.num_trees, `${modelWhere}.gbtree_model_param.num_trees`, 0, LIMITS.trees);
    if (declared !== numTrees) fail(`${modelWhere}.gbtree_model_param.num_trees`, `says ${declared} trees, but trees has ${numTrees}`);
  }

  const parsed: TreeArrays[] = [];
  let numNodes = 0;
  for (let i = 0; i < numTrees; i++) {
    const tr = readTree(trees[i], `${modelWhere}.trees[${i}]`, numNodes);
    parsed.push(tr);
    numNodes += tr.n;
  }
  const anyCat = parsed.some((t) => t.cats !== null);
  const spec: ForestSpec = {
    numFeatures,
    numGroups,
    transform: objective.transform,
    baseMargin: Float32Array.from(baseScores(lmp.base_score ?? '0.5', 'learner.learner_model_param.base_score', numGroups), (p) =>
      objective.toMargin(p, 'learner.learner_model_param.base_score'),
    ),
    treeNodeOffset: new Int32Array(numTrees + 1),
    treeGroup: treeInfo,
    treeWeight: new Float32Array(numTrees).fill(1),
    left: new Int32Array(numNodes),
    right: new Int32Array(numNodes),
    splitIndex: new Int32Array(numNodes),
    splitCondition: new Float32Array(numNodes),
    defaultLeft: new Uint8Array(numNodes),
    isCategorical: new Uint8Array(anyCat ? numNodes : 0),
    catNodeStart: new Int32Array(anyCat ? numNodes + 1 : 0),
    catValues: new Int32Array(0),
  };
  if (weights) for (let i = 0; i < numTrees; i++) spec.treeWeight[i] = Number(weights[i]);
  const catValues: number[] = [];
  let off = 0;
  parsed.forEach((t, i) => {
    spec.treeNodeOffset[i] = off;
    spec.left.set(t.left, off);
    spec.right.set(t.right, off);
    spec.splitIndex.set(t.splitIndex, off);
    for (let j = 0; j < t.n; j++) {
      spec.splitCondition[off + j] = Number(t.splitCondition[j]);
      spec.defaultLeft[off + j] = Number(t.defaultLeft[j]) ? 1 : 0;
      if (anyCat) {
        spec.catNodeStart[off + j] = catValues.length;
        const c = t.cats?.get(j);
        if (c) {
          spec.isCategorical[off + j] = 1;
          for (const x of c) catValues.push(x);
        }
      }
    }
    off += t.n;
  });
  spec.treeNodeOffset[numTrees] = off;
  if (anyCat) {
    spec.catNodeStart[numNodes] = catValues.length;
    spec.catValues = Int32Array.from(catValues);
  }

  let featureNames: string[] | undefined;
  const names = learner.feature_names;
  if (Array.isArray(names) && names.length > 0) {
    if (names.length !== numFeatures) fail('learner.feature_names', `expected ${numFeatures} names (num_feature), got ${names.length}`);
    names.forEach((s, i) => {
      if (typeof s !== 'string') fail(`learner.feature_names[${i}]`, `expected a string, got ${describe(s)}`);
    });
    featureNames = names as string[];
  }
  const numOutputs = objective.transform === Transform.Argmax ? 1 : numGroups;
  return { spec, objective: objectiveName as string, booster, numOutputs, featureNames, version };
}
