// Bad model files: each kind gets one clear SLUICE_MODEL_INVALID error naming the file and the
// place, and never a crash.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { XGBoostModel } from '../../../src/scoring/xgboost/xgboost-model';
import { loadModel } from '../../../src/scoring/load-model';
import { STUMP, tinyModel, type TinyTree } from '../../helpers/tiny-model';
import { encodeUbjson } from '../../helpers/ubjson-encode';

const FILE = 'bad.json';
const json = (doc: unknown) => new Uint8Array(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)));

function rejects(bytes: Uint8Array, pattern: RegExp) {
  assert.throws(
    () => XGBoostModel.fromBytes(FILE, bytes),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'SLUICE_MODEL_INVALID', e.message);
      assert.ok(e.message.startsWith(`${FILE}: `), `message names the file: ${e.message}`);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

const withTree = (t: Partial<TinyTree>, opts = {}) => tinyModel([{ ...STUMP, ...t }], opts);

test('the stump itself loads and scores', () => {
  const m = XGBoostModel.fromBytes(FILE, json(tinyModel([STUMP])));
  assert.deepEqual(Array.from(m.predictSync(new Float32Array([0, 0, 0, 0, 1, 0, 0, 0, NaN, 0, 0, 0]), 3)), [-0.5, 1.5, -0.5]);
});

test('missing file', async () => {
  await assert.rejects(loadModel('/nonexistent/model.json'), /model\.json: cannot read the file \(ENOENT\)/);
});

test('empty file', () => rejects(new Uint8Array(0), /the file is empty/));

test('truncated JSON', () => {
  const text = JSON.stringify(tinyModel([STUMP]));
  rejects(json(text.slice(0, text.length / 2)), /not valid JSON/);
});

test('truncated UBJSON', () => {
  const bytes = encodeUbjson(tinyModel([STUMP]));
  rejects(bytes.subarray(0, bytes.length - 7), /not valid UBJSON: UBJSON at byte \d+: .*does not fit in the 6 bytes left/);
  rejects(bytes.subarray(0, 40), /not valid UBJSON: UBJSON at byte \d+: .*(the file ends|does not fit)/);
});

test('UBJSON with trailing garbage', () => {
  const bytes = encodeUbjson(tinyModel([STUMP]));
  rejects(new Uint8Array([...bytes, 0x5a, 0x5a]), /trailing data/);
});

test('not a model: other JSON, binary data', () => {
  rejects(json([1, 2, 3]), /not an XGBoost model|expected an XGBoost model object/);
  rejects(json({ hello: 'world' }), /learner: expected an object, got nothing/);
  rejects(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]), /not an XGBoost model/);
});

test('wrong types', () => {
  const m = tinyModel([STUMP]) as any;
  m.learner.learner_model_param.num_feature = 'four';
  rejects(json(m), /learner\.learner_model_param\.num_feature: expected an integer from 1 to \d+, got "four"/);
  const m2 = tinyModel([STUMP]) as any;
  m2.learner.gradient_booster.model.trees[0].left_children = 'abc';
  rejects(json(m2), /trees\[0\]\.left_children: expected an array, got "abc"/);
  const m3 = tinyModel([STUMP]) as any;
  m3.learner.gradient_booster.model.trees[0].split_conditions = [0.5, 'x', 1];
  rejects(json(m3), /trees\[0\]\.split_conditions\[1\]: expected a number, got "x"/);
  const m4 = tinyModel([STUMP]) as any;
  m4.learner.gradient_booster.model.trees[0].right_children = [2, -1];
  rejects(json(m4), /trees\[0\]\.right_children: expected 3 numbers, got 2/);
});

test('a feature index beyond the row width', () => {
  rejects(json(withTree({ split: [7, 0, 0] })), /tree 0 node 0: split feature 7 is out of range \(the model has 4 features\)/);
  rejects(json(withTree({ split: [-1, 0, 0] })), /split feature -1 is out of range/);
});

test('child indices out of range', () => {
  rejects(json(withTree({ left: [9, -1, -1] })), /tree 0 node 0: child index 9 is out of range \(the tree has 3 nodes\)/);
  rejects(json(withTree({ right: [-4, -1, -1] })), /child index -4 is out of range/);
});

test('child indices forming a cycle or sharing a node', () => {
  // node 2 points back to the root
  rejects(json(withTree({ left: [1, -1, 0], right: [2, -1, 1], cond: [0.5, -1, 0.2] })), /tree 0 node 2: child \d is reached twice: the tree has a cycle/);
  rejects(json(withTree({ left: [1, -1, -1], right: [1, -1, -1] })), /child 1 is reached twice/);
});

