// Compressed topics (kafkajs decodes only gzip itself; sluice registers snappy, lz4 and zstd):
// one partition per codec, each produced by kcat (librdkafka's encoders, not ours), read in one
// bounded job whose results must equal the file source's over the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { runJob } from '../../src/app/run-job';
import { startBroker } from './broker';
import { kcatProduce, readTopic } from './kafka-io';
import { e2eJob, fileReference, keyedEvents, sorted } from './jobs';

const CODECS = ['snappy', 'lz4', 'zstd', 'gzip'];

test('snappy, lz4, zstd and gzip topics produced by kcat decode to the same results', { timeout: 90_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}` };
  const broker = await startBroker({ [topics.in]: CODECS.length, [topics.results]: 1 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const data = keyedEvents(CODECS.length, 10, 2000, 1_700_000_000_000, 10);
    for (let p = 0; p < CODECS.length; p++) await kcatProduce(broker.brokers, topics.in, p, data[p], CODECS[p]);
    const reference = await fileReference(data, { key: 'card', timestamp: 'ts' });
    const source = { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: `g-${id}`, startFrom: 'earliest', bounded: true };
    const summary = await runJob(e2eJob(source, { sink: { type: 'kafka', topic: topics.results } })).done;
    assert.equal(summary.events, CODECS.length * 2000);
    assert.equal(summary.deadLetters, 0);
    // Per key the order is the partition's, so each window is the same; only the interleaving
    // of partitions (and so the order of firings) may differ from the file source's.
    assert.deepEqual(sorted(readTopic(broker.brokers, topics.results).map((r) => r.value)), sorted(reference));
  } finally {
    await broker.stop();
  }
});
