// Per-event mode end to end (SPEC §13): `sluice run` as a child process on each job of
// test/e2e/per-event/ (tumbling, sliding and session state over the same two-file input with
// out-of-order, late, bad and missing values), checked event by event against the independent
// numpy reference that generated it (test/e2e/make_per_event_reference.py):
//
// - dead letters: same count, order, reason, source and value;
// - results: one per clean event, in arrival order, with the same key, ts, eventId, model fields and late
//   flag; features equal to 1e-9 relative (null where missing); the p90 by rank against the values
//   the reference says its window held; the score within 1e-5 × max(1, |reference|) (SPEC §6);
// - nothing in the late output: per-event mode scores late events.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, sluiceBin } from '../helpers/paths';
import { parseLines, rankError, rankTolerance } from './reference';

const CASE = path.join(repoRoot, 'test', 'e2e', 'per-event');
const SCORE = 'p_fraud';
const FEATURE_REL_TOL = 1e-9;
const FEATURE_ABS_FLOOR = 1e-12;
const MIN_VALUES_FOR_RANK_CHECK = 20;

for (const kind of ['tumbling', 'sliding', 'session']) {
  test(`per-event ${kind} job matches the numpy reference event by event`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-per-event-${kind}-`));
    for (const f of ['p0.jsonl', 'p1.jsonl', 'model.json', `${kind}.yaml`]) fs.copyFileSync(path.join(CASE, f), path.join(dir, f));
    const r = spawnSync(process.execPath, [sluiceBin, 'run', `${kind}.yaml`, '--quiet'], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, `sluice run exited with ${r.status ?? r.signal}\n${r.stderr}`);
    const read = (f: string) => fs.readFileSync(path.join(dir, 'out', f), 'utf8');
    const expected = (f: string) => fs.readFileSync(path.join(CASE, 'expected', kind, f), 'utf8');

    assert.equal(read('late.jsonl'), '', 'per-event mode writes no late records');
    const wantDead = parseLines(expected('dead.jsonl'), 'expected dead');
    const gotDead = parseLines(read('dead.jsonl'), 'dead');
    assert.deepEqual(
      gotDead.map((d) => [d.reason, d.source, d.value]),
      wantDead.map((d) => [d.reason, d.source, d.value]),
    );

    const want = parseLines(expected('results.jsonl'), 'expected results');
    const got = parseLines(read('results.jsonl'), 'results');
    const values = JSON.parse(expected('values.json')) as number[][];
    assert.equal(got.length, want.length, `${got.length} results for ${want.length} clean events`);
    let late = 0;
    let nulls = 0;
    let rankChecked = 0;
    want.forEach((w, i) => {
      const g = got[i];
      const fail = (problem: string): never => assert.fail(`result ${i}: ${problem}\n  expected: ${JSON.stringify(w)}\n  got:      ${JSON.stringify(g)}\n  (kept in ${dir})`);
      if (JSON.stringify(Object.keys(g)) !== JSON.stringify(Object.keys(w))) fail(`fields ${Object.keys(g).join(',')}`);
      for (const k of ['key', 'ts', 'eventId', 'model', 'modelVersion', 'late']) if (g[k] !== w[k]) fail(`${k} differs`);
      if (w.late) late++;
      const wf = w.features as Record<string, number | null>;
      const gf = g.features as Record<string, number | null>;
      if (JSON.stringify(Object.keys(gf)) !== JSON.stringify(Object.keys(wf))) fail('feature names differ');
      for (const [name, x] of Object.entries(gf)) {
        const v = values[i];
        if (name === 'p90') {
          if ((x === null) !== (v.length === 0)) fail(`p90 is ${x} over ${v.length} values`);
          if (x === null) continue;
          if (x < v[0] || x > v[v.length - 1]) fail(`p90 ${x} is outside [${v[0]}, ${v[v.length - 1]}]`);
          if (v.length >= MIN_VALUES_FOR_RANK_CHECK) {
            if (rankError(v, x, 0.9) > rankTolerance(v.length)) fail(`p90 ${x}: rank error ${rankError(v, x, 0.9)}`);
            rankChecked++;
          }
          continue;
        }
        const y = wf[name];
        if (y === null || x === null) {
          if (x !== y) fail(`features.${name}: ${x}, expected ${y}`);
          nulls++;
          continue;
        }
        if (!(Math.abs(x - y) <= FEATURE_REL_TOL * Math.max(Math.abs(y), FEATURE_ABS_FLOOR))) fail(`features.${name}: ${x}, expected ${y}`);
      }
      const ws = w[SCORE] as number;
      const gs = g[SCORE] as number;
      if (!(Math.abs(gs - ws) <= 1e-5 * Math.max(1, Math.abs(ws)))) fail(`${SCORE}: ${gs}, expected ${ws}`);
    });
    // The case exercises what it is for.
    assert.ok(late > 50, `${late} late results`);
    assert.ok(nulls > 100, `${nulls} missing features`);
    assert.ok(rankChecked > 30, `${rankChecked} p90s checked by rank`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('per-event results are the same with one thread and tiny batches', () => {
  const outputs: string[] = [];
  for (const args of [[], ['--set', 'workers.threads=1', '--set', 'scoring.maxBatchRows=7']]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-per-event-det-'));
    for (const f of ['p0.jsonl', 'p1.jsonl', 'model.json', 'sliding.yaml']) fs.copyFileSync(path.join(CASE, f), path.join(dir, f));
    const r = spawnSync(process.execPath, [sluiceBin, 'run', 'sliding.yaml', '--quiet', ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stderr);
    outputs.push(fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8'));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(outputs[0].length > 0);
  assert.equal(outputs[1], outputs[0]);
});


