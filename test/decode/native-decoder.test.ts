// NativeJsonDecoder on specific cases: each dead-letter reason, sizes, deep nesting, the key table,
// SharedArrayBuffer columns, the JS fallback keeping key ids in order, bad arguments, worker threads.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { DecodedEvents, type DecodeSpec } from '../../src/decode/decoder';
import { keyHash } from '../../src/decode/key-table';
import { NativeJsonDecoder } from '../../src/decode/native-decoder';
import { DecodeStatus } from '../../src/native/decode';
import { native } from '../../src/native/index';
import { Differential, rawBatch, type Value } from './json-cases';

const SPEC: DecodeSpec = { keyPath: 'card', timestampPath: 'ts', fieldPaths: ['amount'], maxEventBytes: 1 << 20 };
const EVENT = '{"card":"card-123","ts":1700000000123,"amount":12.34,"merchant":"m-42"}';

/** Decodes `values` with both decoders, asserts they agree, and returns the native result. */
function both(values: Value[], spec: DecodeSpec = SPEC, recordTs?: number[]): { out: DecodedEvents; d: Differential } {
  const d = new Differential(spec);
  d.check(rawBatch(values, recordTs));
  const out = new DecodedEvents(values.length, spec.fieldPaths.length);
  const fresh = new NativeJsonDecoder(spec, 7);
  fresh.decode(rawBatch(values, recordTs), out);
  return { out, d };
}

const reasons = (out: DecodedEvents) => out.deadLetters.map((l) => l.reason);

test('the example event decodes to its key, time and amount without the JS path', () => {
  const { out, d } = both([EVENT, Buffer.from(EVENT)]);
  assert.equal(out.count, 2);
  assert.deepEqual(Array.from(out.keyId.subarray(0, 2)), [0, 0]);
  assert.equal(out.timestampMs[0], 1700000000123);
  assert.equal(out.fields[1], 12.34);
  assert.equal(d.nat.keyName(0), 'card-123');
  assert.equal(d.nat.jsFallbacks, 0);
});

test('too-large: bytes over maxEventBytes; strings by UTF-16 length, as JsonDecoder counts them', () => {
  const max = EVENT.length - 1;
  // As many UTF-16 units as the limit allows, but more UTF-8 bytes: JsonDecoder keeps it.
  const wide = '{"card":"' + 'é'.repeat(max - 29) + '","ts":1,"amount":1}';
  assert.ok(wide.length <= max && Buffer.byteLength(wide) > max);
  const { out } = both([EVENT, Buffer.from(EVENT), wide, Buffer.from(wide)], { ...SPEC, maxEventBytes: max });
  assert.deepEqual(reasons(out), ['too-large', 'too-large', 'too-large']);
  assert.deepEqual(Array.from(out.rawIndex.subarray(0, out.count)), [2]);
  assert.equal(out.deadLetters[0].detail, `the event is larger than ${max} bytes`);
});

test('decode: syntax errors anywhere, roots that are not objects, a BOM, empty input', () => {
  const bad = ['', ' ', '{', '{"card":"a","ts":1,"amount":1', '{"card":"a","ts":1,"amount":1}x', '{"card":"a","ts":1,"amount":01}', '{"card":"a","ts":1,"amount":1,"x":[1,]}',
    '{"card":"a\tb","ts":1,"amount":1}', '{"card":"\\x","ts":1,"amount":1}', '{"card":"\\u12g4","ts":1,"amount":1}', "{'card':1}", '{"card":1 "ts":2}', '{"a":tru}', '{"a":nul}', '{"a":-}', '{"a":1.}', '{"a":.5}', '{"a":1e}', '{"a":+1}', '{"a":NaN}',
    '\ufeff' + EVENT, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(EVENT)]), '\u00a0' + EVENT, EVENT + '\f', '[1,2]', '"card"', '12', 'null', 'true', '[]', Buffer.from([0xff, 0x7b, 0x7d])];
  const { out } = both(bad);
  assert.equal(out.count, 0);
  assert.deepEqual(reasons(out), bad.map(() => 'decode'));
  assert.match(out.deadLetters[25].detail, /^expected a JSON object, got the string "card"$/);
});

test('missing-key: absent, null, object, array, boolean, non-finite number; a path through an array', () => {
  const values = ['{"ts":1,"amount":1}', '{"card":null,"ts":1,"amount":1}', '{"card":{},"ts":1,"amount":1}', '{"card":["a"],"ts":1,"amount":1}', '{"card":true,"ts":1,"amount":1}', '{"card":1e400,"ts":1,"amount":1}'];
  const { out } = both(values);
  assert.deepEqual(reasons(out), values.map(() => 'missing-key'));
  const nested = both(['{"u":[{"id":"a"}],"ts":1,"amount":1}', '{"u":{"id":"a"},"ts":1,"amount":1}'], { ...SPEC, keyPath: 'u.id' });
  assert.deepEqual(reasons(nested.out), ['missing-key']);
  assert.equal(nested.out.count, 1);
});

