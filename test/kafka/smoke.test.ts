// The Kafka test broker itself (SPEC.md §2): kafkajs can produce to it and consume from it with a
// consumer group, and the mock's command channel answers. Every other Kafka test builds on this.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Kafka, logLevel, Partitioners, type Consumer, type Producer } from 'kafkajs';
import { startBroker } from './broker';

const MESSAGES = 1000;
const PARTITIONS = 4;
const KEYS = 40;

test('kafkajs produces to and consumes from the test broker', { timeout: 60_000 }, async (t) => {
  // A fresh topic and group per run, so a real cluster (KAFKA_BROKERS) holds no earlier messages.
  const topic = `sluice-smoke-${process.pid}-${Date.now()}`;
  const broker = await startBroker({ [topic]: PARTITIONS });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');

  const kafka = new Kafka({
    clientId: 'sluice-smoke',
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 5 },
  });
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  try {
    // Explicit partitioner: kafkajs 2 otherwise warns that its default changed.
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    for (let start = 0; start < MESSAGES; start += 100) {
      const messages = [];
      for (let seq = start; seq < start + 100; seq++) {
        messages.push({ key: `k${seq % KEYS}`, value: JSON.stringify({ seq, key: `k${seq % KEYS}`, v: seq * 3 }) });
      }
      await producer.send({ topic, acks: -1, messages });
    }

    const got: Array<{ partition: number; offset: bigint; key: string; seq: number; v: number }> = [];
    let allIn!: () => void;
    const done = new Promise<void>((resolve) => (allIn = resolve));
    consumer = kafka.consumer({
      groupId: `${topic}-group`,
      sessionTimeout: 6000,
      rebalanceTimeout: 6000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const body = JSON.parse(message.value!.toString());
        got.push({ partition, offset: BigInt(message.offset), key: message.key!.toString(), seq: body.seq, v: body.v });
        if (got.length === MESSAGES) allIn();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${got.length} of ${MESSAGES} messages arrived in 20 s`)), 20_000);
      }),
    ]);
    clearTimeout(timer);

    // Every message exactly once, with its value intact.
    assert.equal(got.length, MESSAGES);
    assert.deepEqual(got.map((m) => m.seq).sort((a, b) => a - b), Array.from({ length: MESSAGES }, (_, i) => i));
    for (const m of got) {
      assert.equal(m.v, m.seq * 3);
      assert.equal(m.key, `k${m.seq % KEYS}`);
    }
    // Keys spread over every partition, each key in one partition, and each partition in produce order.
    const partitionOfKey = new Map<string, number>();
    const byPartition = new Map<number, typeof got>();
    for (const m of got) {
      assert.equal(partitionOfKey.get(m.key) ?? m.partition, m.partition, `key ${m.key} in two partitions`);
      partitionOfKey.set(m.key, m.partition);
      byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    }
    assert.deepEqual([...byPartition.keys()].sort(), Array.from({ length: PARTITIONS }, (_, i) => i));
    for (const [p, ms] of byPartition) {
      for (let i = 1; i < ms.length; i++) {
        assert.ok(ms[i].offset > ms[i - 1].offset && ms[i].seq > ms[i - 1].seq, `partition ${p} out of order at ${i}`);
      }
    }
  } finally {
    await consumer?.disconnect();
    await producer?.disconnect();
  }

  try {
    if (broker.mock) {
      // The fault-injection channel: broker 1 of 3 goes down and comes back; bad input is refused.
      assert.equal(await broker.command('down 1'), 'ok');
      assert.equal(await broker.command('up 1'), 'ok');
      assert.equal(await broker.command('error 0 6 1'), 'ok');
      assert.match(await broker.command('sideways 1'), /^error unknown command/);
    } else {
      await assert.rejects(broker.command('down 1'), /needs the mock cluster/);
    }
  } finally {
    await broker.stop();
  }
});
