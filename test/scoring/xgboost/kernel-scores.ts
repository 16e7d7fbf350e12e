// Child of parity.test.ts: prints the margins of every parity fixture's rows, as base64 of the
// float32 bytes, under the kernel SLUICE_XGB_KERNEL allows (the addon reads it at its first model).
import * as fs from 'node:fs';
import { loadModel } from '../../../src/scoring/load-model';
import { XGBoostModel } from '../../../src/scoring/xgboost/xgboost-model';
import { fixture } from '../../helpers/paths';

export async function fixtureMargins(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of JSON.parse(fs.readFileSync(fixture('xgboost', 'index.json'), 'utf8')) as string[]) {
    const exp = JSON.parse(fs.readFileSync(fixture('xgboost', `${name}.expected.json`), 'utf8')) as { model: string; numFeatures: number; rows: (number | null)[][]; expectError?: string };
    if (exp.expectError) continue;
    const model = (await loadModel(fixture('xgboost', exp.model))) as XGBoostModel;
    const rows = new Float32Array(exp.rows.length * exp.numFeatures);
    exp.rows.forEach((row, r) => row.forEach((v, j) => (rows[r * exp.numFeatures + j] = v === null ? NaN : v)));
    const m = model.predictMargin(rows, exp.rows.length);
    out[name] = Buffer.from(m.buffer, m.byteOffset, m.byteLength).toString('base64');
  }
  return out;
}

if (require.main === module) void fixtureMargins().then((m) => process.stdout.write(JSON.stringify(m)));
