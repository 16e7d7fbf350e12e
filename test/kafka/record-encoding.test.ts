// sluice's record encoder (src/io/kafka/record-batch.ts) writes the bytes kafkajs's would, for
// keys and values of every kind and size and timestamp and offset deltas of both signs; and
// leaves records with headers to kafkajs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { encodeRecord, installFastRecords, kafkajsRecordEncoder } from '../../src/io/kafka/record-batch';
import { rng } from '../helpers/random';

test('records encode to the same bytes as kafkajs encodes them', () => {
  installFastRecords();
  const original = kafkajsRecordEncoder();
  assert.ok(original, 'the encoder was swapped (no kafkajs produce request was loaded before)');
  const rand = rng(7);
  const text = (n: number) => Array.from({ length: n }, () => 'aé€😀{"'.charAt(Math.floor(rand() * 7))).join('');
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
