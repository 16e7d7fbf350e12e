// sluice's produce path (src/io/kafka/produce-request.ts) writes the bytes kafkajs would: records
// of every kind and size, with timestamp and offset deltas of both signs, and whole produce
// requests over several topics and partitions, uncompressed and compressed by kafkajs's codecs;
// and it leaves what it does not handle (headers, transactions, idempotence) to kafkajs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
// First: it swaps kafkajs modules that kafkajs captures when it loads.
import { encodeCompressedRequest, encodedMessage, encodedSendsWork, encodeProduceRequest, encodeRecord, installProduceEncoder, kafkajsEncoders } from '../../src/io/kafka/produce-request';
import { registerCodecs } from '../../src/io/kafka/codecs';
import { Partitioners } from 'kafkajs';
import { messagesOf } from '../../src/io/kafka/client';
import { native } from '../../src/native';
import { EncodedRecordsBuilder } from '../../src/records/encoded';
import { rng } from '../helpers/random';

const rand = rng(7);
const text = (n: number) => Array.from({ length: n }, () => 'aé€😀{"'.charAt(Math.floor(rand() * 7))).join('');

test('records encode to the same bytes as kafkajs encodes them', () => {
  installProduceEncoder();
  const original = kafkajsEncoders().record;
  assert.ok(original, 'the encoder was swapped (no kafkajs produce request was loaded before)');
  const cases: Array<Parameters<typeof encodeRecord>[0]> = [
    { key: null, value: null },
    { key: '', value: '' },
    { offsetDelta: 0, timestampDelta: -1, key: 'k', value: Buffer.from([0, 255, 128]) },
    { offsetDelta: 2 ** 31 - 1, timestampDelta: 2 ** 52, key: Buffer.alloc(300, 1), value: 'x'.repeat(70_000) },
    { offsetDelta: 5, timestampDelta: -(2 ** 40), key: undefined, value: 'v' },
  ];
  for (let i = 0; i < 2000; i++) {
    const pick = rand();
    cases.push({
      offsetDelta: Math.floor(rand() * 100_000),
      timestampDelta: Math.floor((rand() - 0.5) * 2 ** (1 + Math.floor(rand() * 50))),
      key: pick < 0.2 ? null : pick < 0.5 ? Buffer.from(text(Math.floor(rand() * 40))) : text(Math.floor(rand() * 200)),
      value: pick > 0.9 ? null : text(Math.floor(rand() * (rand() < 0.1 ? 20_000 : 400))),
    });
  }
  for (const c of cases) {
    const ours = encodeRecord(c);
    assert.ok(ours, 'a record without headers is ours to encode');
    const theirs = (original!(c) as { buffer: Buffer }).buffer;
    assert.ok(ours.buffer.equals(theirs), `same bytes for ${JSON.stringify(c).slice(0, 200)}`);
  }
  assert.equal(encodeRecord({ key: 'k', value: 'v', headers: { h: 'x' } }), null, 'headers go to kafkajs');
  assert.equal(encodeRecord({ key: 'k', value: 'v', timestampDelta: { low: 1, high: 0 } }), null, 'a Long delta goes to kafkajs');
});

/** Messages as the sink sends them, and odder ones: Buffer keys, null keys and values, no timestamp. */
function messages(n: number, stampedShare: number) {
  return Array.from({ length: n }, (_, i) => {
    const pick = rand();
    return {
      key: pick < 0.1 ? null : pick < 0.3 ? Buffer.from(text(Math.floor(rand() * 30))) : `card-${i}`,
      value: pick > 0.95 ? null : pick > 0.9 ? Buffer.from(text(Math.floor(rand() * 300))) : text(Math.floor(rand() * (rand() < 0.02 ? 50_000 : 300))),
      // Same digit count: kafkajs sorts timestamps as strings, which is numeric order only then.
      timestamp: rand() < stampedShare ? String(1_700_000_000_000 + Math.floor(rand() * 3_600_000)) : undefined,
    };
  });
}

