// Records made by the addon (native/records/) must be the bytes the JS encoders make: numbers as
// String() and float32ToJson write them, keys as JSON.stringify and kafkajs write them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { KeyNames, SharedKeyNames } from '../../src/decode/key-names';
import { native } from '../../src/native/index';
import { EncodedRecords, EncodedRecordsBuilder, SKIP_ROW } from '../../src/records/encoded';
import { float32ToJson, float64ToJson } from '../../src/records/number';
import { RecordPrograms } from '../../src/records/program';
import { encodeRetraction, ResultEncoder, resultLayout, retractionLayout, type RecordPart } from '../../src/records/records';
import { rng, pick } from '../helpers/random';

const noKeys = { index: new Int32Array(0), bytes: new Uint8Array(0) };

/** Encodes one number per row through a program with a single number op. */
function nativeNumbers(values: Float64Array | Float32Array): string[] {
  const programs = new RecordPrograms();
  const f64 = values instanceof Float64Array;
  programs.add([f64 ? { feature: 0 } : { scores: true }], [], { numbers: {}, features: { column: 0, perRow: 1 }, scores: { column: 0, perRow: 1 }, keyId: 0 });
  const b = new EncodedRecordsBuilder();
  b.encode(programs, [values], null, noKeys, new Float64Array(values.length), 0, values.length);
  return b.take().lines();
}

test('numbers are written as String() writes them: any double, integers, decimals, extremes', () => {
  const rand = rng(5);
  const bits = new Uint32Array(2);
  const f64 = new Float64Array(bits.buffer);
  const values = [0, -0, 1, -1, 0.1, 0.2 + 0.1, 431.5, 1e21, 1e20, 123456789012345680000, 1e-6, 1e-7, 1.5e-7, 5e-324, -5e-324, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 2 ** 53 + 2, 2 ** 53 - 1, 2 ** 53 - 0.5, 1.2345678901234567e21, 123456789012345680, 4503599627370495.5, 1700000040000, NaN, Infinity, -Infinity, 100, 1234.5678, 9.999999999999999e22];
  for (let i = 0; i < 300_000; i++) {
    bits[0] = Math.floor(rand() * 2 ** 32);
    bits[1] = Math.floor(rand() * 2 ** 32);
    values.push(f64[0]); // any bit pattern: every exponent, subnormals, NaNs
    values.push(Math.round(rand() * 10 ** Math.floor(rand() * 18)) / 10 ** Math.floor(rand() * 8)); // short decimals
    values.push((rand() - 0.5) * 10 ** Math.floor(rand() * 50 - 25));
  }
  const xs = Float64Array.from(values);
  const got = nativeNumbers(xs);
  for (let i = 0; i < xs.length; i++) if (got[i] !== float64ToJson(xs[i])) assert.equal(got[i], float64ToJson(xs[i]), `double ${xs[i]}`);
});

test('scores are written as float32ToJson writes them: any float32, subnormals, [0, 1)', () => {
  const rand = rng(6);
  const bits = new Uint32Array(1);
  const f32 = new Float32Array(bits.buffer);
  const values = [0, -0, 0.5, 1, 0.1, 0.0132, 1e-45, 3.4028234663852886e38, 1.1754943508222875e-38, 123456789, 1234567.5, 1234566.5, 0.3333333432674408, NaN, Infinity];
  for (let i = 0; i < 300_000; i++) {
    bits[0] = Math.floor(rand() * 2 ** 32);
    values.push(f32[0]);
    values.push(Math.fround(rand()));
    values.push(Math.fround(Math.round(rand() * 2 ** 24) / 2 ** Math.floor(rand() * 30))); // short binary fractions: ties
  }
  const xs = Float32Array.from(values);
  const got = nativeNumbers(xs);
  for (let i = 0; i < xs.length; i++) if (got[i] !== float32ToJson(xs[i])) assert.equal(got[i], float32ToJson(xs[i]), `float32 ${xs[i]}`);
});

