// End to end: `sluice run` as a child process on a two-file source with out-of-order, late and bad
// records, checked against an independent Python reference of SPEC §6 (test/e2e/make_reference.py,
// which also generated the inputs, the model and the expected records in test/e2e/expected/).
//
// - dead letters: same count, order, reason, source and value (detail: any non-empty text);
// - late events: identical records;
// - results: same count and order, same key/windowStart/windowEnd/events/revision and record shape;
//   count/sum/mean/min/max/stddev within 1e-9 relative of the reference, null where the window
//   has no values (missing fields, SPEC §13); the score within
//   1e-5 × max(1, |reference|) (SPEC §6); the p90 (a t-digest estimate the reference cannot
//   reproduce, written as null in the expected file) checked by rank against the window's values
//   in expected/values.json: rank error at most 0.01 (0.5/n below 50 values), only within
//   [min, max] below 20 values;
// - a second run with one worker thread writes byte-identical files (SPEC §6 determinism).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, sluiceBin } from '../helpers/paths';
import { parseLines, rankError, rankTolerance, type Json } from './reference';

const E2E = path.join(repoRoot, 'test', 'e2e');
const INPUTS = ['job.yaml', 'p0.jsonl', 'p1.jsonl', 'model.json'];
const OUTPUTS = ['results', 'late', 'dead'] as const;
const SCORE = 'risk';
/** Percentile features of the job and their quantile; their expected value is null. */
const PERCENTILES: Record<string, number> = { amount_p90: 0.9 };
/** Below this many values, a percentile is only checked to lie within [min, max] of the window. */
const MIN_VALUES_FOR_RANK_CHECK = 20;
const FEATURE_REL_TOL = 1e-9;
const FEATURE_ABS_FLOOR = 1e-12; // e.g. a stddev of identical values: 0 from one formula, 1e-15 from another

interface Run { dir: string; text: Record<(typeof OUTPUTS)[number], string> }

/** Where the run being checked wrote its files: kept when a check fails, removed when all pass. */
let outDir = '';

function runSluice(label: string, extraArgs: string[] = []): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-e2e-${label}-`));
  outDir = dir;
  for (const f of INPUTS) fs.copyFileSync(path.join(E2E, f), path.join(dir, f));
  const r = spawnSync(process.execPath, [sluiceBin, 'run', 'job.yaml', '--quiet', ...extraArgs], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.equal(
    r.status,
    0,
    `sluice run ${extraArgs.join(' ')} in ${dir} exited with ${r.status ?? r.signal}\n--- stderr:\n${r.stderr}\n--- stdout:\n${r.stdout}`,
  );
  const text = {} as Run['text'];
  for (const f of OUTPUTS) {
    const p = path.join(dir, 'out', `${f}.jsonl`);
    assert.ok(fs.existsSync(p), `sluice wrote no out/${f}.jsonl`);
    text[f] = fs.readFileSync(p, 'utf8');
  }
  return { dir, text };
}

const expectedText = (f: string) => fs.readFileSync(path.join(E2E, 'expected', `${f}.jsonl`), 'utf8');

/** A mismatch message that shows both records in full. */
function diff(what: string, i: number, problem: string, want: unknown, got: unknown): string {
  return `${what} record ${i} (0-based): ${problem}\n  expected: ${JSON.stringify(want)}\n  got:      ${JSON.stringify(got)}\n  (sluice's output is kept in ${outDir})`;
}

function countMismatch(what: string, want: Json[], got: Json[]): string {
  const n = Math.min(want.length, got.length);
  let i = 0;
  while (i < n && JSON.stringify(want[i]) === JSON.stringify(got[i])) i++;
  const first = i < n ? `\n  first difference at ${i}:\n  expected: ${JSON.stringify(want[i])}\n  got:      ${JSON.stringify(got[i])}` : '';
  return `${what}: expected ${want.length} records, got ${got.length}${first}\n  (sluice's output is kept in ${outDir})`;
}

let first: Run | undefined;

