// ONNX models through onnxruntime-node: parity with numpy on the same graphs (fixtures made by
// test/fixtures/onnx/make_onnx_fixtures.py), output concatenation, SharedArrayBuffer input, batch
// edge cases, one test per load error, and loading inside a worker thread.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadModel } from '../../src/scoring/load-model';
import { OnnxModel } from '../../src/scoring/onnx/onnx-model';
import { XGBoostModel } from '../../src/scoring/xgboost/xgboost-model';
import { fixture } from '../helpers/paths';

interface Expected {
  model: string;
  numFeatures: number;
  numOutputs: number;
  outputNames: string[];
  outputWidths: number[];
  rows: number[][];
  outputs: number[][];
}

const onnxFixture = (name: string) => fixture('onnx', name);
const expected = (name: string): Expected => JSON.parse(fs.readFileSync(onnxFixture(`${name}.expected.json`), 'utf8'));
const MLP = expected('mlp');
const MULTI = expected('multi_output');

function flatRows(exp: Expected, shared = false): Float32Array {
  const n = exp.rows.length * exp.numFeatures;
  const rows = new Float32Array(shared ? new SharedArrayBuffer(n * 4) : new ArrayBuffer(n * 4));
  rows.set(exp.rows.flat());
  return rows;
}

/** SPEC §6: within 1e-5 x max(1, |reference|). `firstRow` offsets into the reference rows. */
function assertParity(got: Float32Array, exp: Expected, nRows = exp.rows.length, firstRow = 0) {
  assert.equal(got.length, nRows * exp.numOutputs);
  for (let r = 0; r < nRows; r++) {
    for (let k = 0; k < exp.numOutputs; k++) {
      const ref = exp.outputs[firstRow + r][k];
      const v = got[r * exp.numOutputs + k];
      assert.ok(Math.abs(v - ref) <= 1e-5 * Math.max(1, Math.abs(ref)), `row ${firstRow + r} output ${k}: got ${v}, numpy ${ref}`);
    }
  }
}

