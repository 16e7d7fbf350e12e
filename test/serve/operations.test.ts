// sluice serve (SPEC §14) under load and in operation: a burst over maxQueueRows, the scoring:
// route (variants by key, fallback, shadow), hot reload while serving, SIGTERM with requests in
// flight, and a remote model of a job pointed at sluice serve.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { runJob } from '../../src/app/run-job';
import { VariantTable } from '../../src/models/variants';
import { loadModel } from '../../src/scoring/load-model';
import { repoRoot, sluiceBin } from '../helpers/paths';
import { events, GatedSource, KEYS, until, writeJob } from '../models/harness';
import { get, matrixBody, post, serve } from './harness';

const FIXTURES = path.join(repoRoot, 'test', 'models', 'fixtures');
const MODEL_C = path.join(FIXTURES, 'model-c.json');
const MODEL_B = path.join(FIXTURES, 'model-b.json');
const NEXT = path.join(FIXTURES, 'reload-next.json');
const ALL_INF = path.join(FIXTURES, 'reload-inf.json');
const rowOf = (i: number) => [i % 5, i * 1.5, (i % 7) - 3, i % 11, 100 - i, (i * 0.37) % 1, i % 3];

test('a burst over maxQueueRows: some requests get 429, the rest their own rows\' scores, each answered once', async () => {
  const model = await loadModel(MODEL_C);
  // Batches wait 200 ms for rows (none is scored inline), and five requests of 12 rows stay under
  // maxRows: the rest of the burst finds the queue full.
  const s = await serve({ models: { c: { source: MODEL_C } }, batching: { maxRows: 64, maxDelayMs: 200, maxQueueRows: 64, inlineMaxUs: 0 } });
  try {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, r) => {
        const rows = Array.from({ length: 12 }, (_, i) => rowOf(r * 12 + i));
        return post(`${s.url}/v2/models/c/infer`, matrixBody(rows, { id: `q${r}` })).then((a) => ({ r, rows, a }));
      }),
    );
    const statuses = answers.map((x) => x.a.status);
    assert.ok(statuses.every((st) => st === 200 || st === 429), `statuses ${[...new Set(statuses)]}`);
    const ok = answers.filter((x) => x.a.status === 200);
    const refused = answers.filter((x) => x.a.status === 429);
    assert.ok(ok.length >= 5 && refused.length > 0, `${ok.length} answered, ${refused.length} refused`);
    for (const { r, rows, a } of ok) {
      assert.equal(a.body.id, `q${r}`);
      const local = model.predictSync!(Float32Array.from(rows.flat()), rows.length);
      assert.deepEqual(a.body.outputs[0].data.map(Math.fround), Array.from(local), `request ${r}`);
    }
    for (const { a } of refused) assert.match(a.body.error, /rows are waiting to be scored, at most 64 \(batching.maxQueueRows\); retry later/);
    const metrics = (await get(`${s.url}/metrics`)).body as string;
    assert.match(metrics, new RegExp(`sluice_serve_requests_total\\{model="c",status="200"\\} ${ok.length}\\b`));
    assert.match(metrics, new RegExp(`sluice_serve_requests_total\\{model="c",status="429"\\} ${refused.length}\\b`));
    assert.match(metrics, /sluice_serve_batch_rows_bucket\{le="64",on="worker"\} [1-9]/);
    // The queue drained: a request now is answered.
    const after = await post(`${s.url}/v2/models/c/infer`, matrixBody([rowOf(0)]));
    assert.equal(after.status, 200);
  } finally {
    await s.close();
  }
});

