// The source's record-batch reader (src/io/kafka/record-batch.ts) against what was produced:
// values (including empty and null ones), offsets and timestamps, with keys and headers that must
// be skipped, across batches of several partitions, plain and compressed.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { messageText } from '../../src/decode/raw-batch';
import { KafkaClient, type GroupConsumer } from '../../src/io/kafka/client';
import { RECORDS } from '../../src/io/kafka/record-batch';
import { KafkaSource } from '../../src/io/kafka/source';
import { startBroker } from './broker';
import { kcatProduce, testKafka } from './kafka-io';

test('records read from fetched batches match what was produced', { timeout: 60_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topic = `in-${id}`;
  const broker = await startBroker({ [topic]: 3 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const T0 = 1_700_000_000_000;
    const want = new Map<string, { value: string; timestampMs: number }>();
    const producer = testKafka(broker.brokers).producer();
    await producer.connect();
    for (const p of [0, 1]) {
      for (let start = 0; start < 300; start += 100) {
        const messages = Array.from({ length: 100 }, (_, k) => {
          const i = start + k;
          // Keys of every size, headers on some, a multi-byte value, an empty one, a null one.
          const value = i === 7 ? null : i === 8 ? '' : JSON.stringify({ i, p, text: 'é€😀'.repeat(i % 5) });
          return { key: i % 3 === 0 ? null : 'k'.repeat(i % 200), value, partition: p, timestamp: String(T0 + i * 1000 - p), headers: i % 4 === 0 ? { h: `v${i}`, other: Buffer.alloc(i % 50) } : undefined };
        });
        await producer.send({ topic, acks: -1, messages });
        messages.forEach((m, k) => want.set(`${p}:${start + k}`, { value: m.value ?? '', timestampMs: T0 + (start + k) * 1000 - p }));
      }
    }
    await producer.disconnect();
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ i, z: 'x'.repeat(i) }));
    await kcatProduce(broker.brokers, topic, 2, lines, 'lz4');
    lines.forEach((value, i) => want.set(`2:${i}`, { value, timestampMs: NaN }));

    const source = await KafkaSource.open({ type: 'kafka', brokers: broker.brokers, topic, groupId: `g-${id}`, startFrom: 'earliest', bounded: true, kafka: {}, key: 'i', timestamp: 'ts', format: 'json', maxMessageBytes: 1 << 20 }, 'records');
    const got = new Map<string, { value: string; timestampMs: number }>();
    let lastOffset = [-1, -1, -1];
    for await (const batch of source.batches(64)) {
      for (let n = 0; n < batch.count; n++) {
        const p = batch.partition[n];
        assert.equal(batch.offset[n], lastOffset[p] + 1, 'offsets come in order, none skipped or repeated');
        lastOffset[p] = batch.offset[n];
        got.set(`${p}:${batch.offset[n]}`, { value: messageText(batch, n), timestampMs: batch.recordTimestampMs[n] });
      }
      source.release(batch);
    }
    await source.close();
    assert.equal(got.size, want.size);
    for (const [k, w] of want) {
      const g = got.get(k)!;
      assert.equal(g.value, w.value, `value of ${k}`);
      if (!Number.isNaN(w.timestampMs)) assert.equal(g.timestampMs, w.timestampMs, `timestamp of ${k}`);
      else assert.ok(Math.abs(g.timestampMs - Date.now()) < 600_000, `kcat's create time of ${k}`);
    }
  } finally {
    await broker.stop();
  }
});

test("only sluice's consumers read batches as columns: an app's own kafkajs consumer in the same process gets kafkajs's records", { timeout: 60_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topic = `mixed-${id}`;
  const broker = await startBroker({ [topic]: 2 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  const kafka = testKafka(broker.brokers);
  const producer = kafka.producer();
  const theirs = kafka.consumer({ groupId: `app-${id}`, maxWaitTimeInMs: 50 });
  let ours: GroupConsumer | undefined;
  try {
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `{"i":${i}}`, partition: i % 2 })) });
    const seen = { columns: 0, records: 0, appColumns: 0, appKeys: new Set<string>() };
    const client = new KafkaClient({ brokers: broker.brokers, kafka: { maxWaitTimeInMs: 50 }, clientId: `sluice-${id}` });
    ours = await client.consume(topic, `sluice-${id}`, {
      onAssign: () => {},
      onBatch: async ({ messages }) => {
        for (const m of messages) m[RECORDS] ? (seen.columns += m[RECORDS].count) : seen.records++;
      },
    });
    await theirs.connect();
    await theirs.subscribe({ topics: [topic], fromBeginning: true });
    await theirs.run({
      eachMessage: async ({ message }) => {
        if ((message as { [RECORDS]?: unknown })[RECORDS]) seen.appColumns++;
        else seen.appKeys.add(message.key!.toString());
      },
    });
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && (seen.columns + seen.records < 100 || seen.appKeys.size + seen.appColumns < 100); ) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual({ columns: seen.columns, records: seen.records }, { columns: 100, records: 0 }, "sluice's consumer reads every batch as columns");
    assert.equal(seen.appColumns, 0, "the app's consumer never gets a stand-in record");
    assert.equal(seen.appKeys.size, 100, "the app's consumer gets kafkajs's records, keys included");
  } finally {
    await ours?.stop();
    await theirs.disconnect();
    await producer.disconnect();
    await broker.stop();
  }
});