test('produce requests encode to the same bytes as kafkajs encodes them', async () => {
  installProduceEncoder();
  const original = kafkajsEncoders().request;
  assert.ok(original, 'the produce request was swapped');
  // kafkajs stamps messages without a timestamp with Date.now(), once per partition.
  const realNow = Date.now;
  Date.now = () => 1_700_000_123_456;
  try {
    for (let round = 0; round < 40; round++) {
      const topicData = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, t) => ({
        topic: t === 1 ? `tøpic-${round}` : `results-${round}-${t}`,
        partitions: Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, p) => ({ partition: p * 3 + t, messages: messages(1 + Math.floor(rand() * 200), [1, 0, 0.5][round % 3]) })),
      }));
      const args = { acks: -1, timeout: 30_000, compression: 0, topicData };
      const theirs = await original!(args).encode();
      const ours = encodeProduceRequest(args);
      assert.ok(Buffer.from(ours.buf).equals((theirs as unknown as { buffer: Buffer }).buffer), `round ${round}: same request bytes`);
    }
  } finally {
    Date.now = realNow;
  }
});

test('encoded records go to the partitions kafkajs would pick, as the bytes kafkajs would send', async () => {
  installProduceEncoder();
  assert.ok(encodedSendsWork(), 'sends go through sluice\'s produce path');
  const original = kafkajsEncoders().request!;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const group = require('kafkajs/src/producer/groupMessagesPerPartition') as (a: object) => Record<number, unknown[]>;
  const realNow = Date.now;
  Date.now = () => 1_700_000_123_456;
  try {
    for (let round = 0; round < 10; round++) {
      const b = new EncodedRecordsBuilder();
      const messages: Array<{ key: Buffer; value: Buffer; timestamp: string | undefined }> = [];
      for (let i = 0; i < 1 + Math.floor(rand() * 400); i++) {
        const key = Buffer.from(text(Math.floor(rand() * 20)));
        const value = Buffer.from(text(Math.floor(rand() * (rand() < 0.02 ? 5000 : 200))));
        const ts = rand() < 0.8 ? 1_700_000_000_000 + Math.floor(rand() * 3_600_000) : NaN;
        b.bytesFrom(value, 0, value.length).endRecord(key, 0, key.length, native.murmur2(key, 0, key.length), ts);
        messages.push({ key, value, timestamp: Number.isNaN(ts) ? undefined : String(ts) });
      }
      const records = b.take();
      // Without sluice's produce path (idempotence), a send takes one kafkajs message per record.
      assert.deepEqual(messagesOf({ records, from: 0, to: records.count }), messages);
      const cut = Math.floor(rand() * records.count);
      const partitionMetadata = Array.from({ length: 1 + Math.floor(rand() * 8) }, (_, p) => ({ partitionId: p, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      const ours = group({ topic: 't', partitionMetadata, messages: [encodedMessage([{ records, from: 0, to: cut }, { records, from: cut, to: records.count }])] });
      const partitioner = Partitioners.DefaultPartitioner();
      const theirs: Record<number, unknown[]> = {};
      for (const message of messages) (theirs[partitioner({ topic: 't', partitionMetadata, message })] ??= []).push(message);
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), `round ${round}: the same partitions`);
      const args = (per: Record<number, unknown[]>) => ({ acks: -1, timeout: 30_000, compression: 0, topicData: [{ topic: 't', partitions: Object.keys(per).map((p) => ({ partition: Number(p), messages: per[Number(p)] as never[] })) }] });
      const expected = (await original(args(theirs)).encode()) as unknown as { buffer: Buffer };
      assert.ok(Buffer.from(encodeProduceRequest(args(ours)).buf).equals(expected.buffer), `round ${round}: same request bytes`);
    }
  } finally {
    Date.now = realNow;
  }
  // Records without a key go round-robin over the partitions that have a leader.
  const b = new EncodedRecordsBuilder();
  for (let i = 0; i < 30; i++) b.text('v').endRecord(null, 0, 0, 0, NaN);
  const spread = group({ topic: 'keyless', partitionMetadata: [0, 1, 2].map((p) => ({ partitionId: p, leader: p === 1 ? -1 : 1 })), messages: [encodedMessage([{ records: b.take(), from: 0, to: 30 }])] });
  assert.deepEqual(Object.keys(spread).sort(), ['0', '2']);
});

test('what the fast path does not handle goes to kafkajs', async () => {
  installProduceEncoder();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const swapped = require('kafkajs/src/protocol/requests/produce/v3/request') as (a: object) => { encode(): Promise<unknown> };
  const original = kafkajsEncoders().request!;
  const base = { acks: -1, timeout: 1000, compression: 0, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', timestamp: '1700000000000' }] }] }] };
  const withMessage = (m: object) => ({ ...base, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [m] }] }] });
  const cases: Record<string, object> = {
    headers: withMessage({ key: 'k', value: 'v', headers: { h: 'x' } }),
    'zstd compression (read, not written)': { ...base, compression: 4 },
    transaction: { ...base, transactionalId: 'tx' },
    idempotence: { ...base, producerId: { toString: () => '42' } },
    'a non-integer timestamp': withMessage({ key: 'k', value: 'v', timestamp: '17e11.5' }),
  };
  for (const [what, args] of Object.entries(cases)) {
    assert.equal(swapped(args).encode.toString(), original(args as never).encode.toString(), `${what}: kafkajs's own encode`);
  }
  assert.notEqual(swapped(base).encode.toString(), original(base as never).encode.toString(), 'a plain request is ours');
});