/** Keys that need no escaping, and every kind that does or is not ASCII. */
const ODD_KEYS = ['card-1', '', 'é', 'ключ', '😀', '\u{10ffff}', '\uffff', '\ue000', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u0000', '\u001f', '\u2028', 'lone \ud800 high', 'lone \udfff low', '\ud83d', 'x\ud83d\ude00y'];

function keyTable(names: string[]): SharedKeyNames {
  let t = SharedKeyNames.create(2, 8); // tiny: growth is exercised too
  for (const n of names) t = t.append(n);
  return t;
}

test('result records from the addon are the JS encoder\'s, with Kafka keys, hashes and timestamps', () => {
  const rand = rng(7);
  const names = [...ODD_KEYS, ...Array.from({ length: 200 }, (_, i) => `card-${i}`)];
  const keys = keyTable(names);
  // kafkajs's default partitioner hash, on the key as kafkajs encodes it (Buffer.from(string)).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (k: Buffer) => number;
  for (const [F, K] of [[7, 1], [3, 4], [1, 2]]) {
    const featureNames = Array.from({ length: F }, (_, i) => pick(rand, ['n', 'amount "sum"', 'ü', 'p95'] as const) + i);
    const n = 500;
    const cols = {
      start: Float64Array.from({ length: n }, () => 1_700_000_000_000 + Math.floor(rand() * 1e6) * 1000),
      end: new Float64Array(n),
      events: Float64Array.from({ length: n }, () => Math.floor(rand() * 50)),
      features: Float64Array.from({ length: n * F }, () => (rand() < 0.05 ? pick(rand, [NaN, Infinity, -0, 0]) : (rand() - 0.3) * 10 ** Math.floor(rand() * 12 - 4))),
      scores: Float32Array.from({ length: n * K }, () => (rand() < 0.02 ? NaN : rand())),
      revision: Int32Array.from({ length: n }, () => (rand() < 0.8 ? 0 : Math.floor(rand() * 5))),
      keyId: Int32Array.from({ length: n }, () => Math.floor(rand() * names.length)),
    };
    cols.end.set(cols.start.map((s) => s + 60_000));
    const kinds = Uint8Array.from({ length: n }, () => (rand() < 0.8 ? 0 : rand() < 0.5 ? 1 : SKIP_ROW));
    const columns = { numbers: { windowStartMs: { column: 0, type: 'f64' as const }, windowEndMs: { column: 1, type: 'f64' as const }, events: { column: 2, type: 'f64' as const }, revision: { column: 5, type: 'i32' as const } }, features: { column: 3, perRow: F }, scores: { column: 4, perRow: K }, keyId: 6 };
    for (const keyFormat of ['key', 'window'] as const) {
      const kafkaKey: RecordPart[] = keyFormat === 'key' ? [{ key: true }] : [{ key: true }, { text: '@' }, { number: 'windowStartMs' }];
      const programs = new RecordPrograms();
      programs.add(resultLayout(featureNames, 'fraud score'), kafkaKey, columns);
      programs.add(retractionLayout(), kafkaKey, columns);
      const b = new EncodedRecordsBuilder();
      const stamps = cols.end.map((e) => e - 1);
      b.encode(programs, [cols.start, cols.end, cols.events, cols.features, cols.scores, cols.revision, cols.keyId], kinds, keys, stamps, 0, n);
      const out = EncodedRecords.fromBuffer(b.pack());
      const js = new ResultEncoder(featureNames, 'fraud score');
      let i = 0;
      for (let r = 0; r < n; r++) {
        if (kinds[r] === SKIP_ROW) continue;
        const key = names[cols.keyId[r]];
        const expected =
          kinds[r] === 1
            ? encodeRetraction(key, cols.start[r], cols.end[r], cols.revision[r])
            : js.encode({ key, windowStartMs: cols.start[r], windowEndMs: cols.end[r], events: cols.events[r], features: cols.features.subarray(r * F, r * F + F), scores: cols.scores.subarray(r * K, r * K + K), revision: cols.revision[r] });
        assert.equal(out.text(i), expected, `row ${r}`);
        const kafka = Buffer.from(keyFormat === 'key' ? key : `${key}@${cols.start[r]}`);
        assert.ok(out.hasKey(i));
        assert.deepEqual(Buffer.from(out.keys.subarray(out.keyStart(i), out.keyEnd[i])), kafka, `row ${r}: Kafka key of ${JSON.stringify(key)}`);
        assert.equal(out.keyHash[i], murmur2(kafka), `row ${r}: hash`);
        assert.equal(out.timestampMs[i], cols.end[r] - 1);
        i++;
      }
      assert.equal(out.count, i, 'one record per row not skipped');
    }
  }
});

test('results order and merge by key as JavaScript orders the names; names read back as written', () => {
  const rand = rng(8);
  const pieces = ['a', 'b', 'z', 'é', 'ÿ', '\u0800', '\ud7ff', '\ue000', '\uffff', '😀', '\u{10000}', '\u{10ffff}', '\ud800', '\udbff', '\udc00', '\udfff', '"', '\\', '\n', ''];
  const names = new Set<string>(ODD_KEYS);
  while (names.size < 2000) names.add(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(rand, pieces)).join(''));
  const list = [...names];
  const table = KeyNames.of(keyTable(list).buffers);
  list.forEach((name, id) => assert.equal(table.name(id), name, `name ${id}`));
  const ids = list.map((_, i) => i);
  // One row per key, all at the same step and window end: the addon orders them by key alone.
  const n = list.length;
  const rows = { step: new Float64Array(n), phase: new Uint8Array(n), sortEndMs: new Float64Array(n), keyId: Int32Array.from(ids), sub: new Int32Array(n) };
  const order = new Int32Array(n);
  native.sortResults(rows, n, table.index, table.bytes, order);
  const byTable = Array.from(order);
  const byJs = ids.slice().sort((a, b) => (list[a] < list[b] ? -1 : list[a] > list[b] ? 1 : 0));
  // And merged from runs that hold every other key.
  const runOf = (start: number) => {
    const own = byJs.filter((_, i) => i % 2 === start);
    return { step: new Float64Array(own.length), phase: new Uint8Array(own.length), sortEndMs: new Float64Array(own.length), keyId: Int32Array.from(own), sub: new Int32Array(own.length), count: own.length };
  };
  const [even, odd] = [runOf(0), runOf(1)];
  const run = new Int32Array(n);
  const row = new Int32Array(n);
  assert.equal(native.mergeResults([odd, even], table.index, table.bytes, run, row), n);
  assert.deepEqual(Array.from({ length: n }, (_, i) => (run[i] === 0 ? odd : even).keyId[row[i]]), byJs, 'merged');
  assert.deepEqual(byTable.map((i) => list[i]), byJs.map((i) => list[i]));
});

