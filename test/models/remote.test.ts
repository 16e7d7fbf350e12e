// Remote models (SPEC §12): the Open Inference Protocol v2 client against a real HTTP server
// started by the test, which scores with model-c (the model's own predictions, in process):
// scores equal the in-process model's, failed requests are tried again, and the breaker opens
// after `failures` failed calls, sends calls to the fallback without contacting the server, and
// closes after one good probe.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { loadModel } from '../../src/scoring/load-model';
import { total } from '../helpers/metrics';
import { repoRoot } from '../helpers/paths';
import { events, FEATURES, gate, GatedSource, KEYS, scrape, until, writeJob } from './harness';

const MODEL = path.join(repoRoot, 'test', 'models', 'fixtures', 'model-c.json');
const TOKEN = 'Bearer remote';

/** An OIP v2 server of model-c at /v2/models/c. `failNext` requests answer 503; `down`: all 500. */
async function oipServer() {
  const model = await loadModel(MODEL);
  const state = { failNext: 0, down: false, requests: 0, rows: 0, unauthorized: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      state.requests++;
      if (req.method !== 'POST' || req.url !== '/v2/models/c/infer') return res.writeHead(404).end(JSON.stringify({ error: 'unknown model' }));
      if (req.headers.authorization !== TOKEN) return state.unauthorized++, res.writeHead(401).end();
      if (state.down) return res.writeHead(500).end(JSON.stringify({ error: 'the scorer is down' }));
      if (state.failNext > 0) return state.failNext--, res.writeHead(503).end(JSON.stringify({ error: 'busy' }));
      const input = JSON.parse(body).inputs[0];
      const [n, width] = input.shape;
      assert.equal(width, FEATURES.length);
      state.rows += n;
      const scores = model.predictSync!(Float32Array.from(input.data), n);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model_name: 'c', model_version: 'c-7', outputs: [{ name: 'score', datatype: 'FP32', shape: [n, 1], data: Array.from(scores) }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/c`;
  return { state, url, model, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

const results = (dir: string) => fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('a remote model scores as the model in process; failed requests are tried again', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-remote-'));
  const oip = await oipServer();
  const metrics = await startMetricsServer('127.0.0.1', 0, 'remote');
  try {
    const far = { type: 'remote', url: oip.url, headers: { Authorization: TOKEN }, retries: 3, backoffMs: 5 };
    oip.state.failNext = 2; // the first call's first two tries
    const source = new GatedSource([{ gate: Promise.resolve(), values: events(0, 60_000) }]);
    await runJob(writeJob(dir, { m: far }), { source, metricsServer: metrics }).done;
    const all = results(dir);
    assert.equal(all.length, 6 * KEYS);
    for (const r of all) {
      const local = oip.model.predictSync!(Float32Array.from(FEATURES.map((f) => r.features[f])), 1)[0];
      assert.ok(Math.abs(r.risk - local) <= 1e-7, `${r.key}: remote ${r.risk}, in process ${local}`);
      assert.deepEqual([r.model, r.modelVersion, r.fallback], ['m', 'c-7', undefined]);
    }
    assert.equal(oip.state.rows, all.length, 'every window sent once');
    assert.equal(oip.state.unauthorized, 0);
    const m = await scrape(metrics);
    assert.equal(total(m, 'sluice_model_errors_total'), 0, 'the retries absorbed the 503s');
    assert.equal(total(m, 'sluice_model_breaker_open', { model: 'm' }), 0);
  } finally {
    await metrics.close();
    await oip.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the breaker opens after `failures` failed calls: calls go to the fallback without the server, then one probe closes it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-remote-'));
  const oip = await oipServer();
  const metrics = await startMetricsServer('127.0.0.1', 0, 'remote');
  const [g1, g2, g3] = [gate(), gate(), gate()];
  try {
    const far = { type: 'remote', url: oip.url, headers: { Authorization: TOKEN }, retries: 0, breaker: { failures: 2, openMs: 300 } };
    // The first part comes in four batches: each fires windows, so its calls are several (a
    // task makes one call for all its key partitions).
    const source = new GatedSource([
      ...[0, 10_000, 20_000, 30_000].map((fromMs) => ({ gate: g1.promise, values: events(fromMs, fromMs + 10_000) })),
      { gate: g2.promise, values: events(40_000, 50_000) },
      { gate: g3.promise, values: events(50_000, 60_000) },
    ]);
    const job = runJob(writeJob(dir, { m: far }, { onError: { fallback: { value: 0 } } }), { source, metricsServer: metrics });
    oip.state.down = true;
    g1.open();
    await until('the breaker open', async () => total(await scrape(metrics), 'sluice_model_errors_total', { model: 'm', kind: 'breaker' }) > 0);
    await until('the first part scored', async () => total(await scrape(metrics), 'sluice_scored_windows_total') >= 3 * KEYS);
    const whileOpen = oip.state.requests;
    assert.ok(whileOpen >= 2 && whileOpen <= 3, `${whileOpen} requests: the breaker opens after 2 failed calls (a call already out may fail too)`);
    // The scorer comes back; after openMs one probe goes through and closes the breaker.
    oip.state.down = false;
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(oip.state.requests, whileOpen, 'no call reached the server while the breaker was open');
    // The next part's first call is the probe: it succeeds and closes the breaker.
    g2.open();
    await until('the breaker closed', async () => total(await scrape(metrics), 'sluice_model_breaker_open', { model: 'm' }) === 0);
    g3.open();
    await job.done;
    const all = results(dir);
    assert.equal(all.length, 6 * KEYS);
    const failed = all.filter((r) => r.fallback !== undefined);
    const scored = all.filter((r) => r.fallback === undefined);
    assert.ok(failed.length > 0 && scored.length > 0);
    for (const r of failed) {
      assert.equal(r.fallback, 'value');
      assert.equal(r.risk, 0);
      assert.equal(r.modelVersion, null, 'the server never answered before');
      assert.match(r.error, /^the model call failed: (http:\/\/127\.0\.0\.1:\d+\/v2\/models\/c: HTTP 500: the scorer is down|the breaker of http:\/\/127\.0\.0\.1:\d+\/v2\/models\/c is open \(\d+ failed calls in a row\); calls resume after breaker\.openMs \(300 ms\))$/);
      // Later, only calls made while the probe was out (the other worker's) fall back.
      if (r.windowStart >= 30_000) assert.match(r.error, /is open/);
    }
    const later = all.filter((r) => r.windowStart >= 40_000);
    assert.ok(later.length > 0 && later.every((r) => r.fallback === undefined), 'once the breaker closed, the remote model scores');
    for (const r of scored) assert.equal(r.modelVersion, 'c-7');
    const m = await scrape(metrics);
    assert.equal(total(m, 'sluice_model_breaker_open', { model: 'm' }), 0, 'closed again');
    assert.equal(total(m, 'sluice_model_fallbacks_total', { model: 'm', fallback: 'value' }), failed.length);
  } finally {
    await metrics.close();
    await oip.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the prediction cache: a row seen before is answered from it; hits and misses are counted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-remote-'));
  const oip = await oipServer();
  const metrics = await startMetricsServer('127.0.0.1', 0, 'remote');
  try {
    // Every key's window holds the same amounts: one row, KEYS x 6 times.
    const values: string[] = [];
    for (let ts = 0; ts < 60_000; ts += 500) for (let k = 0; k < KEYS; k++) values.push(JSON.stringify({ card: `card-${k}`, ts, amount: 1 + ((ts % 10_000) / 500), items: 1 }));
    const far = { type: 'remote', url: oip.url, headers: { Authorization: TOKEN } };
    const job = writeJob(dir, { m: far }, { cache: { maxEntries: 10, ttlMs: 60_000 } });
    await runJob(job, { source: new GatedSource([{ gate: Promise.resolve(), values }]), metricsServer: metrics }).done;
    const all = results(dir);
    assert.equal(all.length, 6 * KEYS);
    const local = oip.model.predictSync!(Float32Array.from(FEATURES.map((f) => all[0].features[f])), 1)[0];
    assert.ok(all.every((r) => Math.abs(r.risk - local) <= 1e-7 && r.modelVersion === 'c-7'));
    const m = await scrape(metrics);
    const [hits, misses] = [total(m, 'sluice_model_cache_total', { model: 'm', result: 'hit' }), total(m, 'sluice_model_cache_total', { model: 'm', result: 'miss' })];
    assert.equal(hits + misses, all.length);
    assert.equal(oip.state.rows, misses, 'only the misses reached the server');
    assert.ok(misses <= 2 * 16, `${misses} misses: a row repeated in a call is scored once, and later from the cache`);
    // The score histogram: every result in one bucket, counted per model.
    assert.equal(total(m, 'sluice_model_score_count', { model: 'm' }), all.length);
    assert.equal(total(m, 'sluice_model_score_bucket', { model: 'm', le: '+Inf' }), all.length);
  } finally {
    await metrics.close();
    await oip.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
