// Models at http(s) URLs (SPEC §12), against a real HTTP server started by the test: headers sent,
// conditional GETs (ETag) while polling, a new version taken over, a failing poll refused while
// the job goes on, and at start: retries with backoff, a timeout, maxBytes and HTTP errors, each
// an error naming the URL.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { loadJob } from '../../src/config/job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { loadModels } from '../../src/models/registry';
import { total } from '../helpers/metrics';
import { repoRoot } from '../helpers/paths';
import { events, gate, GatedSource, KEYS, scrape, until, writeJob } from './harness';

const FIXTURES = path.join(repoRoot, 'test', 'models', 'fixtures');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
const sha12 = (data: Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 12);
const TOKEN = 'Bearer test-token';

/** An HTTP server of model files. /model.json: `served.bytes` behind the token, with an ETag;
 *  `served.status` other than 200 fails it. Others: see the routes. */
async function modelServer() {
  const served = { bytes: fixture('model-c.json'), status: 200 };
  const seen = { requests: 0, notModified: 0, flaky: 0, unauthorized: 0 };
  const server = http.createServer((req, res) => {
    seen.requests++;
    const etag = `"${sha12(served.bytes)}"`;
    switch (req.url) {
      case '/model.json':
        if (req.headers.authorization !== TOKEN) return seen.unauthorized++, res.writeHead(401).end();
        if (served.status !== 200) return res.writeHead(served.status).end();
        if (req.headers['if-none-match'] === etag) return seen.notModified++, res.writeHead(304).end();
        return res.writeHead(200, { etag, 'content-type': 'application/json' }).end(served.bytes);
      case '/flaky.json': // fails twice, then answers
        return ++seen.flaky <= 2 ? res.writeHead(503).end() : res.writeHead(200).end(served.bytes);
      case '/hang.json':
        return; // never answers
      case '/big.json':
        return res.writeHead(200, { 'content-length': 5000 }).end(Buffer.alloc(5000, 32));
      case '/big-chunked.json':
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(500, 32));
        return res.end();
      default:
        return res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = (p: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`;
  return { served, seen, url, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

test('a URL model: headers sent, polled with conditional GETs, a new version taken over, a failing poll refused while the job goes on', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-url-'));
  const web = await modelServer();
  const metrics = await startMetricsServer('127.0.0.1', 0, 'url');
  const [g1, g2] = [gate(), gate()];
  try {
    const file = writeJob(dir, { m: { source: web.url('/model.json'), headers: { Authorization: TOKEN }, reload: { pollMs: 20 } } });
    const source = new GatedSource([
      { gate: g1.promise, values: events(0, 30_000) },
      { gate: g2.promise, values: events(30_000, 60_000) },
    ]);
    const job = runJob(file, { source, metricsServer: metrics });
    const [before, after] = [sha12(fixture('model-c.json')), sha12(fixture('reload-next.json'))];
    await until('the first version in force', async () => total(await scrape(metrics), 'sluice_model_info', { model: 'm', version: before }) === 1);
    g1.open();
    await until('windows scored', async () => total(await scrape(metrics), 'sluice_scored_windows_total') >= 2 * KEYS);
    await until('polls answered 304', () => web.seen.notModified >= 3);
    web.served.bytes = fixture('reload-next.json');
    await until('the new version in force', async () => total(await scrape(metrics), 'sluice_model_info', { model: 'm', version: after }) === 1);
    // The server fails: each poll is refused (logged and counted), and the job goes on.
    web.served.status = 500;
    await until('a failing poll refused', async () => total(await scrape(metrics), 'sluice_model_reloads_total', { model: 'm', result: 'refused' }) >= 1);
    g2.open();
    const summary = await job.done;
    assert.equal(summary.windowsFired, 6 * KEYS);
    assert.equal(web.seen.unauthorized, 0, 'every request carried the header');
    const records = fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(records.some((r) => r.modelVersion === before) && records.some((r) => r.modelVersion === after));
  } finally {
    await metrics.close();
    await web.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a URL model at start: retried with backoff; a timeout, maxBytes and HTTP errors are errors naming the URL', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-url-'));
  const web = await modelServer();
  const start = async (model: object) => loadModels(await loadJob(writeJob(dir, { m: model })));
  const fails = async (model: object, message: RegExp) => assert.rejects(start(model), (e: Error) => (assert.match(e.message, message), true));
  try {
    // Two 503s, then the model: the third try loads it.
    const flaky = await start({ type: 'xgboost', source: web.url('/flaky.json') });
    assert.equal(web.seen.flaky, 3);
    assert.equal(flaky.plan.models[0].kind === 'file' && flaky.plan.models[0].versions[0].version, sha12(fixture('model-c.json')));
    const url = (p: string) => web.url(p).replace(/[.?]/g, '\\$&');
    await fails({ source: web.url('/model.json') }, new RegExp(`^${url('/model.json')}: GET answered HTTP 401 Unauthorized \\(check the headers: given for this model\\)$`));
    await fails({ source: web.url('/missing.json') }, new RegExp(`^${url('/missing.json')}: GET answered HTTP 404 Not Found$`));
    await fails({ source: web.url('/hang.json'), downloadTimeoutMs: 100 }, new RegExp(`^${url('/hang.json')}: GET failed 3 times; the last: no answer within 100 ms$`));
    await fails({ source: web.url('/big.json'), maxBytes: 1000 }, new RegExp(`^${url('/big.json')}: is 5,000 bytes, over models\\.m\\.maxBytes \\(1,000\\)`));
    await fails({ source: web.url('/big-chunked.json'), maxBytes: 1000 }, new RegExp(`^${url('/big-chunked.json')}: is more than 1,000 bytes, over models\\.m\\.maxBytes`));
    web.served.status = 503;
    await fails({ source: web.url('/model.json'), headers: { Authorization: TOKEN } }, /GET failed 3 times; the last: HTTP 503 Service Unavailable$/);
    // A port nothing listens on.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await fails({ source: `http://127.0.0.1:${port}/model.json` }, new RegExp(`^http://127\\.0\\.0\\.1:${port}/model\\.json: GET failed 3 times; the last: ECONNREFUSED$`));
  } finally {
    await web.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('headers and downloadTimeoutMs go with URL sources only', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-url-'));
  try {
    await assert.rejects(loadJob(writeJob(dir, { m: { source: 'm.json', headers: { a: 'b' } } })), /models\.m\.headers: only with an http\(s\) source, but source is the file "m\.json"/);
    await assert.rejects(loadJob(writeJob(dir, { m: { source: 'https://x/m.json', headers: { a: 1 } } })), /models\.m\.headers\.a: expected a header value \(a string\), got 1/);
    const onnx = await loadJob(writeJob(dir, { m: { source: 'https://x/fraud.onnx?sig=abc' } }));
    assert.equal(onnx.models.m.type, 'onnx', 'the type from the URL path');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