async function withModel<T>(file: string, fn: (m: OnnxModel) => Promise<T>): Promise<T> {
  const m = await OnnxModel.load(onnxFixture(file));
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

test('MLP matches numpy within 1e-5, edge rows included', () =>
  withModel('mlp.onnx', async (m) => {
    assert.equal(m.numFeatures, 7);
    assert.equal(m.numOutputs, 1);
    assert.deepEqual(m.outputNames, ['score']);
    assert.equal(m.featureNames, undefined);
    assert.equal(m.fixedBatchSize, undefined);
    assertParity(await m.predict(flatRows(MLP), MLP.rows.length), MLP);
  }));

test('several outputs are concatenated per row in the model output order', () =>
  withModel('multi_output.onnx', async (m) => {
    assert.equal(m.numFeatures, MULTI.numFeatures);
    assert.deepEqual(m.outputNames, MULTI.outputNames); // prob, logits, margin
    assert.deepEqual(m.outputWidths, [3, 3, 1]);
    assert.equal(m.numOutputs, 7);
    const out = await m.predict(flatRows(MULTI), MULTI.rows.length);
    assertParity(out, MULTI);
    // The first three values of each row are a softmax, so they sum to 1.
    for (let r = 0; r < MULTI.rows.length; r++) assert.ok(Math.abs(out[r * 7] + out[r * 7 + 1] + out[r * 7 + 2] - 1) < 1e-5);
  }));

test('an output width the metadata does not know comes from the probe run', () =>
  withModel('mlp_output_unknown_dims.onnx', async (m) => {
    assert.deepEqual(m.outputWidths, [1]);
    assertParity(await m.predict(flatRows(MLP), MLP.rows.length), MLP);
  }));

test('a fixed batch size runs in batches, the last one padded', () =>
  withModel('mlp_batch4.onnx', async (m) => {
    assert.equal(m.fixedBatchSize, 4);
    const rows = flatRows(MLP);
    assertParity(await m.predict(rows, MLP.rows.length), MLP); // 100 rows: 25 full batches
    assertParity(await m.predict(rows, 7), MLP, 7); // 4 + 3 padded
    assertParity(await m.predict(rows.subarray(7 * 5), 1), MLP, 1, 5);
    assert.equal((await m.predict(rows, 0)).length, 0);
  }));

test('rows in a SharedArrayBuffer, also as a view at an offset', async () => {
  await withModel('mlp.onnx', async (m) => {
    const shared = flatRows(MLP, true);
    assertParity(await m.predict(shared, MLP.rows.length), MLP);
    assertParity(await m.predict(shared.subarray(10 * 7, 30 * 7), 20), MLP, 20, 10);
  });
  await withModel('multi_output.onnx', async (m) => {
    assertParity(await m.predict(flatRows(MULTI, true), MULTI.rows.length), MULTI);
  });
});

test('nRows = 0 and nRows = 1; extra values past nRows are ignored', () =>
  withModel('multi_output.onnx', async (m) => {
    const rows = flatRows(MULTI);
    const none = await m.predict(rows, 0);
    assert.ok(none instanceof Float32Array);
    assert.equal(none.length, 0);
    assert.equal((await m.predict(new Float32Array(0), 0)).length, 0);
    assertParity(await m.predict(rows, 1), MULTI, 1);
    assertParity(await m.predict(rows.subarray(3 * 5), 1), MULTI, 1, 3);
  }));

test('rows shorter than nRows x F, or a bad nRows, are SLUICE_MODEL_INPUT errors', () =>
  withModel('mlp.onnx', async (m) => {
    const isInputError = (e: Error & { code?: string }) => {
      assert.equal(e.code, 'SLUICE_MODEL_INPUT', e.message);
      assert.ok(e.message.startsWith(onnxFixture('mlp.onnx')), e.message);
      return true;
    };
    await assert.rejects(m.predict(new Float32Array(7 * 3 - 1), 3), (e: Error) => isInputError(e) && /expected 3 rows of 7 features \(21 values\), got 20 values/.test(e.message));
    await assert.rejects(m.predict(new Float32Array(7), -1), isInputError);
    await assert.rejects(m.predict(new Float32Array(14), 1.5), isInputError);
    await assert.rejects(m.predict(new Float64Array(7) as unknown as Float32Array, 1), isInputError);
  }));

test('predictSync is not offered', () =>
  withModel('mlp.onnx', async (m) => {
    assert.equal((m as { predictSync?: unknown }).predictSync, undefined);
    assert.equal(typeof m.predict, 'function');
  }));

test('20 concurrent predict calls all resolve to their own rows', () =>
  withModel('multi_output.onnx', async (m) => {
    const rows = flatRows(MULTI);
    const calls = Array.from({ length: 20 }, (_, i) => {
      const first = i * 4;
      const n = 1 + (i % 5);
      return m.predict(rows.subarray(first * 5, (first + n) * 5), n).then((out) => ({ out, first, n }));
    });
    for (const { out, first, n } of await Promise.all(calls)) assertParity(out, MULTI, n, first);
  }));

test('close() releases the session; predict afterwards fails', async () => {
  const m = await OnnxModel.load(onnxFixture('mlp.onnx'));
  await m.close();
  await m.close();
  await assert.rejects(m.predict(new Float32Array(7), 1), (e: Error & { code?: string }) => e.code === 'SLUICE_RUNTIME' && /the model is closed/.test(e.message));
});

test('loadModel dispatches .onnx (any case) and format: onnx to OnnxModel', async () => {
  const m = await loadModel(onnxFixture('mlp.onnx'));
  assert.ok(m instanceof OnnxModel);
  assertParity(await m.predict(flatRows(MLP), 3), MLP, 3);
  await (m as OnnxModel).close();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-onnx-'));
  try {
    const upper = path.join(dir, 'MODEL.ONNX');
    const noExt = path.join(dir, 'model.bin');
    fs.copyFileSync(onnxFixture('mlp.onnx'), upper);
    fs.copyFileSync(onnxFixture('mlp.onnx'), noExt);
    for (const loaded of [await loadModel(upper), await loadModel(noExt, { format: 'onnx' })]) {
      assert.ok(loaded instanceof OnnxModel);
      await (loaded as OnnxModel).close();
    }
    // Without the hint, a file not named .onnx is read as XGBoost.
    await assert.rejects(loadModel(noExt), (e: Error & { code?: string }) => e.code === 'SLUICE_MODEL_INVALID' && !/onnx/i.test(e.message.slice(noExt.length)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.ok((await loadModel(fixture('xgboost', 'binary_logistic.json'))) instanceof XGBoostModel);
});

// Load errors: one per kind, each a one-line SLUICE_MODEL_INVALID that starts with the file path.
async function rejectsLoad(file: string, pattern: RegExp) {
  await assert.rejects(loadModel(file), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_MODEL_INVALID', e.message);
    assert.ok(e.message.startsWith(`${file}: `), `message starts with the file: ${e.message}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('load error: missing file', () => rejectsLoad(path.join(os.tmpdir(), 'sluice-no-such-model.onnx'), /cannot read the file \(ENOENT\)/));

test('load error: empty file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-onnx-'));
  try {
    const file = path.join(dir, 'empty.onnx');
    fs.writeFileSync(file, '');
    await rejectsLoad(file, /the file is empty/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('load error: not an ONNX file', () => rejectsLoad(onnxFixture('not-a-model.onnx'), /not an ONNX model/));

test('load error: more than one input', () => rejectsLoad(onnxFixture('two_inputs.onnx'), /expected exactly one input.*has 2: a, b/));

test('load error: float64 input', () => rejectsLoad(onnxFixture('input_float64.onnx'), /input 'x' is float64; expected float32/));

test('load error: rank-3 input', () => rejectsLoad(onnxFixture('input_rank3.onnx'), /input 'x' has shape \[N, 2, 3\]; expected rank 2/));

test('load error: feature count not fixed', () => rejectsLoad(onnxFixture('input_dynamic_features.onnx'), /input 'x' has shape \[N, F\]; the feature count F must be a fixed number/));

test('load error: a non-float output', () => rejectsLoad(onnxFixture('output_int64.onnx'), /output 'label' is int64; every output must be float32/));

test('load error: output rows do not follow input rows', () => rejectsLoad(onnxFixture('output_rows_mismatch.onnx'), /output 'y' .*gave shape \[2, 2\] for 1 input row/));

test('the model loads and scores inside worker threads', async () => {
  const modulePath = path.join(__dirname, '..', '..', 'src', 'scoring', 'onnx', 'onnx-model.js');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { OnnxModel } = require(${JSON.stringify(modulePath)});
    (async () => {
      const m = await OnnxModel.load(workerData.model);
      const out = await m.predict(new Float32Array(workerData.rows), workerData.nRows);
      await m.close();
      parentPort.postMessage(Array.from(out));
    })();`; // a rejection here is unhandled, so it ends the worker with an error event
  const rows = flatRows(MLP, true);
  const results = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<number[]>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { model: onnxFixture('mlp.onnx'), rows: rows.buffer, nRows: MLP.rows.length } });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (c) => c !== 0 && reject(new Error(`worker exited with ${c}`)));
        }),
    ),
  );
  for (const r of results) assertParity(Float32Array.from(r), MLP);
});