test('the scoring: route: a variant per key (parameter or header), the fallback when it fails, shadow records', async () => {
  const [b, c] = await Promise.all([loadModel(MODEL_B), loadModel(MODEL_C)]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-route-'));
  const s = await serve(
    { models: { b: { source: MODEL_B }, c: { source: MODEL_C }, inf: { source: ALL_INF } }, scoring: { name: 'fraud', variants: [{ model: 'b', weight: 50 }, { model: 'inf', weight: 50 }], shadow: ['c'], onError: { fallback: 'c' } }, shadow: { type: 'file', path: 'shadow.jsonl' } },
    { baseDir: dir },
  );
  try {
    const table = new VariantTable([50, 50]);
    const keyOf = (v: number) => Array.from({ length: 100 }, (_, i) => `card-${i}`).find((k) => table.ofKey(new TextEncoder().encode(k)) === v)!;
    const rows = [rowOf(1), rowOf(2)];
    const input = Float32Array.from(rows.flat());
    const toB = await post(`${s.url}/v2/models/fraud/infer`, matrixBody(rows, { parameters: { key: keyOf(0) } }));
    assert.equal(toB.status, 200, JSON.stringify(toB.body));
    assert.deepEqual(toB.body.parameters, { model: 'b' });
    assert.deepEqual(toB.body.outputs[0].data.map(Math.fround), Array.from(b.predictSync!(input, 2)));
    // The header wins over the parameter: this key goes to inf, which fails, so c scores.
    const toInf = await post(`${s.url}/v2/models/fraud/infer`, matrixBody(rows, { parameters: { key: keyOf(0) } }), { 'x-sluice-key': keyOf(1) });
    assert.equal(toInf.status, 200, JSON.stringify(toInf.body));
    assert.equal(toInf.body.parameters.model, 'inf');
    assert.equal(toInf.body.parameters.fallback, 'c');
    assert.match(toInf.body.parameters.fallbackVersion, /^[0-9a-f]{12}$/);
    assert.match(toInf.body.parameters.error, /non-finite/);
    assert.deepEqual(toInf.body.outputs[0].data.map(Math.fround), Array.from(c.predictSync!(input, 2)));
    await until('two shadow records', () => fs.existsSync(path.join(dir, 'shadow.jsonl')) && fs.readFileSync(path.join(dir, 'shadow.jsonl'), 'utf8').trim().split('\n').length === 2);
    const shadow = fs.readFileSync(path.join(dir, 'shadow.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(shadow.map((r) => [r.model, r.key]), [['c', keyOf(0)], ['c', keyOf(1)]]);
    assert.deepEqual(shadow[0].score.map(Math.fround), Array.from(c.predictSync!(input, 2)));
    const meta = await get(`${s.url}/v2/models/fraud`);
    assert.equal(meta.body.platform, 'sluice-variants');
  } finally {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('hot reload while serving: no request fails, and model_version changes in the answers', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-reload-'));
  const file = path.join(dir, 'm.json');
  fs.copyFileSync(MODEL_C, file);
  const s = await serve({ models: { m: { source: file, reload: { pollMs: 100 } } }, workers: { threads: 2 } }, { baseDir: dir });
  try {
    const seen = new Map<string, number>();
    const failures: string[] = [];
    let stop = false;
    const loop = async () => {
      for (let i = 0; !stop; i++) {
        const got = await post(`${s.url}/v2/models/m/infer`, matrixBody([rowOf(i), rowOf(i + 1)]));
        if (got.status !== 200) failures.push(`${got.status} ${JSON.stringify(got.body)}`);
        else seen.set(got.body.model_version, (seen.get(got.body.model_version) ?? 0) + 1);
      }
    };
    const loops = [loop(), loop(), loop()];
    await until('answers from the first version', () => seen.size === 1 && [...seen.values()][0] > 20);
    fs.copyFileSync(NEXT, `${file}.tmp`);
    fs.renameSync(`${file}.tmp`, file);
    await until('answers from the next version', () => seen.size === 2, 15_000);
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, []);
    const versions = (await get(`${s.url}/v2/models/m`)).body.versions;
    assert.equal(versions.length, 2);
    assert.deepEqual(new Set(seen.keys()), new Set(versions));
    // The older version still answers when named.
    const old = await post(`${s.url}/v2/models/m/versions/${versions[0]}/infer`, matrixBody([rowOf(3)]));
    assert.equal(old.body.model_version, versions[0]);
    assert.match((await get(`${s.url}/metrics`)).body, /sluice_model_reloads_total\{model="m",result="accepted"\} 1/);
  } finally {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM with requests in flight: every one is answered, then exit 0', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-term-'));
  // Batches wait 400 ms for rows (none is scored inline): the requests are queued when SIGTERM comes.
  fs.writeFileSync(path.join(dir, 'serve.yaml'), stringify({ models: { c: { source: MODEL_C } }, http: { port: 0 }, batching: { maxDelayMs: 400, inlineMaxUs: 0 }, workers: { threads: 1 } }));
  const child = spawn(process.execPath, [sluiceBin, 'serve', path.join(dir, 'serve.yaml')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_LOG_LEVEL: 'info' } });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await until('listening and ready', () => /"msg":"ready:/.test(log), 15_000);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)![1]);
    const inFlight = Array.from({ length: 5 }, (_, i) => post(`http://127.0.0.1:${port}/v2/models/c/infer`, matrixBody([rowOf(i)], { id: `t${i}` })));
    // And three requests pipelined on one connection.
    const piped = new Promise<string>((resolve, reject) => {
      const one = (id: string) => {
        const body = JSON.stringify(matrixBody([rowOf(9)], { id }));
        return `POST /v2/models/c/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      };
      const socket = net.connect(port, '127.0.0.1', () => socket.write(one('p1') + one('p2') + one('p3')));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    assert.deepEqual(answers.map((a) => [a.status, a.body.id]), [0, 1, 2, 3, 4].map((i) => [200, `t${i}`]));
    const text = await piped;
    assert.deepEqual([...text.matchAll(/HTTP\/1.1 (\d+)/g)].map((m) => m[1]), ['200', '200', '200'], text);
    assert.deepEqual([...text.matchAll(/"id":"(p\d)"/g)].map((m) => m[1]), ['p1', 'p2', 'p3']);
    assert.equal(await exited, 0, log);
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a remote model pointed at sluice serve scores as the model in process', async () => {
  const s = await serve({ models: { c: { source: MODEL_C } } });
  const dirs = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-remote-')));
  try {
    const results = async (dir: string, m: object) => {
      await runJob(writeJob(dir, { m }), { source: new GatedSource([{ gate: Promise.resolve(), values: events(0, 60_000) }]) }).done;
      return fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    };
    const local = await results(dirs[0], { source: MODEL_C });
    const remote = await results(dirs[1], { type: 'remote', url: `${s.url}/v2/models/c`, retries: 0 });
    assert.equal(local.length, 6 * KEYS);
    assert.deepEqual(remote.map((r) => [r.key, r.windowStart, r.risk]), local.map((r) => [r.key, r.windowStart, r.risk]));
    assert.equal(remote[0].modelVersion, local[0].modelVersion, 'the version serve answers is the file\'s');
  } finally {
    await s.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
});
