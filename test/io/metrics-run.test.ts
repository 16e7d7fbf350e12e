// A real run's metrics (SPEC §11), scraped while it runs and after: the counters agree with the
// run's summary, its outputs and each other; /readyz says ready only while the job reads.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { runJob } from '../../src/app/run-job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { checkRunMetrics, parseMetrics, total } from '../helpers/metrics';
import { e2eJob, E2E } from '../kafka/jobs';

test('a file job: metrics during and after the run agree with its summary and outputs', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-metrics-run-'));
  const out = (f: string) => ({ type: 'file', path: path.join(dir, f) });
  const config = e2eJob({ type: 'file', path: [path.join(E2E, 'p0.jsonl'), path.join(E2E, 'p1.jsonl')] }, { sink: out('results.jsonl'), late: out('late.jsonl'), deadLetter: out('dead.jsonl') });
  const server = await startMetricsServer('127.0.0.1', 0, 'metrics-run');
  const get = async (p: string) => fetch(`http://127.0.0.1:${server.port}${p}`);
  try {
    assert.equal((await get('/readyz')).status, 503, 'not ready before the job starts');
    const during: Array<Promise<{ events: number; ready: number }>> = [];
    // Small batches, so that the run has many; scraped after a few of them.
    const summary = await runJob(config, {
      metricsServer: server,
      batchSize: 64,
      onProgress: () => {
        if (during.length < 3)
          during.push((async () => ({ events: total(parseMetrics(await (await get('/metrics')).text()), 'sluice_events_in_total'), ready: (await get('/readyz')).status }))());
      },
    }).done;
    const lines = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l !== '');
    const after = await (await get('/metrics')).text();
    checkRunMetrics(after, summary, { results: lines('results.jsonl'), deadLetters: lines('dead.jsonl') });
    // Two source partitions (the two files), both counted.
    assert.deepEqual((parseMetrics(after).get('sluice_events_in_total') ?? []).map((s) => s.labels.partition).sort(), ['0', '1']);
    const scrapes = await Promise.all(during);
    assert.equal(scrapes.length, 3);
    for (const s of scrapes) {
      assert.ok(s.events > 0 && s.events < summary.events, `a scrape during the run saw ${s.events} of ${summary.events} events`);
      assert.equal(s.ready, 200, 'ready while reading');
    }
    assert.equal((await get('/readyz')).status, 503, 'not ready once it ended');
  } finally {
    await server.close();
  }
});