test('sluice run on the e2e case matches the Python reference', () => {
  first = runSluice('2threads');

  // ---- dead letters
  const wantDead = parseLines(expectedText('dead'), 'expected dead');
  const gotDead = parseLines(first.text.dead, 'dead');
  assert.equal(gotDead.length, wantDead.length, countMismatch('dead letters', wantDead, gotDead));
  wantDead.forEach((w, i) => {
    const g = gotDead[i];
    for (const k of ['reason', 'source', 'value']) {
      if (JSON.stringify(g[k]) !== JSON.stringify(w[k])) assert.fail(diff('dead letter', i, `${k} differs`, w, g));
    }
    if (typeof g.detail !== 'string' || g.detail.length === 0) assert.fail(diff('dead letter', i, 'detail is not a non-empty string', w, g));
    const extra = Object.keys(g).filter((k) => !(k in w));
    if (extra.length) assert.fail(diff('dead letter', i, `unexpected fields ${extra.join(', ')}`, w, g));
  });

  // ---- late events
  const wantLate = parseLines(expectedText('late'), 'expected late');
  const gotLate = parseLines(first.text.late, 'late');
  assert.equal(gotLate.length, wantLate.length, countMismatch('late events', wantLate, gotLate));
  wantLate.forEach((w, i) => {
    try {
      assert.deepStrictEqual(gotLate[i], w);
    } catch {
      assert.fail(diff('late event', i, 'records differ', w, gotLate[i]));
    }
  });

  // ---- results
  const wantRes = parseLines(expectedText('results'), 'expected results');
  const gotRes = parseLines(first.text.results, 'results');
  const values = JSON.parse(fs.readFileSync(path.join(E2E, 'expected', 'values.json'), 'utf8')) as number[][];
  assert.equal(values.length, wantRes.length, 'expected/values.json has one entry per expected result');
  assert.equal(gotRes.length, wantRes.length, countMismatch('results', wantRes, gotRes));
  let rankChecked = 0;
  wantRes.forEach((w, i) => {
    const g = gotRes[i];
    const fail = (problem: string): never => assert.fail(diff('result', i, problem, w, g));
    if (JSON.stringify(Object.keys(g)) !== JSON.stringify(Object.keys(w))) fail(`fields ${Object.keys(g).join(',')} instead of ${Object.keys(w).join(',')}`);
    for (const k of ['key', 'windowStart', 'windowEnd', 'events', 'model', 'modelVersion', 'revision']) {
      if (g[k] !== w[k]) fail(`${k}: expected ${JSON.stringify(w[k])}, got ${JSON.stringify(g[k])}`);
    }
    const wf = w.features as Record<string, number | null>;
    const gf = g.features as Record<string, unknown>;
    if (JSON.stringify(Object.keys(gf)) !== JSON.stringify(Object.keys(wf))) fail(`features ${Object.keys(gf).join(',')} instead of ${Object.keys(wf).join(',')}`);
    for (const [name, want] of Object.entries(wf)) {
      const got = gf[name];
      if (got === null) {
        // Missing (SPEC §13): an aggregate over no values; a percentile then has none in values.json.
        if (want !== null) fail(`features.${name}: null, expected ${want}`);
        if (PERCENTILES[name] !== undefined && values[i].length > 0) fail(`features.${name}: null, but the window has ${values[i].length} values`);
        continue;
      }
      if (typeof got !== 'number' || !Number.isFinite(got)) fail(`features.${name} is not a finite number`);
      const x = got as number;
      if (want === null) {
        const q = PERCENTILES[name];
        if (q === undefined) fail(`features.${name}: null in the expected record but not a known percentile feature`);
        const v = values[i];
        if (v.length > (w.events as number)) fail(`expected/values.json[${i}] has ${v.length} values for ${String(w.events)} events`);
        if (x < v[0] || x > v[v.length - 1]) fail(`features.${name} = ${x} lies outside the window's values [${v[0]}, ${v[v.length - 1]}]`);
        if (v.length >= MIN_VALUES_FOR_RANK_CHECK) {
          // Rank error at most 0.01; with fewer than 50 values, an estimate interpolated between two
          // neighbouring values is at best 0.5/n off, so that much is allowed there.
          const tol = rankTolerance(v.length);
          const err = rankError(v, x, q);
          if (err > tol) fail(`features.${name} = ${x}: rank error ${err.toFixed(4)} > ${tol.toFixed(4)} for q = ${q} over ${v.length} values`);
          rankChecked++;
        }
      } else {
        const tol = FEATURE_REL_TOL * Math.max(Math.abs(want), FEATURE_ABS_FLOOR);
        if (!(Math.abs(x - want) <= tol)) fail(`features.${name}: expected ${want}, got ${x} (difference ${Math.abs(x - want)} > ${tol})`);
      }
    }
    const ws = w[SCORE] as number;
    const gs = g[SCORE];
    if (typeof gs !== 'number') fail(`${SCORE} is not a number`);
    const stol = 1e-5 * Math.max(1, Math.abs(ws));
    if (!(Math.abs((gs as number) - ws) <= stol)) fail(`${SCORE}: expected ${ws}, got ${String(gs)} (difference ${Math.abs((gs as number) - ws)} > ${stol})`);
  });
  // the case has windows big enough for the rank check (when the job has a percentile at all)
  const hasPercentile = wantRes.some((w) => Object.values(w.features as Json).some((x) => x === null));
  if (hasPercentile) assert.ok(rankChecked >= 10, `only ${rankChecked} results were checked by rank`);
  fs.rmSync(first.dir, { recursive: true, force: true });
});

test('one worker thread writes byte-identical files', () => {
  assert.ok(first, 'the first run failed');
  const second = runSluice('1thread', ['--set', 'workers.threads=1']);
  for (const f of OUTPUTS) {
    if (second.text[f] === first.text[f]) continue;
    const a: string[] = first.text[f].split('\n');
    const b: string[] = second.text[f].split('\n');
    let i = 0;
    while (i < Math.min(a.length, b.length) && a[i] === b[i]) i++;
    assert.fail(`out/${f}.jsonl differs between 2 threads and 1 thread, first at line ${i + 1}:\n  2 threads: ${a[i]}\n  1 thread:  ${b[i]}\n  (kept in ${second.dir})`);
  }
  fs.rmSync(second.dir, { recursive: true, force: true });
});
