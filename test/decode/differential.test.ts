// NativeJsonDecoder against JsonDecoder (JSON.parse) on over 100,000 generated and mutated messages:
// the same clean events (key ids, timestamps and fields bit for bit), the same dead letters (reason
// and detail), the same key table. The JS-fallback share is reported for each kind of input.
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Transform } from '../../src/config/types';
import type { DecodeSpec } from '../../src/decode/decoder';
import { GeneratorSource } from '../../src/io/sources/generator';
import { pick, rng } from '../helpers/random';
import { Differential, encodeString, fieldValue, isoText, keyValue, mutate, numberText, objectText, rawBatch, timestampValue, valueText, ws, type Rand, type Value } from './json-cases';

const BATCH = 500;
const MIB = 1 << 20;
const int = (r: Rand, n: number) => Math.floor(r() * n);

const EXAMPLE: DecodeSpec = { keyPath: 'card', timestampPath: 'ts', fieldPaths: ['amount'], maxEventBytes: MIB };
const SPECS: DecodeSpec[] = [
  { keyPath: 'card', timestampPath: 'ts', fieldPaths: ['amount', 'merchant'], maxEventBytes: MIB },
  { keyPath: 'user.id', timestampPath: 'meta.time', fieldPaths: ['pay.amount', 'risk', 'pay.fx.rate'], maxEventBytes: MIB },
  { keyPath: 'k', timestampPath: '$kafka', fieldPaths: ['o.v', 'o.w.x', 'v'], maxEventBytes: MIB },
  { keyPath: 'ключ', timestampPath: '😀.t', fieldPaths: ['é', 'a\ud800', 'x\ufffd'], maxEventBytes: MIB },
  { keyPath: '__proto__', timestampPath: 'constructor', fieldPaths: ['toString', '__proto__.x'], maxEventBytes: MIB },
  { keyPath: 'k', timestampPath: 't', fieldPaths: ['k', 'n.k'], maxEventBytes: 90 },
  { keyPath: '', timestampPath: 'a..b', fieldPaths: [], maxEventBytes: MIB },
  // Transforms (SPEC §13): string and time inputs read natively.
  {
    keyPath: 'k',
    timestampPath: 'ts',
    fieldPaths: ['s', 's', 's', 's', 's', 't', 't', 't', 'n'],
    transforms: [
      { type: 'category', values: ['card-1', 'ключ', '😀', 'é', '', 'x\u0000y'] },
      { type: 'onehot', values: ['card-2', 'a\ud800b'], index: 1 },
      { type: 'length' },
      { type: 'words' },
      { type: 'hash', buckets: 977 },
      { type: 'hour' },
      { type: 'weekday' },
      { type: 'month' },
      { type: 'log1p' },
    ],
    eventIdPath: 's',
    maxEventBytes: MIB,
  },
];

function report(t: TestContext, label: string, d: Differential, fallbacksBefore = 0): void {
  const fallbacks = d.nat.jsFallbacks - fallbacksBefore;
  t.diagnostic(`${label}: ${d.cases} cases, ${d.clean} clean, ${d.keys.size} keys, ${fallbacks} via the JS fallback (${((100 * fallbacks) / Math.max(1, d.cases)).toFixed(2)}%)`);
}

/** A message for `spec`: each path present (or missing, duplicated, mistyped) among random members. */
function documentFor(r: Rand, spec: DecodeSpec): string {
  const paths: Array<{ segs: string[]; value: () => string }> = [
    { segs: spec.keyPath.split('.'), value: () => keyValue(r, 50) },
    ...(spec.timestampPath === '$kafka' ? [] : [{ segs: spec.timestampPath.split('.'), value: () => timestampValue(r) }]),
    ...spec.fieldPaths.map((p, i) => ({ segs: p.split('.'), value: () => inputFor(r, spec.transforms?.[i]) })),
  ];
  return objectText(r, 2, members(r, paths));
}

/** A field value for a column with this transform: strings for string transforms, times for time parts. */
function inputFor(r: Rand, t: Transform | undefined): string {
  if (t === undefined || ['log', 'log1p', 'standardize', 'normalize', 'bucket'].includes(t.type)) return fieldValue(r);
  if (['hour', 'minute', 'weekday', 'day', 'month'].includes(t.type)) return timestampValue(r);
  return keyValue(r, 5);
}

function members(r: Rand, paths: Array<{ segs: string[]; value: () => string }>): Array<[string, string]> {
  const groups = new Map<string, typeof paths>();
  for (const p of paths) groups.set(p.segs[0], [...(groups.get(p.segs[0]) ?? []), p]);
  const out: Array<[string, string]> = [];
  for (const [seg, group] of groups) {
    if (r() < 0.05) continue; // missing
    const leaves = group.filter((p) => p.segs.length === 1);
    const deeper = group.filter((p) => p.segs.length > 1).map((p) => ({ segs: p.segs.slice(1), value: p.value }));
    const value = () => (deeper.length === 0 || (leaves.length > 0 && r() < 0.3) ? pick(r, leaves).value() : objectText(r, 1, members(r, deeper)));
    // Duplicates: JSON.parse keeps the last; either copy may be the right-looking one.
    if (r() < 0.08) out.push([encodeString(r, seg), r() < 0.5 ? value() : valueText(r, 2)]);
    out.push([encodeString(r, seg), value()]);
  }
  return out;
}

