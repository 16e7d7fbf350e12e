// Kafka set-up errors are one clear line at start, never a hang or a crash (SPEC §3): a source
// topic or an output topic that does not exist, and brokers that cannot be reached.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { SluiceError } from '../../src/errors';
import { sluiceBin } from '../helpers/paths';
import { startBroker } from './broker';
import { E2E, e2eJob, tmpDir } from './jobs';

test('a source or output topic that does not exist is a clear error at start', { timeout: 60_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const broker = await startBroker({ [`in-${id}`]: 1 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const source = { type: 'kafka', brokers: broker.brokers, groupId: 'g', bounded: true };
    const sink = { sink: { type: 'file', path: path.join(tmpDir('out'), 'r.jsonl') } };
    await assert.rejects(runJob(e2eJob({ ...source, topic: `missing-${id}` }, sink)).done, (e: SluiceError) => {
      assert.equal(e.code, 'SLUICE_KAFKA');
      assert.match(e.message, new RegExp(`^topic "missing-${id}" does not exist on ${broker.brokers[0].replace(/\./g, '\\.')}`));
      return true;
    });
    await assert.rejects(runJob(e2eJob({ ...source, topic: `in-${id}` }, { sink: { type: 'kafka', topic: `nowhere-${id}` } })).done, /topic "nowhere-.*" does not exist/);

    // The CLI: one line, exit 1 (a runtime failure, not a bad job file).
    const dir = tmpDir('cli');
    fs.copyFileSync(path.join(E2E, 'model.json'), path.join(dir, 'model.json'));
    const job = fs.readFileSync(path.join(E2E, 'job.yaml'), 'utf8')
      .replace(/^source: .*$/m, `source: { type: kafka, brokers: ["${broker.brokers[0]}"], topic: missing-${id}, groupId: g, key: card, timestamp: ts }`);
    fs.writeFileSync(path.join(dir, 'job.yaml'), job);
    const r = spawnSync(process.execPath, [sluiceBin, 'run', 'job.yaml', '--quiet'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /topic "missing-.*" does not exist/);
  } finally {
    await broker.stop();
  }
});

test('brokers that cannot be reached fail the start with the address', { timeout: 60_000 }, async () => {
  // A port nothing listens on: the start-up calls retry a few times, then give up.
  const source = { type: 'kafka', brokers: ['127.0.0.1:9'], topic: 'x', groupId: 'g' };
  await assert.rejects(runJob(e2eJob(source, { sink: { type: 'stdout' } })).done, (e: SluiceError) => {
    assert.equal(e.code, 'SLUICE_KAFKA');
    assert.match(e.message, /127\.0\.0\.1:9/);
    return true;
  });
});
