// SPEC §13's transforms, edge by edge: each case decoded by JsonDecoder and by the addon (they must
// agree bit for bit, json-cases.ts's Differential), and the value checked against the rule.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Transform } from '../../src/config/types';
import { DecodedEvents, type DecodeSpec } from '../../src/decode/decoder';
import { NativeJsonDecoder } from '../../src/decode/native-decoder';
import { murmur3 } from '../../src/util/murmur3';
import { Differential, eventIdOf, rawBatch } from './json-cases';

/** Decodes one field `x` (given as JSON text, or absent) through `t`, both ways; the value or the dead letter. */
function run(t: Transform | undefined, cases: Array<string | undefined>): Array<number | string> {
  const spec: DecodeSpec = { keyPath: 'k', timestampPath: 'ts', fieldPaths: ['x'], transforms: [t], maxEventBytes: 1 << 20 };
  const values = cases.map((x) => `{"k":"a","ts":1${x === undefined ? '' : `,"x":${x}`}}`);
  new Differential(spec).check(rawBatch(values));
  const out = new DecodedEvents(values.length, 1);
  new NativeJsonDecoder(spec, 1).decode(rawBatch(values), out);
  const dead = new Map(out.deadLetters.map((d) => [d.rawIndex, `${d.reason}: ${d.detail}`]));
  let row = 0;
  return values.map((_, i) => dead.get(i) ?? out.fields[row++]);
}

const same = (got: Array<number | string>, want: Array<number | string>) => {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(Object.is(g, want[i]) || g === want[i], `case ${i}: got ${g}, want ${want[i]}`));
};

test('no transform: a finite number; absent and null are missing; other types are bad-field', () => {
  same(run(undefined, ['2.5', undefined, 'null', '"2"', 'true', '[1]', '{}', '-0']), [
    2.5,
    NaN,
    NaN,
    'bad-field: field x: expected a finite number, got the string "2"',
    'bad-field: field x: expected a finite number, got boolean true',
    'bad-field: field x: expected a finite number, got an array',
    'bad-field: field x: expected a finite number, got an object',
    -0,
  ]);
});

test('log: x <= 0 is missing; log1p: x <= -1 is missing', () => {
  same(run({ type: 'log' }, ['1', String(Math.E), '0', '-3', undefined]), [0, Math.log(Math.E), NaN, NaN, NaN]);
  same(run({ type: 'log1p' }, ['0', '1e-20', '-1', '-0.5', '-7', undefined]), [0, 1e-20, NaN, Math.log1p(-0.5), NaN, NaN]);
});

test('standardize, normalize (not clipped), bucket (bounds <= x)', () => {
  same(run({ type: 'standardize', mean: 50, std: 10 }, ['70', '50', '-10', undefined]), [2, 0, -6, NaN]);
  same(run({ type: 'normalize', min: 0, max: 1000 }, ['250', '1500', '-100', undefined]), [0.25, 1.5, -0.1, NaN]);
  same(run({ type: 'bucket', bounds: [10, 50, 100, 500] }, ['9.99', '10', '49', '100', '500', '1e9', '-1e9', undefined]), [0, 1, 1, 3, 4, 4, 0, NaN]);
});

test('category: the index; other values and absent are missing; numbers are bad-field', () => {
  same(run({ type: 'category', values: ['pos', 'online', 'atm', 'café'] }, ['"pos"', '"atm"', '"ATM"', '""', '"caf\\u00e9"', '"café"', undefined, '3']), [
    0,
    2,
    NaN,
    NaN,
    3,
    3,
    NaN,
    'bad-field: field x: expected a string, got number 3',
  ]);
});

test('onehot: 1 for its own value, 0 for any other string, missing when absent', () => {
  same(run({ type: 'onehot', values: ['pos', 'online'], index: 1 }, ['"online"', '"pos"', '"other"', undefined, 'null']), [1, 0, 0, NaN, NaN]);
});

test('length counts UTF-16 units; words counts runs of non-JS-whitespace, non-ASCII included', () => {
  // "😀" is two units; "é" one; NBSP (U+00A0), ideographic space (U+3000), BOM and line separator are \s; NEL (U+0085) is not.
  const texts = ['"hello"', '""', '"😀é"', '"a\\u00a0b\\u3000c\\ufeffd\\u2028e"', '"  two  words "', '"x\\u0085y"', '"\\ud83d\\ude00 \\ud800"', '"tab\\tnew\\nline"'];
  const strings = texts.map((t) => JSON.parse(t) as string);
  same(run({ type: 'length' }, texts), strings.map((s) => s.length));
  same(run({ type: 'length' }, texts), [5, 0, 3, 9, 13, 3, 4, 12]);
  same(run({ type: 'words' }, texts), [1, 0, 1, 5, 2, 1, 2, 3]);
  same(run({ type: 'words' }, [undefined, '7']), [NaN, 'bad-field: field x: expected a string, got number 7']);
});