test('compressed produce requests (gzip, snappy, lz4), of messages and of encoded records, are the bytes kafkajs sends', async () => {
  installProduceEncoder();
  registerCodecs();
  const original = kafkajsEncoders().request!;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const group = require('kafkajs/src/producer/groupMessagesPerPartition') as (a: object) => Record<number, unknown[]>;
  const realNow = Date.now;
  Date.now = () => 1_700_000_123_456;
  try {
    for (const compression of [1, 2, 3]) {
      for (let round = 0; round < 6; round++) {
        const topicData = [{ topic: `c-${round}`, partitions: Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, p) => ({ partition: p, messages: messages(1 + Math.floor(rand() * 300), 0.5) })) }];
        const args = { acks: -1, timeout: 30_000, compression, topicData };
        const theirs = (await original(args).encode()) as unknown as { buffer: Buffer };
        const ours = await encodeCompressedRequest(args);
        assert.ok(Buffer.from(ours.buf).equals(theirs.buffer), `codec ${compression}, round ${round}: same request bytes`);
        assert.ok(ours.buf.length < encodeProduceRequest({ ...args, compression: 0 }).buf.length, 'smaller than uncompressed');
      }
      // The sinks' records, spread over partitions as stand-ins.
      const b = new EncodedRecordsBuilder();
      const plain: Array<{ key: Buffer; value: Buffer; timestamp: string }> = [];
      for (let i = 0; i < 500; i++) {
        const key = Buffer.from(`card-${i % 37}`);
        const value = Buffer.from(`{"key":"card-${i % 37}","score":${(i * 0.37).toFixed(3)}}`);
        b.bytesFrom(value, 0, value.length).endRecord(key, 0, key.length, native.murmur2(key, 0, key.length), 1_700_000_000_000 + i);
        plain.push({ key, value, timestamp: String(1_700_000_000_000 + i) });
      }
      const records = b.take();
      const partitionMetadata = [0, 1, 2].map((p) => ({ partitionId: p, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      const ours = group({ topic: 't', partitionMetadata, messages: [encodedMessage([{ records, from: 0, to: records.count }])] });
      const partitioner = Partitioners.DefaultPartitioner();
      const theirs: Record<number, unknown[]> = {};
      for (const message of plain) (theirs[partitioner({ topic: 't', partitionMetadata, message })] ??= []).push(message);
      const args = (per: Record<number, unknown[]>) => ({ acks: -1, timeout: 30_000, compression, topicData: [{ topic: 't', partitions: Object.keys(per).map((p) => ({ partition: Number(p), messages: per[Number(p)] as never[] })) }] });
      const expected = (await original(args(theirs)).encode()) as unknown as { buffer: Buffer };
      assert.ok(Buffer.from((await encodeCompressedRequest(args(ours))).buf).equals(expected.buffer), `codec ${compression}: encoded records, same request bytes`);
    }
  } finally {
    Date.now = realNow;
  }
  assert.throws(() => encodeProduceRequest({ acks: -1, timeout: 1000, compression: 3, topicData: [] }), /encodeCompressedRequest/);
});

test('crc32c matches the standard check value and kafkajs', () => {
  assert.equal(native.crc32c(Buffer.from('123456789'), 0, 9), 0xe3069283);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
  for (const n of [0, 1, 7, 8, 9, 63, 1000, 100_003]) {
    const b = Buffer.from(Array.from({ length: n + 5 }, () => Math.floor(rand() * 256)));
    assert.equal(native.crc32c(b, 5, n + 5), kafkajsCrc(b.subarray(5)) >>> 0, `${n} bytes at an offset`);
  }
  assert.throws(() => native.crc32c(Buffer.alloc(4), 2, 5), /start <= end <= bytes.length/);
});
