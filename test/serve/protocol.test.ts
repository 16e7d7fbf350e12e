// sluice serve (SPEC §14): the Open Inference Protocol v2 endpoints and every infer form, against
// xgboost's and onnxruntime's own predictions (the fixtures' expected outputs).
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { fixture } from '../helpers/paths';
import { get, matrixBody, post, sameScores, serve, type Running } from './harness';

interface Expected {
  rows: Array<Array<number | null>>;
  predictions: number[][];
  featureNames: string[];
}
const XGB = JSON.parse(fs.readFileSync(fixture('xgboost', 'binary_logistic_missing_named.expected.json'), 'utf8')) as Expected;
const ONNX = JSON.parse(fs.readFileSync(fixture('onnx', 'mlp.expected.json'), 'utf8')) as { rows: number[][]; outputs: { score: number[][] } | number[][] };
const xgbScores = XGB.predictions.map((p) => p[0]);

let s: Running;
before(async () => {
  s = await serve({ models: { fraud: { source: fixture('xgboost', 'binary_logistic_missing_named.json') }, mlp: { source: fixture('onnx', 'mlp.onnx'), output: 'risk' } } });
});
after(async () => s.close());

test('health, server metadata, model metadata and model ready', async () => {
  assert.equal((await get(`${s.url}/v2/health/live`)).status, 200);
  assert.equal((await get(`${s.url}/v2/health/ready`)).status, 200);
  assert.equal((await get(`${s.url}/readyz`)).status, 200);
  assert.equal((await get(`${s.url}/healthz`)).status, 200);
  const server = await get(`${s.url}/v2`);
  assert.deepEqual([server.body.name, server.body.extensions], ['sluice', []]);
  assert.match(server.body.version, /^\d+\.\d+\.\d+/);
  const m = await get(`${s.url}/v2/models/fraud`);
  assert.equal(m.status, 200);
  assert.deepEqual(m.body.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 6] }]);
  assert.deepEqual(m.body.outputs, [{ name: 'score', datatype: 'FP32', shape: [-1, 1] }]);
  assert.equal(m.body.platform, 'xgboost_json');
  assert.equal(m.body.versions.length, 1);
  assert.match(m.body.versions[0], /^[0-9a-f]{12}$/);
  const v = m.body.versions[0];
  assert.equal((await get(`${s.url}/v2/models/fraud/versions/${v}`)).body.name, 'fraud');
  assert.equal((await get(`${s.url}/v2/models/fraud/ready`)).status, 200);
  assert.equal((await get(`${s.url}/v2/models/fraud/versions/${v}/ready`)).status, 200);
  const onnx = await get(`${s.url}/v2/models/mlp`);
  assert.deepEqual([onnx.body.platform, onnx.body.outputs[0].name, onnx.body.inputs[0].shape], ['onnxruntime_onnx', 'risk', [-1, 7]]);
});

test('one [N, F] input, nested or flat, FP32 or FP64: the scores are xgboost\'s (null is missing)', async () => {
  const nested = await post(`${s.url}/v2/models/fraud/infer`, matrixBody(XGB.rows, { id: 'req-1' }));
  assert.equal(nested.status, 200, JSON.stringify(nested.body));
  assert.equal(nested.body.model_name, 'fraud');
  assert.equal(nested.body.id, 'req-1');
  assert.match(nested.body.model_version, /^[0-9a-f]{12}$/);
  assert.deepEqual(nested.body.outputs[0].shape, [XGB.rows.length, 1]);
  assert.deepEqual([nested.body.outputs[0].name, nested.body.outputs[0].datatype], ['score', 'FP32']);
  sameScores(nested.body.outputs[0].data, xgbScores, 'nested');
  assert.ok(XGB.rows.some((r) => r.includes(null)), 'the rows have missing values');
  const flat = await post(`${s.url}/v2/models/fraud/versions/${nested.body.model_version}/infer`, { inputs: [{ name: 'anything', shape: [XGB.rows.length, 6], datatype: 'FP64', data: XGB.rows.flat() }] });
  assert.equal(flat.status, 200);
  sameScores(flat.body.outputs[0].data, xgbScores, 'flat FP64');
});

test('one input per feature name, of shape [N] or [N, 1], in any order', async () => {
  const columns = XGB.featureNames.map((name, j) => ({ name, shape: j % 2 === 0 ? [XGB.rows.length] : [XGB.rows.length, 1], datatype: 'FP32', data: XGB.rows.map((r) => r[j]) }));
  const got = await post(`${s.url}/v2/models/fraud/infer`, { inputs: columns.reverse() });
  assert.equal(got.status, 200, JSON.stringify(got.body));
  sameScores(got.body.outputs[0].data, xgbScores, 'by name');
});

test('integer datatypes take integers: INT32 and UINT8 rows score as the same floats', async () => {
  const ints = XGB.rows.slice(0, 20).map((r) => r.map((v) => (v === null ? null : Math.max(0, Math.round(v)))));
  const asFloat = await post(`${s.url}/v2/models/fraud/infer`, matrixBody(ints));
  for (const datatype of ['INT32', 'UINT8', 'INT64']) {
    const got = await post(`${s.url}/v2/models/fraud/infer`, { inputs: [{ name: 'input', shape: [20, 6], datatype, data: ints }] });
    assert.equal(got.status, 200, `${datatype}: ${JSON.stringify(got.body)}`);
    assert.deepEqual(got.body.outputs[0].data, asFloat.body.outputs[0].data, datatype);
  }
});

test('an ONNX model scores as onnxruntime does, under its output name', async () => {
  const expected = (Array.isArray(ONNX.outputs) ? ONNX.outputs : ONNX.outputs.score).map((p) => (Array.isArray(p) ? p[0] : p));
  const got = await post(`${s.url}/v2/models/mlp/infer`, matrixBody(ONNX.rows));
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.outputs[0].name, 'risk');
  sameScores(got.body.outputs[0].data, expected, 'onnx');
});

test('zero rows answer zero scores', async () => {
  const got = await post(`${s.url}/v2/models/fraud/infer`, { inputs: [{ name: 'input', shape: [0, 6], datatype: 'FP32', data: [] }] });
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.deepEqual(got.body.outputs[0].data, []);
  assert.deepEqual(got.body.outputs[0].shape, [0, 1]);
});
