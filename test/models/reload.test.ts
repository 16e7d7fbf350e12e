// Hot reload (SPEC §12): a new version of a model file is checked off the hot path and takes over
// at T = the largest event time read + 1 ms; every kind of bad version is refused and the version
// in force keeps scoring. A gated source holds the input still while the model file changes, so
// T is known exactly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { loadModel } from '../../src/scoring/load-model';
import { total } from '../helpers/metrics';
import { repoRoot } from '../helpers/paths';
import { events, FEATURES, gate, GatedSource, KEYS, scrape, until, writeJob } from './harness';

const FIXTURES = path.join(repoRoot, 'test', 'models', 'fixtures');
const sha12 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex').slice(0, 12);
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

const results = (dir: string) => {
  const file = path.join(dir, 'out', 'results.jsonl');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
};

test('a new version waits for rows to check it on, then takes over at T = the largest event time read + 1 ms', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-reload-'));
  fs.writeFileSync(path.join(dir, 'm.json'), fixture('model-c.json'));
  const [g0, g1, g2] = [gate(), gate(), gate()];
  const server = await startMetricsServer('127.0.0.1', 0, 'reload');
  try {
    const source = new GatedSource([
      { gate: g0.promise, values: [] },
      // Its last event is at 29,999: T will be 30,000, the end of window [20 s, 30 s).
      { gate: g1.promise, values: [...events(0, 30_000), JSON.stringify({ card: 'card-0', ts: 29_999, amount: 5, items: 1 })] },
      { gate: g2.promise, values: events(30_000, 60_000) },
    ]);
    const job = runJob(writeJob(dir, { m: { source: 'm.json', reload: { pollMs: 20 } } }), { source, metricsServer: server });
    const [oldVersion, newVersion] = [sha12(fixture('model-c.json')), sha12(fixture('reload-next.json'))];
    await until('the first version in force', async () => total(await scrape(server), 'sluice_model_info', { model: 'm', version: oldVersion }) === 1);
    g0.open();
    // Before any window was scored there is nothing to check a new version on: it waits.
    fs.writeFileSync(path.join(dir, 'm.json'), fixture('reload-next.json'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    let m = await scrape(server);
    assert.equal(total(m, 'sluice_model_info', { model: 'm', version: oldVersion }), 1);
    assert.equal(total(m, 'sluice_model_reloads_total'), 0);
    // Windows [0, 10 s) and [10 s, 20 s) fire and are scored: then it is checked and accepted,
    // at T = 29,999 (the largest event time read) + 1.
    g1.open();
    await until('the new version in force', async () => total(await scrape(server), 'sluice_model_info', { model: 'm', version: newVersion }) === 1);
    m = await scrape(server);
    assert.equal(total(m, 'sluice_model_info', { model: 'm', version: oldVersion }), 0);
    assert.equal(total(m, 'sluice_model_reloads_total', { model: 'm', result: 'accepted' }), 1);
    g2.open();
    await job.done;

    const T = 30_000;
    const [before, after] = [await loadModel(path.join(FIXTURES, 'model-c.json')), await loadModel(path.join(FIXTURES, 'reload-next.json'))];
    const byVersion = new Map<string, number>();
    for (const r of results(dir)) {
      const [version, model] = r.windowEnd > T ? [newVersion, after] : [oldVersion, before];
      assert.equal(r.modelVersion, version, `window [${r.windowStart}, ${r.windowEnd}) of ${r.key}`);
      const want = model.predictSync!(Float32Array.from(FEATURES.map((f) => r.features[f])), 1)[0];
      assert.ok(Math.abs(r.risk - want) <= 1e-6, `${r.key} [${r.windowStart}, ${r.windowEnd}): risk ${r.risk}, ${version} predicts ${want}`);
      byVersion.set(`${r.windowStart}:${version}`, (byVersion.get(`${r.windowStart}:${version}`) ?? 0) + 1);
    }
    // [20 s, 30 s) fired after the switch but ends at 30,000 <= T: the old version scored it.
    assert.deepEqual([...byVersion].sort(), [
      [`0:${oldVersion}`, KEYS],
      [`10000:${oldVersion}`, KEYS],
      [`20000:${oldVersion}`, KEYS],
      [`30000:${newVersion}`, KEYS],
      [`40000:${newVersion}`, KEYS],
      [`50000:${newVersion}`, KEYS],
    ]);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('each kind of bad new version is refused and counted; the version in force keeps scoring everything', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-reload-'));
  fs.writeFileSync(path.join(dir, 'm.json'), fixture('model-c.json'));
  const [g1, g2] = [gate(), gate()];
  const server = await startMetricsServer('127.0.0.1', 0, 'reload');
  try {
    const source = new GatedSource([
      { gate: g1.promise, values: events(0, 30_000) },
      { gate: g2.promise, values: events(30_000, 60_000) },
    ]);
    const job = runJob(writeJob(dir, { m: { source: 'm.json', reload: { pollMs: 20 } } }), { source, metricsServer: server });
    g1.open();
    await until('windows scored', async () => total(await scrape(server), 'sluice_scored_windows_total') >= 2 * KEYS);
    const next = fixture('reload-next.json');
    const bad: Array<[string, Buffer]> = [
      ['not a model', Buffer.from('this is not a model\n')],
      ['truncated', next.subarray(0, next.length >> 1)],
      ['another input width', fixture('reload-narrow.json')],
      ['other feature names', fixture('reload-renamed.json')],
      ['non-finite outputs on the recent rows', fixture('reload-inf.json')],
    ];
    for (const [i, [kind, bytes]] of bad.entries()) {
      fs.writeFileSync(path.join(dir, 'm.json'), bytes);
      await until(`${kind} refused`, async () => total(await scrape(server), 'sluice_model_reloads_total', { model: 'm', result: 'refused' }) === i + 1);
    }
    g2.open();
    await job.done;
    const m = await scrape(server);
    assert.equal(total(m, 'sluice_model_reloads_total', { result: 'accepted' }), 0);
    const version = sha12(fixture('model-c.json'));
    assert.equal(total(m, 'sluice_model_info', { model: 'm', version }), 1);
    const all = results(dir);
    assert.equal(all.length, 6 * KEYS);
    assert.ok(all.every((r) => r.modelVersion === version && Number.isFinite(r.risk)));
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