test('hash: MurmurHash3 x86 32 of the UTF-8 bytes, mod N', () => {
  const texts = ['"m-42"', '""', '"ünïcödé 😀"', '"a longer merchant name, past one block"', '"lone \\ud800 surrogate"'];
  const want = texts.map((t) => murmur3(Buffer.from(JSON.parse(t) as string, 'utf8')) % 1024);
  same(run({ type: 'hash', buckets: 1024 }, texts), want);
  // Published vector: murmur3("hello", seed 0) = 0x248bfa47.
  same(run({ type: 'hash', buckets: 2 ** 31 }, ['"hello"']), [0x248bfa47 % 2 ** 31]);
  same(run({ type: 'hash', buckets: 16 }, [undefined, 'null', '{"a":1}']), [NaN, NaN, 'bad-field: field x: expected a string, got an object']);
});

test('time parts in UTC from epoch ms and ISO-8601 strings; Monday is weekday 0', () => {
  // 2024-02-29T23:59:59.999Z (a Thursday); 1969-12-31T23:59:59.999Z = -1 (a Wednesday); with a zone.
  const at = ['1709251199999', '"2024-02-29T23:59:59.999Z"', '-1', '"2024-03-04T01:30:00+02:00"', '"2024-03-04"', '0.9', '-0.5'];
  same(run({ type: 'hour' }, at), [23, 23, 23, 23, 0, 0, 0]);
  same(run({ type: 'minute' }, at), [59, 59, 59, 30, 0, 0, 0]);
  same(run({ type: 'weekday' }, at), [3, 3, 2, 6, 0, 3, 3]);
  same(run({ type: 'day' }, at), [29, 29, 31, 3, 4, 1, 1]);
  same(run({ type: 'month' }, at), [2, 2, 12, 3, 3, 1, 1]);
  same(run({ type: 'hour' }, [undefined, '"yesterday"', '1e300', 'true']), [
    NaN,
    'bad-field: field x: expected epoch milliseconds or an ISO-8601 string, got the string "yesterday"',
    'bad-field: field x: expected epoch milliseconds or an ISO-8601 string, got number 1e+300',
    'bad-field: field x: expected epoch milliseconds or an ISO-8601 string, got boolean true',
  ]);
  // Far dates: year 275760 (the end of JS Date's range) and negative years.
  same(run({ type: 'month' }, ['8.64e15', '-8.64e15', '-62198755200001']), [9, 4, 12]);
});

test('one field read several ways: each (field, transform) is its own column', () => {
  const spec: DecodeSpec = {
    keyPath: 'k',
    timestampPath: 'ts',
    fieldPaths: ['amount', 'amount', 'ch', 'ch', 'ts'],
    transforms: [undefined, { type: 'log1p' }, { type: 'onehot', values: ['pos', 'atm'], index: 0 }, { type: 'onehot', values: ['pos', 'atm'], index: 1 }, { type: 'hour' }],
    maxEventBytes: 1 << 20,
  };
  const values = ['{"k":"a","ts":7200000,"amount":1,"ch":"atm"}', '{"k":"a","ts":3600000,"amount":3}'];
  new Differential(spec).check(rawBatch(values));
  const out = new DecodedEvents(2, 5);
  new NativeJsonDecoder(spec, 1).decode(rawBatch(values), out);
  same(Array.from(out.fields.subarray(0, 10)), [1, Math.log1p(1), 0, 1, 2, 3, Math.log1p(3), NaN, NaN, 1]);
});

test('eventId: the value as JSON text (JSON.stringify), null when absent; both decoders', () => {
  const spec: DecodeSpec = { keyPath: 'k', timestampPath: 'ts', fieldPaths: [], eventIdPath: 'meta.id', maxEventBytes: 1 << 20 };
  const ids = ['"tx-1"', '42', '1e21', '-0', '"caf\\u00e9 \\"q\\""', '"ünï"', 'null', undefined, '{"a":[1,true]}', 'false', '1e400'];
  const values = ids.map((id) => `{"k":"a","ts":1${id === undefined ? '' : `,"meta":{"id":${id}}`}}`);
  new Differential(spec).check(rawBatch(values));
  const out = new DecodedEvents(values.length, 0);
  new NativeJsonDecoder(spec, 1).decode(rawBatch(values), out);
  assert.equal(out.count, ids.length);
  const want = ids.map((id) => (id === undefined ? 'null' : JSON.stringify(JSON.parse(id))));
  assert.deepEqual(
    ids.map((_, r) => eventIdOf(out, r)),
    want,
  );
  assert.deepEqual(want.slice(0, 5), ['"tx-1"', '42', '1e+21', '0', '"café \\"q\\""']);
});