test('bad-timestamp: not ISO, not finite, missing, and a record without a timestamp', () => {
  const values = ['{"card":"a","ts":"March 7, 2023","amount":1}', '{"card":"a","ts":"2023-13-45","amount":1}', '{"card":"a","ts":-1e999,"amount":1}', '{"card":"a","amount":1}', '{"card":"a","ts":[1],"amount":1}'];
  assert.deepEqual(reasons(both(values).out), values.map(() => 'bad-timestamp'));
  const kafka = both(['{"card":"a","amount":1}', '{"card":"a","amount":1}'], { ...SPEC, timestampPath: '$kafka' }, [NaN, 5]);
  assert.deepEqual(reasons(kafka.out), ['bad-timestamp']);
  assert.equal(kafka.out.timestampMs[0], 5);
});

test('bad-field: the first bad field wins; numbers only, finite only; absent and null are missing (NaN)', () => {
  const spec = { ...SPEC, fieldPaths: ['amount', 'n.x'] };
  const values = [
    '{"card":"a","ts":1,"amount":"1","n":{"x":null}}',
    '{"card":"a","ts":1,"amount":1,"n":{"x":1e309}}',
    '{"card":"a","ts":1,"amount":true,"n":{"x":1}}',
    '{"card":"a","ts":1,"amount":1,"n":[1]}',
    '{"card":"a","ts":1,"amount":1,"n":{"x":-0}}',
    '{"card":"a","ts":1,"amount":null}',
    '{"card":"a","ts":1,"n":{"x":{}}}',
  ];
  const { out } = both(values, spec);
  assert.deepEqual(reasons(out), ['bad-field', 'bad-field', 'bad-field', 'bad-field']);
  assert.match(out.deadLetters[0].detail, /^field amount: expected a finite number, got the string "1"$/);
  assert.match(out.deadLetters[3].detail, /^field n.x: expected a finite number, got an object$/);
  assert.equal(out.count, 3);
  assert.deepEqual(Array.from(out.fields.subarray(0, 6)), [1, NaN, 1, -0, NaN, NaN]);
  assert.ok(Object.is(out.fields[3], -0));
});

test('escapes, duplicate keys (the last wins), whitespace, numeric keys as JavaScript prints them', () => {
  const values = ['{"c\\u0061rd":"\\ud83d\\ude00\\n","ts":1,"amount":1}', '{"card":"a","card":"b","ts":1,"amount":2,"amount":3}', ' \t\r\n{ "card" : 1e21 , "ts" : 1 , "amount" : 1 } \n', '{"card":1.5e-7,"ts":1,"amount":1}', '{"card":-0,"ts":1,"amount":1}', '{"card":123456789012345678901234567890,"ts":1,"amount":1}'];
  const { out, d } = both(values);
  assert.equal(out.count, values.length);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => d.nat.keyName(out.keyId[i])), ['😀\n', 'b', '1e+21', '1.5e-7', '0', '1.2345678901234568e+29']);
  assert.equal(out.fields[1], 3);
});

test('100,000 levels of nesting: valid, unclosed, and inside an ignored field, without a crash', () => {
  const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const values = [deep(100_000), deep(100_000).slice(0, -1), `{"card":"a","ts":1,"amount":1,"x":${arrays(100_000)}}`, `{"card":"a","ts":1,"amount":1,"x":${arrays(100_000).slice(1)}}`];
  const { out } = both(values);
  assert.deepEqual(reasons(out), ['missing-key', 'decode', 'decode']);
  assert.equal(out.count, 1);
});

test('key ids, names and partitions equal KeyTable over 30,000 keys, unicode and numeric ones too', () => {
  const d = new Differential(SPEC, 13);
  const special = ['"ключ-%"', '"\\ud800x%"', '%.5', '"😀"', '"a\\u00e9%"'];
  const keys = (b: number) => Array.from({ length: 1000 }, (_, i) => (i % 4 < 3 ? `"card-${b * 1000 + i}"` : special[i % 5].replace('%', String(i))));
  for (let b = 0; b < 40; b++) d.check(rawBatch(keys(b).map((k) => `{"card":${k},"ts":1,"amount":1}`)));
  d.checkKeys();
  assert.ok(d.keys.size > 30_000);
  assert.equal(d.nat.keyName(d.nat.size - 1), d.keys.name(d.keys.size - 1));
  const handle = new native.NativeDecoder({ ...SPEC, numPartitions: 13 });
  for (const k of ['card-1', 'a\ud800', '😀', '']) {
    const id = handle.internKey(k);
    assert.equal(handle.keyName(id), k);
    assert.equal(handle.keyPartition(id), keyHash(k) % 13);
    assert.equal(handle.internKey(k), id);
  }
});

test('the JS fallback keeps key ids in arrival order', () => {
  // A zone-less ISO time is local time: the addon leaves it to JS, between natively decoded events.
  const values = ['{"card":"b","ts":"2023-01-01T10:00","amount":1}', '{"card":"c","ts":1,"amount":1}', '{"card":"a","ts":"2023-01-01T10:00","amount":1}', '{"card":"a","ts":2,"amount":1}'];
  const { out, d } = both(values);
  assert.deepEqual(Array.from(out.keyId.subarray(0, 4)), [0, 1, 2, 2]);
  assert.equal(d.nat.jsFallbacks, 2);
});

