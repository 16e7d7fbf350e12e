// Parity with xgboost 1.7.4: every fixture made by test/fixtures/xgboost/make_fixtures.py is scored
// and compared with xgboost's own predictions, within 1e-5 x max(1, |xgboost's|) (SPEC §6).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { loadModel } from '../../../src/scoring/load-model';
import { XGBoostModel } from '../../../src/scoring/xgboost/xgboost-model';
import { fixture } from '../../helpers/paths';

interface Expected {
  case: string;
  model: string;
  objective: string;
  booster: string;
  numFeatures: number;
  numOutputs: number;
  featureNames: string[] | null;
  rows: (number | null)[][];
  predictions: number[][];
  margins: number[][];
  schemaOnly?: boolean;
  notes?: string;
  /** Set for real models SPEC §7 does not support: loading must fail with this message. */
  expectError?: string;
}

const TOLERANCE = 1e-5;
const names: string[] = JSON.parse(fs.readFileSync(fixture('xgboost', 'index.json'), 'utf8'));
const readExpected = (name: string): Expected => JSON.parse(fs.readFileSync(fixture('xgboost', `${name}.expected.json`), 'utf8'));

function maxError(got: Float32Array, want: number[][]): { err: number; at: string } {
  let err = 0;
  let at = '';
  want.forEach((row, r) =>
    row.forEach((w, k) => {
      const g = got[r * row.length + k];
      const e = Math.abs(g - w) / Math.max(1, Math.abs(w));
      if (!(e <= err)) {
        err = Number.isNaN(e) ? Infinity : e;
        at = `row ${r} output ${k}: ours ${g}, xgboost ${w}`;
      }
    }),
  );
  return { err, at };
}

test('there are at least 20 real (not schema-only) fixtures', () => {
  const real = names.filter((n) => !readExpected(n).schemaOnly && !readExpected(n).expectError);
  assert.ok(real.length >= 20, `${real.length} real fixtures`);
  const formats = new Set(real.map((n) => readExpected(n).model.split('.').pop()));
  assert.deepEqual([...formats].sort(), ['json', 'ubj']);
});

for (const name of names) {
  const exp = readExpected(name);
  if (exp.expectError) {
    test(`unsupported: ${name} is refused with a clear error`, async () => {
      await assert.rejects(loadModel(fixture('xgboost', exp.model)), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'SLUICE_MODEL_INVALID');
        assert.ok(e.message.includes(exp.expectError!), e.message);
        return true;
      });
    });
    continue;
  }
  test(`parity: ${name}${exp.schemaOnly ? ' (schema-only: 2.x/3.x fields on a 1.7.4 model)' : ''}`, async () => {
    const model = (await loadModel(fixture('xgboost', exp.model))) as XGBoostModel;
    assert.equal(model.numFeatures, exp.numFeatures);
    assert.equal(model.numOutputs, exp.numOutputs);
    assert.deepEqual(model.featureNames ?? null, exp.featureNames && exp.featureNames.length ? exp.featureNames : null);
    const nRows = exp.rows.length;
    const rows = new Float32Array(nRows * exp.numFeatures);
    exp.rows.forEach((row, r) => row.forEach((v, j) => (rows[r * exp.numFeatures + j] = v === null ? NaN : v)));

    const margins = maxError(model.predictMargin(rows, nRows), exp.margins);
    assert.ok(margins.err <= TOLERANCE, `margins: relative error ${margins.err} at ${margins.at}`);
    const preds = maxError(model.predictSync(rows, nRows), exp.predictions);
    assert.ok(preds.err <= TOLERANCE, `predictions: relative error ${preds.err} at ${preds.at}`);
    // The async path and a SharedArrayBuffer view give the same numbers.
    const shared = new Float32Array(new SharedArrayBuffer(rows.byteLength));
    shared.set(rows);
    assert.deepEqual(await model.predict(shared, nRows), model.predictSync(rows, nRows));
  });
}
