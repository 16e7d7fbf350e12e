// A model that is too slow (model.timeoutMs, with the onTimeout policy) and a model file that is
// too big (model.maxBytes): clear errors, and with onTimeout: dead-letter the job goes on.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { runJob } from '../../src/app/run-job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { parseMetrics, total } from '../helpers/metrics';
import { E2E, e2eJob } from '../kafka/jobs';
import type { FileModelSpec } from '../../src/config/types';

function job(scoring: object, maxBytes?: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-model-limits-'));
  const out = (f: string) => ({ type: 'file', path: path.join(dir, f) });
  const config = e2eJob({ type: 'file', path: [path.join(E2E, 'p0.jsonl'), path.join(E2E, 'p1.jsonl')] }, { sink: out('results.jsonl'), late: out('late.jsonl'), deadLetter: out('dead.jsonl') });
  const lines = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l !== '');
  const model = config.models.default as FileModelSpec;
  const models = { default: { ...model, maxBytes: maxBytes ?? model.maxBytes } };
  return { config: { ...config, models, scoring: { ...config.scoring, ...scoring } }, lines, modelPath: model.source };
}

// One batch's tasks take 3 s (a slow model) against a 500 ms limit.
const slow = { batchSize: 256, slowBatch: { afterEvents: 1000, ms: 3000 } };

test('onTimeout dead-letter: the slow task is stopped, its windows go to the dead letters unscored, the rest is scored', async () => {
  const reference = job({});
  const whole = await runJob(reference.config, { batchSize: 256 }).done;
  const run = job({ timeoutMs: 500, onTimeout: 'dead-letter' });
  const server = await startMetricsServer('127.0.0.1', 0, 'timeout');
  try {
    const summary = await runJob(run.config, { ...slow, metricsServer: server }).done;
    const timedOut = run.lines('dead.jsonl').map((l) => JSON.parse(l)).filter((d) => d.reason === 'model-timeout');
    assert.ok(timedOut.length > 0, 'some windows timed out');
    for (const d of timedOut) {
      assert.equal(d.source, null);
      assert.match(d.detail, /did not finish within model\.timeoutMs \(500 ms\)/);
      assert.deepEqual(JSON.parse(d.value).risk, [], 'no score');
    }
    // Every window comes out once: scored in the results, or unscored in the dead letters.
    const ids = (rs: Array<{ key: string; windowStart: number; revision: number }>) => rs.map((r) => `${r.key}@${r.windowStart}#${r.revision}`).sort();
    assert.deepEqual(ids([...run.lines('results.jsonl').map((l) => JSON.parse(l)), ...timedOut.map((d) => JSON.parse(d.value))]), ids(reference.lines('results.jsonl').map((l) => JSON.parse(l))));
    assert.equal(summary.windowsFired + timedOut.length, whole.windowsFired);
    const m = parseMetrics(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
    assert.ok(total(m, 'sluice_errors_total', { kind: 'model-timeout' }) >= 1);
    assert.equal(total(m, 'sluice_dead_letters_total', { reason: 'model-timeout' }), timedOut.length);
  } finally {
    await server.close();
  }
});

test('with scoring.onError, a timed-out task\'s windows get the fallback, marked with the timeout', async () => {
  const reference = job({});
  const whole = await runJob(reference.config, { batchSize: 256 }).done;
  const run = job({ timeoutMs: 500, onTimeout: 'fail', onError: { fallback: { value: [0.5] } } });
  const summary = await runJob(run.config, slow).done;
  assert.equal(summary.windowsFired, whole.windowsFired, 'every window scored: by the model, or by the fallback');
  const results = run.lines('results.jsonl').map((l) => JSON.parse(l));
  const fellBack = results.filter((r) => r.fallback !== undefined);
  assert.ok(fellBack.length > 0);
  for (const r of fellBack) {
    assert.equal(r.fallback, 'value');
    assert.equal(r.risk, 0.5);
    assert.equal(r.error, 'the model call did not finish within model.timeoutMs (500 ms)');
  }
  assert.deepEqual(run.lines('dead.jsonl').filter((l) => JSON.parse(l).reason.startsWith('model')), []);
});

test('onTimeout fail: the job stops with an error that says what to change', async () => {
  const run = job({ timeoutMs: 500, onTimeout: 'fail' });
  await assert.rejects(runJob(run.config, slow).done, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_RUNTIME');
    assert.match(e.message, /^model .*model\.json: the window task of key partition\(s\) [\d, ]+ did not finish within 500 ms \(model\.timeoutMs\): its model call hung or is too slow; raise model\.timeoutMs, or set model\.onTimeout: dead-letter/);
    return true;
  });
});

test('a model file over model.maxBytes is refused at start', async () => {
  const run = job({}, 100);
  const bytes = fs.statSync(run.modelPath).size;
  await assert.rejects(runJob(run.config).done, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_MODEL_INVALID');
    assert.equal(e.message, `${run.modelPath}: is ${bytes.toLocaleString('en-US')} bytes, over model.maxBytes (100); raise model.maxBytes if the model is meant to be this big`);
    return true;
  });
});