test('decode writes into SharedArrayBuffer columns and reads a SharedArrayBuffer batch', () => {
  const handle = new native.NativeDecoder({ ...SPEC, numPartitions: 4 });
  const bytes = Buffer.from(EVENT + EVENT.replace('card-123', 'card-9'));
  const data = new Uint8Array(new SharedArrayBuffer(bytes.length));
  data.set(bytes);
  const shared = <T>(C: new (b: SharedArrayBuffer) => T, n: number, size: number) => new C(new SharedArrayBuffer(n * size));
  const out = { rawIndex: shared(Int32Array, 2, 4), keyId: shared(Int32Array, 2, 4), timestampMs: shared(Float64Array, 2, 8), fields: shared(Float64Array, 2, 8), status: shared(Uint8Array, 2, 1) };
  const n = handle.decode(data, Int32Array.of(0, EVENT.length), Int32Array.of(EVENT.length, bytes.length), new Float64Array(2), out);
  assert.equal(n, 2);
  assert.deepEqual(Array.from(out.keyId), [0, 1]);
  assert.deepEqual(Array.from(out.status), [DecodeStatus.Clean, DecodeStatus.Clean]);
  assert.deepEqual(Array.from(out.fields), [12.34, 12.34]);
  assert.equal(handle.keyName(1), 'card-9');
});

test('bad arguments throw TypeError with code SLUICE_DECODE_INVALID and write nothing', () => {
  const invalid = (fn: () => unknown) => assert.throws(fn, (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'SLUICE_DECODE_INVALID');
  const ctor = native.NativeDecoder as unknown as new (spec: unknown) => unknown;
  invalid(() => new ctor(undefined));
  invalid(() => new ctor({ ...SPEC, numPartitions: 0 }));
  invalid(() => new ctor({ ...SPEC, numPartitions: 1.5 }));
  invalid(() => new ctor({ ...SPEC, fieldPaths: ['a', 3], numPartitions: 1 }));
  invalid(() => new ctor({ keyPath: 'a', fieldPaths: [], maxEventBytes: 1, numPartitions: 1 }));
  const h = new native.NativeDecoder({ ...SPEC, numPartitions: 2 });
  const data = Buffer.from(EVENT);
  const cols = () => ({ rawIndex: new Int32Array(1), keyId: new Int32Array(1), timestampMs: new Float64Array(1), fields: new Float64Array(1), status: new Uint8Array(1) });
  const call = (over: Record<string, unknown>, args: unknown[] = []) => {
    const a = { data, starts: Int32Array.of(0), ends: Int32Array.of(data.length), recordTs: new Float64Array(1), out: cols(), ...over };
    return (h.decode as (...x: unknown[]) => number)(a.data, a.starts, a.ends, a.recordTs, a.out, ...args);
  };
  invalid(() => call({ data: [1, 2] }));
  invalid(() => call({ starts: new Uint32Array(1) }));
  invalid(() => call({ ends: Int32Array.of(data.length + 1) }));
  invalid(() => call({ starts: Int32Array.of(-1) }));
  invalid(() => call({ starts: Int32Array.of(5), ends: Int32Array.of(4) }));
  invalid(() => call({ ends: new Int32Array(0) }));
  invalid(() => call({ out: { ...cols(), fields: new Float32Array(1) } }));
  invalid(() => call({ out: { ...cols(), keyId: new Int32Array(0) } }));
  invalid(() => call({}, [2]));
  invalid(() => call({}, [0, 1]));
  invalid(() => call({}, [-1]));
  invalid(() => h.keyName(0));
  invalid(() => h.keyPartition(-1));
  invalid(() => (h.internKey as (k: unknown) => number)(5));
  assert.equal(h.numKeys, 0);
  assert.equal(call({}), 1);
  assert.equal(h.keyName(0), 'card-123');
});

test('the addon decodes in worker threads, each with its own key table', async () => {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const { native } = require(${JSON.stringify(require.resolve('../../src/native/index'))});
    const h = new native.NativeDecoder({ keyPath: 'card', timestampPath: 'ts', fieldPaths: ['amount'], maxEventBytes: 1e6, numPartitions: 3 });
    const data = Buffer.from(${JSON.stringify(EVENT)});
    const out = { rawIndex: new Int32Array(1), keyId: new Int32Array(1), timestampMs: new Float64Array(1), fields: new Float64Array(1), status: new Uint8Array(1) };
    const n = h.decode(data, Int32Array.of(0), Int32Array.of(data.length), new Float64Array(1), out);
    parentPort.postMessage([n, h.keyName(out.keyId[0]), out.fields[0]]);`;
  const results = await Promise.all(
    [0, 1, 2].map(() => new Promise((resolve, reject) => new Worker(code, { eval: true }).once('message', resolve).once('error', reject))),
  );
  assert.deepEqual(results, [[1, 'card-123', 12.34], [1, 'card-123', 12.34], [1, 'card-123', 12.34]]);
});
