// Compressed topics (kafkajs decodes only gzip itself; sluice registers snappy, lz4 and zstd):
// one partition per codec, each produced by kcat (librdkafka's encoders, not ours), read in one
// bounded job whose results must equal the file source's over the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { runJob } from '../../src/app/run-job';
import { registerCodecs } from '../../src/io/kafka/codecs';
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

test('results written with sink.compression gzip, snappy and lz4 read back through kcat as the uncompressed ones', { timeout: 120_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const written = ['none', 'gzip', 'snappy', 'lz4'];
  const topics = Object.fromEntries(written.map((c) => [c, `results-${c}-${id}`]));
  const broker = await startBroker({ [`in-${id}`]: 2, ...Object.fromEntries(written.map((c) => [topics[c], 3])) });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const data = keyedEvents(2, 20, 3000, 1_700_000_000_000, 10);
    for (let p = 0; p < 2; p++) await kcatProduce(broker.brokers, `in-${id}`, p, data[p], 'none');
    // Counted as they compress: each codec's records go through it (else all four would be plain).
    registerCodecs();
    const compressed: Record<number, number> = {};
    type Codec = () => { compress(e: unknown): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> };
    const codecs = CompressionCodecs as unknown as Record<number, Codec>;
    for (const type of [CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4]) {
      const codec = codecs[type];
      codecs[type] = () => {
        const c = codec();
        return { ...c, compress: (e: unknown) => ((compressed[type] = (compressed[type] ?? 0) + 1), c.compress(e)) };
      };
    }
    const read: Record<string, string[]> = {};
    for (const compression of written) {
      const source = { type: 'kafka', brokers: broker.brokers, topic: `in-${id}`, groupId: `g-${compression}-${id}`, startFrom: 'earliest', bounded: true };
      await runJob(e2eJob(source, { sink: { type: 'kafka', topic: topics[compression], compression } })).done;
      // librdkafka decodes what sluice compressed: partition, key, timestamp and value per record.
      read[compression] = readTopic(broker.brokers, topics[compression]).map((r) => `${r.partition} ${r.key} ${r.timestampMs} ${r.value}`);
    }
    assert.ok(read.none.length > 100, `${read.none.length} results`);
    for (const c of ['gzip', 'snappy', 'lz4']) assert.deepEqual(read[c], read.none, `${c}: the same records, in the same order per partition`);
    assert.ok(compressed[CompressionTypes.GZIP] > 0 && compressed[CompressionTypes.Snappy] > 0 && compressed[CompressionTypes.LZ4] > 0, `compressed batches: ${JSON.stringify(compressed)}`);
  } finally {
    await broker.stop();
  }
});
