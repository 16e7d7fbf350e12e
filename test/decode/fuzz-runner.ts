// The decode fuzz: random bytes and stacked mutations, through NativeJsonDecoder (checked against
// JsonDecoder) and through the addon directly with each message in its own exactly sized buffer,
// so that under AddressSanitizer (test/native/decode-fuzz.test.ts) any read past a message's end
// is caught.
import * as assert from 'node:assert/strict';
import type { DecodeSpec } from '../../src/decode/decoder';
import { DecodeStatus, type NativeDecoderHandle } from '../../src/native/decode';
import { native } from '../../src/native/index';
import { rng } from '../helpers/random';
import { Differential, mutate, objectText, randomBytes, rawBatch, encodeString, keyValue, timestampValue, fieldValue, type Rand, type Value } from './json-cases';

const SPECS: DecodeSpec[] = [
  { keyPath: 'card', timestampPath: 'ts', fieldPaths: ['amount'], maxEventBytes: 1 << 20 },
  { keyPath: 'u.id', timestampPath: '$kafka', fieldPaths: ['a.b', 'c'], maxEventBytes: 48 },
];
const REASON_OF_STATUS = ['clean', 'too-large', 'decode', 'missing-key', 'bad-timestamp', 'bad-field'];

function seedDocument(r: Rand): string {
  return objectText(r, 2, [
    [encodeString(r, 'card'), keyValue(r, 20)],
    [encodeString(r, 'ts'), timestampValue(r)],
    [encodeString(r, 'amount'), fieldValue(r)],
    ['"u"', objectText(r, 1, [['"id"', keyValue(r, 20)]])],
    ['"a"', objectText(r, 1, [['"b"', fieldValue(r)]])],
    ['"c"', fieldValue(r)],
  ]);
}

function input(r: Rand): Value {
  const k = r();
  if (k < 0.3) return randomBytes(r);
  let bytes: Uint8Array = Buffer.from(seedDocument(r));
  for (let m = 1 + Math.floor(r() * 4); m > 0; m--) bytes = mutate(r, bytes);
  if (k < 0.85) return bytes;
  // As a JS string, with a random UTF-16 unit (maybe a lone surrogate) somewhere.
  const s = Buffer.from(bytes).toString('utf8');
  const at = Math.floor(r() * (s.length + 1));
  return s.slice(0, at) + String.fromCharCode(Math.floor(r() * 0x10000)) + s.slice(at);
}

/** The addon's status for one message held in its own buffer of exactly its length. */
function directStatus(h: NativeDecoderHandle, value: Value, recordTs: number): number {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const data = new Uint8Array(bytes.length);
  data.set(bytes);
  const out = { rawIndex: new Int32Array(1), keyId: new Int32Array(1), timestampMs: new Float64Array(1), fields: new Float64Array(2), status: new Uint8Array(1) };
  h.decode(data, Int32Array.of(0), Int32Array.of(data.length), Float64Array.of(recordTs), out);
  return out.status[0];
}

/** Runs `cases` fuzz cases from `seed`; returns how many each decoder path saw. */
export function runDecodeFuzz(seed: number, cases: number): { cases: number; jsFallbacks: number } {
  const r = rng(seed);
  const batch = 250;
  let jsFallbacks = 0;
  let done = 0;
  for (const spec of SPECS) {
    const d = new Differential(spec);
    const direct = new native.NativeDecoder({ ...spec, numPartitions: 5 });
    for (let b = 0; b < Math.ceil(cases / SPECS.length / batch); b++) {
      const values = Array.from({ length: batch }, () => input(r));
      const recordTs = values.map(() => (r() < 0.9 ? 1_700_000_000_000 : NaN));
      d.check(rawBatch(values, recordTs));
      values.forEach((v, i) => {
        // Strings with lone surrogates lose them in UTF-8, so only bytes and well-formed text compare.
        if (typeof v === 'string' && Buffer.from(v).toString('utf8') !== v) return;
        if (typeof v === 'string' && v.length <= spec.maxEventBytes && Buffer.byteLength(v) > spec.maxEventBytes) return;
        const s = directStatus(direct, v, recordTs[i]);
        if (s === DecodeStatus.NeedsJs) return;
        assert.equal(REASON_OF_STATUS[s], d.lastReasons.get(i) ?? 'clean', `status ${s} for ${JSON.stringify(Buffer.from(typeof v === 'string' ? Buffer.from(v) : v).toString('hex'))}`);
      });
      done += batch;
    }
    // Deep nesting, whole and cut short: the scanner's stack is on the heap, never the C++ stack.
    const deep = ['{"u":'.repeat(50_000) + '1' + '}'.repeat(50_000), `{"card":"a","ts":1,"amount":1,"x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`];
    const deepValues: Value[] = [...deep, ...deep.map((v) => v.slice(0, -1))].map((v) => Buffer.from(v));
    d.check(rawBatch(deepValues));
    deepValues.forEach((v, i) => assert.equal(REASON_OF_STATUS[directStatus(direct, v, 0)], d.lastReasons.get(i) ?? 'clean'));
    done += deepValues.length;
    jsFallbacks += d.nat.jsFallbacks;
  }
  return { cases: done, jsFallbacks };
}
