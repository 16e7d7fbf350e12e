// Parity with xgboost 1.7.4: every fixture made by test/fixtures/xgboost/make_fixtures.py is scored
// and compared with xgboost's own predictions, within 1e-5 x max(1, |xgboost's|) (SPEC §6).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../../src/scoring/load-model';
import { XGBoostModel } from '../../../src/scoring/xgboost/xgboost-model';
import { fixture } from '../../helpers/paths';
import { fixtureMargins } from './kernel-scores';

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

// The addon picks the widest kernel the CPU has (AVX-512, AVX2, else portable); each must give
// the same bits, since each row adds its leaves in tree order. The fixtures hold 60-150 rows, so
// the AVX-512 kernel's chunks of 64 and 32 rows and the AVX2 kernel's rest are all walked.
test('every kernel gives the same bits: widest (this process) against avx2 and scalar', async () => {
  const widest = await fixtureMargins();
  for (const kernel of ['avx2', 'scalar']) {
    const child = execFileSync(process.execPath, [path.join(__dirname, 'kernel-scores.js')], { env: { ...process.env, SLUICE_XGB_KERNEL: kernel }, encoding: 'utf8' });
    const capped = JSON.parse(child) as Record<string, string>;
    assert.deepEqual(Object.keys(capped), Object.keys(widest));
    for (const name of Object.keys(widest)) assert.equal(capped[name], widest[name], `${name}: the ${kernel} kernel's margins differ from the widest kernel's`);
  }
});