/** Example events, mostly in the generator's own format, some reordered or spaced out. */
function realisticEvent(r: Rand, i: number): string {
  const card = `"card":${r() < 0.95 ? `"card-${int(r, 10_000)}"` : String(int(r, 10_000))}`;
  const ts = `"ts":${r() < 0.9 ? String(1_700_000_000_000 + i * 50) : `"${new Date(1_700_000_000_000 + i * 50).toISOString()}"`}`;
  const amount = `"amount":${Math.round(Math.exp(3.4 + r()) * 100) / 100}`;
  const parts = [card, ts, amount, `"merchant":"m-${int(r, 500)}"`];
  if (r() < 0.5) return `{${parts.join(',')}}`;
  for (let j = parts.length - 1; j > 0; j--) {
    const k = int(r, j + 1);
    [parts[j], parts[k]] = [parts[k], parts[j]];
  }
  return `{${ws(r)}${parts.map((p) => p.replace(':', `${ws(r)}:${ws(r)}`)).join(`${ws(r)},${ws(r)}`)}${ws(r)}}`;
}

test('generator events: identical results, and none through the JS fallback', async (t) => {
  const d = new Differential(EXAMPLE, 16);
  const source = new GeneratorSource({ type: 'generator', key: 'card', timestamp: 'ts', format: 'json', maxMessageBytes: 1 << 20, events: 20_000, keys: 10_000, seed: 7, eventTimeStepMs: 0.05, outOfOrderMs: 2000, partitions: 1, startTimeMs: 1_700_000_000_000, fraudShare: 0.01 });
  for await (const batch of source.batches(BATCH)) d.check(batch);
  d.checkKeys();
  report(t, 'generator events', d);
  assert.equal(d.cases, 20_000);
  assert.equal(d.clean, 20_000);
  assert.equal(d.nat.jsFallbacks, 0);
});

test('realistic variants (reordered, whitespace, ISO times, numeric keys), as text and as bytes', (t) => {
  const r = rng(11);
  const d = new Differential(EXAMPLE, 16);
  for (let b = 0; b < 40; b++) {
    const values: Value[] = Array.from({ length: BATCH }, (_, i) => realisticEvent(r, b * BATCH + i));
    d.check(rawBatch(b % 2 === 0 ? values : values.map((v) => Buffer.from(v as string))));
  }
  d.checkKeys();
  report(t, 'realistic variants', d);
  assert.equal(d.cases, 20_000);
  assert.equal(d.nat.jsFallbacks, 0);
});

test('random documents for every spec: nesting, escapes, number forms, duplicates, wrong kinds', (t) => {
  const r = rng(12);
  for (const spec of SPECS) {
    const d = new Differential(spec);
    for (let b = 0; b < 14; b++) {
      const values: Value[] = [];
      const recordTs: number[] = [];
      for (let i = 0; i < BATCH; i++) {
        const doc = r() < 0.03 ? valueText(r, 3) : documentFor(r, spec); // some roots are not objects
        values.push(r() < 0.5 ? doc : Buffer.from(doc));
        recordTs.push(r() < 0.8 ? 1_700_000_000_000 + i : pick(r, [NaN, Infinity, -Infinity, -0, 1.5]));
      }
      d.check(rawBatch(values, recordTs));
    }
    d.checkKeys();
    report(t, `spec ${JSON.stringify(spec)}`, d);
    assert.ok(d.clean > 0 || spec.fieldPaths.includes('toString') || spec.fieldPaths.includes('k'), 'some events are clean');
  }
});

test('ISO-8601 timestamps of every shape match Date.parse', (t) => {
  const r = rng(13);
  const d = new Differential({ keyPath: 'k', timestampPath: 't', fieldPaths: [], maxEventBytes: MIB });
  for (let b = 0; b < 20; b++) {
    d.check(rawBatch(Array.from({ length: BATCH }, () => `{"k":"a","t":${encodeString(r, isoText(r))}}`)));
  }
  report(t, 'ISO timestamps', d);
  assert.equal(d.cases, 10_000);
});

test('numbers in every form, as keys, timestamps and fields', (t) => {
  const r = rng(14);
  const d = new Differential({ keyPath: 'k', timestampPath: 't', fieldPaths: ['f'], maxEventBytes: MIB });
  for (let b = 0; b < 20; b++) {
    d.check(rawBatch(Array.from({ length: BATCH }, () => `{"k":${numberText(r)},"t":${numberText(r)},"f":${numberText(r)}}`)));
  }
  d.checkKeys();
  report(t, 'numbers', d);
  assert.equal(d.nat.jsFallbacks, 0);
});

test('byte-level mutations of valid documents (insert, delete, flip, truncate)', (t) => {
  const r = rng(15);
  for (const spec of [EXAMPLE, SPECS[1], SPECS[3]]) {
    const d = new Differential(spec);
    for (let b = 0; b < 24; b++) {
      const values: Value[] = [];
      for (let i = 0; i < BATCH; i++) {
        const doc = spec === EXAMPLE && r() < 0.5 ? realisticEvent(r, i) : documentFor(r, spec);
        const bytes = mutate(r, Buffer.from(doc));
        // As text, invalid UTF-8 becomes U+FFFD before either decoder sees it.
        values.push(r() < 0.7 ? bytes : Buffer.from(bytes).toString('utf8'));
      }
      d.check(rawBatch(values));
    }
    d.checkKeys();
    report(t, `mutations, spec ${JSON.stringify(spec)}`, d);
    assert.equal(d.cases, 12_000);
  }
});

test('strings with lone surrogates and UTF-8 longer than maxEventBytes go through JS and agree', (t) => {
  const r = rng(16);
  const d = new Differential({ keyPath: 'k', timestampPath: 't', fieldPaths: ['f'], maxEventBytes: 40 });
  const values: Value[] = [];
  for (let i = 0; i < 2000; i++) {
    const key = pick(r, ['a\ud800', '\udc00z', 'éééééééééééé', 'x', '😀']);
    values.push(`{"k":"${key}","t":1,"f":${i}}`);
  }
  d.check(rawBatch(values));
  d.checkKeys();
  report(t, 'surrogates and long UTF-8', d);
});
