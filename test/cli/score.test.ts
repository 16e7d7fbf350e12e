// `sluice score` end to end, as a process: scores match xgboost's, bad CSV exits 2 with the line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixture, sluiceBin } from '../helpers/paths';

interface Expected { model: string; numFeatures: number; featureNames: string[] | null; rows: (number | null)[][]; predictions: number[][] }
const expected = (name: string): Expected => JSON.parse(fs.readFileSync(fixture('xgboost', `${name}.expected.json`), 'utf8'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-score-'));

function sluice(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [sluiceBin, ...args], { input, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function csv(header: string[], rows: (number | null)[][], order: number[]): string {
  const lines = [order.map((j) => header[j]).join(',')];
  for (const row of rows) lines.push(order.map((j) => (row[j] === null ? '' : String(row[j]))).join(','));
  return lines.join('\n') + '\n';
}

function assertScores(out: string, want: number[][]) {
  const lines = out.trim().split('\n');
  assert.equal(lines.length, want.length);
  lines.forEach((line, r) => {
    const got = line.split(',').map(Number);
    assert.equal(got.length, want[r].length);
    got.forEach((g, k) => assert.ok(Math.abs(g - want[r][k]) <= 1e-5 * Math.max(1, Math.abs(want[r][k])), `row ${r}: ${g} vs ${want[r][k]}`));
  });
}

test('named features: columns match by name in any order; empty cells are missing', () => {
  const exp = expected('binary_logistic_missing_named');
  const names = exp.featureNames!;
  const reversed = names.map((_, i) => names.length - 1 - i);
  const input = path.join(tmp, 'named.csv');
  fs.writeFileSync(input, csv(names, exp.rows, reversed));
  assert.ok(exp.rows.some((r) => r.includes(null)), 'the fixture has missing values');
  const r = sluice(['score', '--model', fixture('xgboost', exp.model), '--input', input, '--output', '-']);
  assert.equal(r.code, 0, r.err);
  assertScores(r.out, exp.predictions);
});

test('no feature names: columns by position, stdin in, file out, multiclass output', () => {
  const exp = expected('multi_softprob_3');
  assert.equal(exp.featureNames, null);
  const header = exp.rows[0].map((_, i) => `c${i}`);
  const output = path.join(tmp, 'multi.out');
  const r = sluice(['score', '--model', fixture('xgboost', exp.model), '--output', output], csv(header, exp.rows, header.map((_, i) => i)));
  assert.equal(r.code, 0, r.err);
  assertScores(fs.readFileSync(output, 'utf8'), exp.predictions);
});

test('bad CSV: one line with the file and line number, exit 2', () => {
  const exp = expected('binary_logistic_missing_named');
  const model = fixture('xgboost', exp.model);
  const names = exp.featureNames!;
  const good = names.map(() => '1').join(',');
  const cases: Array<[string, string, RegExp]> = [
    ['ragged row', `${names.join(',')}\n${good}\n${good},7\n`, /: line 3: expected \d+ cells \(as the header has\), got \d+/],
    ['non-numeric cell', `${names.join(',')}\n${good}\n${good.replace(/^1/, 'abc')}\n`, new RegExp(`: line 3: column "${names[0]}": expected a number or an empty cell, got "abc"`)],
    ['unknown column', `${names.join(',')},extra\n${good},1\n`, /: line 1: unknown column "extra"/],
    ['missing column', `${names.slice(1).join(',')}\n${names.slice(1).map(() => 1).join(',')}\n`, new RegExp(`: line 1: missing column "${names[0]}"`)],
    ['empty input', '', /: line 1: expected a header row/],
    ['unterminated quote', `${names.join(',')}\n"1,2\n`, /: not valid CSV/],
  ];
  for (const [label, text, pattern] of cases) {
    const input = path.join(tmp, label.replace(/ /g, '-') + '.csv');
    fs.writeFileSync(input, text);
    const r = sluice(['score', '--model', model, '--input', input]);
    assert.equal(r.code, 2, `${label}: ${r.err}`);
    assert.ok(r.err.startsWith(`sluice: ${input}: `), `${label}: names the file: ${r.err}`);
    assert.match(r.err, pattern, label);
    assert.equal(r.err.trim().split('\n').length, 1, `${label}: one line, no stack trace`);
  }
});

test('bad invocations exit 2', () => {
  assert.equal(sluice(['score']).code, 2);
  assert.equal(sluice(['frobnicate']).code, 2);
  const r = sluice(['score', '--model', path.join(tmp, 'nope.json')], 'a\n1\n');
  assert.equal(r.code, 2);
  assert.match(r.err, /nope\.json: cannot read the file \(ENOENT\)/);
});