test('murmur2 is kafkajs\'s partitioner hash, and bad arguments are TypeErrors', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (k: Buffer) => number;
  const rand = rng(9);
  for (let n = 0; n < 300; n++) {
    const b = Buffer.from(Array.from({ length: n % 40 }, () => Math.floor(rand() * 256)));
    assert.equal(native.murmur2(b, 0, b.length), murmur2(b), `${b.length} bytes`);
  }
  assert.throws(() => native.murmur2(Buffer.alloc(2), 1, 3), /start <= end <= bytes.length/);
  assert.throws(() => native.encodeRecords([new Int32Array([99, 0, 0, 0])], new Uint8Array(0), [], null, new Int32Array(0), new Uint8Array(0), { values: new Uint8Array(8), valueEnd: new Int32Array(1), keys: new Uint8Array(0), keyEnd: new Int32Array(1), keyHash: new Int32Array(1), flags: new Uint8Array(1) }, Int32Array.from([0, 1, 0, 0, 0])), /unknown op 99/);
  const keyOp = new RecordPrograms();
  keyOp.add([{ key: true }], [], { numbers: {}, keyId: 0 });
  const b = new EncodedRecordsBuilder();
  assert.throws(() => b.encode(keyOp, [Int32Array.of(5)], null, noKeys, new Float64Array(1), 0, 1), /key id outside the key table/);
  const one = { step: new Float64Array(1), phase: new Uint8Array(1), sortEndMs: new Float64Array(1), keyId: Int32Array.of(3), sub: new Int32Array(1) };
  assert.throws(() => native.sortResults(one, 1, noKeys.index, noKeys.bytes, new Int32Array(1)), /key id outside the key table/);
  assert.throws(() => native.sortResults(one, 2, noKeys.index, noKeys.bytes, new Int32Array(2)), /shorter than count/);
});
