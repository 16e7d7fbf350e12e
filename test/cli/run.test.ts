// `sluice run` and `sluice check` as processes: exit codes, one-line errors, stdout sink, summary.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, sluiceBin } from '../helpers/paths';

const GOLDEN = path.join(repoRoot, 'test', 'golden');

function sluice(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [sluiceBin, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function caseDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-run-'));
  fs.cpSync(path.join(GOLDEN, name), path.join(dir, name), { recursive: true });
  fs.copyFileSync(path.join(GOLDEN, 'const-model.json'), path.join(dir, 'const-model.json'));
  return path.join(dir, name);
}

test('sluice run writes results to stdout and a summary to stderr', () => {
  const dir = caseDir('tumbling');
  const job = fs.readFileSync(path.join(dir, 'job.yaml'), 'utf8').replace('sink: { type: file, path: out/results.jsonl }', 'sink: { type: stdout }');
  fs.writeFileSync(path.join(dir, 'stdout.yaml'), job);
  const r = sluice(['run', 'stdout.yaml'], dir);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, fs.readFileSync(path.join(GOLDEN, 'tumbling', 'expected', 'results.jsonl'), 'utf8'));
  assert.match(r.err, /events +7 in/);
  assert.match(r.err, /windows +5 results/);
  assert.match(r.err, /late +1 events/);
  assert.match(r.err, /latency +p50 [\d.]+ ms, p99 [\d.]+ ms/);
  assert.match(r.err, /results -> stdout/);
});

test('sluice run --quiet --set overrides a value', () => {
  const dir = caseDir('tumbling');
  const r = sluice(['run', 'job.yaml', '--quiet', '--set', 'window.sizeMs=20000'], dir);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const first = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').split('\n')[0]);
  assert.equal(first.windowEnd, 20000);
});

test('an invalid job file exits 2 with one line naming the file and the path', () => {
  const dir = caseDir('tumbling');
  fs.writeFileSync(path.join(dir, 'bad.yaml'), fs.readFileSync(path.join(dir, 'job.yaml'), 'utf8').replace('sizeMs: 10000', 'sizeMs: "60s"'));
  const r = sluice(['run', 'bad.yaml'], dir);
  assert.equal(r.code, 2);
  assert.match(r.err.trim(), /^sluice: .*bad\.yaml: window\.sizeMs: expected a positive integer, got "60s"$/);
  const missing = sluice(['run', 'nope.yaml'], dir);
  assert.equal(missing.code, 2);
  assert.equal(missing.err.trim().split('\n').length, 1);
});

test('sluice check prints the plan and exits 0; a bad model exits 2', () => {
  const dir = caseDir('session');
  const r = sluice(['check', 'job.yaml'], dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /session/);
  fs.writeFileSync(path.join(dir, '..', 'const-model.json'), '{"learner": 1}');
  const bad = sluice(['check', 'job.yaml'], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /const-model\.json: not a valid XGBoost model: learner: expected an object/);
});

test('SIGINT drains what was read and exits 0 with a summary', async () => {
  const { spawn } = await import('node:child_process');
  const job = path.join(repoRoot, 'examples', 'card-fraud', 'job.yaml');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sigint-'));
  const child = spawn(process.execPath, [sluiceBin, 'run', job, '--set', 'source.events=200000000', '--set', `sink.path=${path.join(dir, 'scores.jsonl')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => setTimeout(r, 1500));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, err);
  const events = Number(/events +([\d,]+) in/.exec(err)?.[1].replace(/,/g, ''));
  assert.ok(events > 0 && events < 200_000_000, `read ${events} events before stopping`);
});