test('NaN thresholds and leaves (only UBJSON can carry NaN)', () => {
  rejects(encodeUbjson(withTree({ cond: [NaN, -1, 1] })), /tree 0 node 0: split condition is NaN/);
  rejects(encodeUbjson(withTree({ cond: [0.5, NaN, 1] })), /tree 0 node 1: leaf value is not a finite number/);
  // XGBoost writes NaN as a bare word in JSON; it reads back as NaN, and so as a NaN threshold.
  rejects(json(JSON.stringify(withTree({})).replace('"split_conditions":[0.5', '"split_conditions":[NaN')), /tree 0 node 0: split condition is NaN/);
  rejects(json(withTree({ cond: ['x' as unknown as number, -1, 1] })), /split_conditions\[0\]: expected a number, got "x"/);
});

test('huge sizes are refused before anything is allocated', () => {
  const m = tinyModel([STUMP]) as any;
  m.learner.gradient_booster.model.trees[0].tree_param.num_nodes = '99999999999';
  rejects(json(m), /tree_param\.num_nodes: expected an integer from 1 to 16777216, got "99999999999"/);
  // a UBJSON typed array that claims 2^40 elements
  const bytes = Buffer.from(encodeUbjson(tinyModel([STUMP])));
  const at = bytes.indexOf(Buffer.from('[$d#l'));
  const big = Buffer.concat([bytes.subarray(0, at), Buffer.from('[$d#L'), Buffer.from([0, 0, 1, 0, 0, 0, 0, 0]), bytes.subarray(at + 9)]);
  rejects(new Uint8Array(big), /array of 1099511627776 elements does not fit/);
  const m2 = tinyModel([STUMP]) as any;
  m2.learner.learner_model_param.num_class = '1000000000';
  rejects(json(m2), /num_class: expected an integer from 0 to 65536/);
});

test('deeply nested input does not overflow a stack', () => {
  const depth = 1_000_000;
  rejects(json('{"learner":' + '['.repeat(depth) + ']'.repeat(depth) + '}'), /learner: expected an object, got an array of 1/);
  const ubjson = Buffer.concat([Buffer.from('{'), Buffer.from([0x55, 1]), Buffer.from('a'), Buffer.from('['.repeat(depth))]);
  rejects(new Uint8Array(ubjson), /not valid UBJSON: .*nesting deeper than 256 levels/);
});

test('unsupported objective, booster and leaf kind are named', () => {
  rejects(json(tinyModel([STUMP], { objective: 'reg:pseudohubererror' })), /objective "reg:pseudohubererror" is not supported; supported: .*binary:logistic/);
  const m = tinyModel([STUMP]) as any;
  m.learner.gradient_booster.name = 'gblinear';
  rejects(json(m), /gradient_booster\.name: expected "gbtree" or "dart", got "gblinear"/);
  const m2 = tinyModel([STUMP]) as any;
  m2.learner.gradient_booster.model.trees[0].tree_param.size_leaf_vector = '3';
  rejects(json(m2), /vector leaves .* are not supported/);
});

test('tree_info and base_score are checked', () => {
  rejects(json(tinyModel([STUMP], { treeInfo: [3] })), /tree 0: output group 3 is out of range \(the model has 1 groups\)/);
  rejects(json(tinyModel([STUMP], { treeInfo: [0, 0] })), /tree_info: expected 1 numbers, got 2/);
  rejects(json(tinyModel([STUMP], { baseScore: 'abc' })), /base_score: value 0 is not a finite number/);
  rejects(json(tinyModel([STUMP], { objective: 'binary:logistic', baseScore: '1.5' })), /base_score must be in \(0, 1\)/);
  rejects(json(tinyModel([STUMP], { baseScore: '[1,2,3]' })), /base_score: expected 1 or 1 values/);
});

test('rows that do not fit the model are refused', () => {
  const m = XGBoostModel.fromBytes(FILE, json(tinyModel([STUMP])));
  assert.throws(() => m.predictSync(new Float32Array(7), 2), (e: Error & { code?: string }) => e.code === 'SLUICE_MODEL_INPUT' && /expected 2 rows of 4 features/.test(e.message));
  assert.throws(() => m.predictSync(new Float64Array(8) as unknown as Float32Array, 2), /rows must be a Float32Array/);
});
