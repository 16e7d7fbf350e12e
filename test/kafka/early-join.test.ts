// The source's early group join (KafkaSource.join, docs/kafka.md "Start-up"): partitions the group
// assigns before the engine reads stay paused, and are read from the positions given by then (a
// checkpoint's, resumeAt), not from where the source was opened.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { RebalanceListener } from '../../src/decode/raw-batch';
import { KafkaSource } from '../../src/io/kafka/source';
import { startBroker } from './broker';
import { testKafka } from './kafka-io';

test('a group joined before the engine reads: nothing is fetched until it reads, and then from the checkpoint positions given meanwhile', { timeout: 60_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topic = `early-${id}`;
  const broker = await startBroker({ [topic]: 2 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  let source: KafkaSource | null = null;
  try {
    const producer = testKafka(broker.brokers).producer();
    await producer.connect();
    for (const partition of [0, 1]) {
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 100 }, (_, i) => ({ value: JSON.stringify({ i, partition }), partition })) });
    }
    await producer.disconnect();

    source = await KafkaSource.open({ type: 'kafka', brokers: broker.brokers, topic, groupId: `g-${id}`, startFrom: 'earliest', bounded: true, kafka: { maxWaitTimeInMs: 50 }, key: 'i', timestamp: 'ts', format: 'json', maxMessageBytes: 1 << 20 }, 'early');
    assert.deepEqual(source.startPositions, [0, 0]);
    await source.join();
    assert.throws(() => source!.listen({} as RebalanceListener), /group join has started/);
    // The group assigns the partitions while nothing reads (the mock holds a first join ~3 s).
    const until = Date.now() + 20_000;
    while (source.groupJoinMs === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(source.groupJoinMs, null, 'the group assigned partitions before batches()');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(source.queuedRecords, 0, 'nothing is fetched before the engine reads');

    // A checkpoint's positions, known only now (the state is read while the group joins).
    source.resumeAt([40, 70]);
    assert.deepEqual(source.startPositions, [40, 70]);
    const offsets: number[][] = [[], []];
    for await (const batch of source.batches(64)) {
      for (let n = 0; n < batch.count; n++) offsets[batch.partition[n]].push(batch.offset[n]);
      source.release(batch);
    }
    assert.deepEqual(offsets[0], Array.from({ length: 60 }, (_, k) => 40 + k));
    assert.deepEqual(offsets[1], Array.from({ length: 30 }, (_, k) => 70 + k));
    assert.throws(() => source!.resumeAt([0, 0]), /already being read/);
  } finally {
    await source?.close();
    await broker.stop();
  }
});
