// parseJsonNumeric (native/json/): JSON.parse(new TextDecoder().decode(bytes)) with numeric arrays
// as Float64Arrays. Every case is checked against JSON.parse itself, through toNumeric() below.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { native } from '../../src/native';
import { mutate, numberText, objectText, randomBytes, stringBody, valueText, ws, type Rand } from '../decode/json-cases';
import { rng } from '../helpers/random';

const parse = (text: string | Uint8Array, maxDepth = 1000) => native.parseJsonNumeric(typeof text === 'string' ? Buffer.from(text) : text, maxDepth);

/** JSON.parse's value with the Float64Array rule applied: what parseJsonNumeric must return. */
function toNumeric(v: unknown): unknown {
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => x === null || typeof x === 'number')) return Float64Array.from(v, (x) => (x === null ? NaN : x));
    return v.map(toNumeric);
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: toNumeric(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** A text form that tells -0 from 0, NaN, lone surrogates, prototypes and key order apart. */
function canon(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v); // escapes lone surrogates as \udxxx
  if (v instanceof Float64Array) return `F64[${Array.from(v, canon).join(',')}]`;
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    assert.equal(Object.getPrototypeOf(v), Object.prototype, 'an object with another prototype');
    return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return String(v);
}

type Outcome = { ok: true; value: string } | { ok: false };
function reference(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, value: canon(toNumeric(JSON.parse(new TextDecoder().decode(bytes)))) };
  } catch {
    return { ok: false };
  }
}
function actual(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, value: canon(native.parseJsonNumeric(bytes, 1000)) };
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'SLUICE_JSON_INVALID', `unexpected error ${String(e)}`);
    return { ok: false };
  }
}
const show = (bytes: Uint8Array) => `bytes ${Buffer.from(bytes).toString('hex').slice(0, 600)} (${JSON.stringify(Buffer.from(bytes).toString('latin1')).slice(0, 300)})`;
function same(bytes: Uint8Array): boolean {
  const want = reference(bytes);
  assert.deepEqual(actual(bytes), want, show(bytes));
  return want.ok;
}
const sameText = (text: string) => same(Buffer.from(text));

function invalid(text: string | Uint8Array, maxDepth = 1000): Error & { code?: string } {
  try {
    parse(text, maxDepth);
  } catch (e) {
    assert.ok(e instanceof SyntaxError, `a SyntaxError, got ${String(e)}`);
    assert.equal((e as { code?: string }).code, 'SLUICE_JSON_INVALID');
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(String(text))}`);
}

test('an inference request: rows of numbers become Float64Arrays, the rest stays as JSON.parse gives it', () => {
  const rows = Array.from({ length: 3 }, (_, i) => `[${0.1 * i},2,null,-0,1e-7]`).join(',');
  const body = `{"id":"r1","inputs":[{"name":"input","shape":[3,5],"datatype":"FP32","data":[${rows}]}],"parameters":{}}`;
  const got = parse(body) as { id: string; inputs: Array<{ name: string; shape: Float64Array; data: Float64Array[] }>; parameters: object };
  assert.equal(got.id, 'r1');
  assert.ok(got.inputs[0].shape instanceof Float64Array);
  assert.deepEqual(Array.from(got.inputs[0].shape), [3, 5]);
  assert.ok(Array.isArray(got.inputs[0].data));
  assert.equal(got.inputs[0].data.length, 3);
  assert.ok(got.inputs[0].data[2] instanceof Float64Array);
  assert.ok(Number.isNaN(got.inputs[0].data[2][2]));
  assert.ok(Object.is(got.inputs[0].data[2][3], -0));
  assert.equal(got.inputs[0].data[1][0], 0.1);
  assert.equal(canon(got), canon(toNumeric(JSON.parse(body))));
  // One ArrayBuffer behind all of a call's Float64Arrays, each view at its own place in it.
  const rowsOf = got.inputs[0].data;
  assert.equal(rowsOf[1].buffer, rowsOf[2].buffer);
  assert.equal(rowsOf[1].buffer, got.inputs[0].shape.buffer);
  assert.equal(new Set([got.inputs[0].shape, ...rowsOf].map((a) => a.byteOffset)).size, 4);
  assert.equal(rowsOf[2].buffer.byteLength, (2 + 3 * 5) * 8);
  // A flat array, all nulls, and the shapes that stay JS arrays.
  assert.equal(canon(parse('[1,2,3]')), 'F64[1,2,3]');
  assert.equal(canon(parse(' [ null , null ] ')), 'F64[NaN,NaN]');
  assert.equal(canon(parse('[]')), '[]');
  assert.equal(canon(parse('[[]]')), '[[]]');
  assert.equal(canon(parse('[1,"a",null,2]')), '[1,"a",null,2]');
  assert.equal(canon(parse('[1,2,[3]]')), '[1,2,F64[3]]');
  assert.equal(canon(parse('[null,true]')), '[null,true]');
  assert.equal(canon(parse('[1,{}]')), '[1,{}]');
  assert.equal(canon(parse('{"a":[[1,2],[3,null]]}')), '{"a":[F64[1,2],F64[3,NaN]]}');
});

test('grammar: exactly what JSON.parse accepts', () => {
  const accepted = [
    '0', '-0', '1', ' \t\r\n1\n', '"x"', 'true', 'false', 'null', '{}', '{ }', '[ ]', '{"a":1,"b":[1,2]}', '[1e5,1E+5,1e-5,0.5,-0.0]',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u0041\\u00e9\\u4E2D"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00\\ud800x"', '"é中😀"', '"\u007f"', '{"":""}',
  ];
  const rejected = [
    '', ' ', '[1,]', '[,1]', '{"a":1,}', '{,}', '[1 2]', '{"a" 1}', '{"a":}', '{1:2}', "{'a':1}", '01', '-01', '00', '1.', '.5', '-', '+1', '1e', '1e+', '0x10',
    'NaN', 'Infinity', '-Infinity', '[NaN]', '[Infinity]', 'nul', 'tru', 'True', 'undefined', '// c\n1', '/* c */1', '[1]/**/', '"a', '"\\x41"', '"\\u12"',
    '"\\u12G4"', '"\\\'"', '"a\tb"', '"a\nb"', '"\u0000"', '\u00a01', '1\u00a0', '\v1', '\f1', '[1]]', '[[1]', '1 2', '{"a":1}}', '"\\', '[1,2', '{"a"', '["a"', '\ufeff\ufeff1',
  ];
  for (const text of accepted) assert.ok(sameText(text), `JSON.parse accepts ${JSON.stringify(text)}`);
  for (const text of rejected) assert.equal(sameText(text), false, `JSON.parse rejects ${JSON.stringify(text)}`);
  // Lone surrogates stay as they are; a pair is the character.
  assert.equal(parse('"\\ud800"'), '\ud800');
  assert.equal(parse('"a\\udc00\\ud800b"'), 'a\udc00\ud800b');
  assert.equal(parse('"\\ud83d\\ude00"'), '😀');
});

test('a UTF-8 BOM is dropped and invalid UTF-8 in strings reads as U+FFFD, as TextDecoder does', () => {
  const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  assert.equal(canon(parse(bytes([0xef, 0xbb, 0xbf], '[1]'))), 'F64[1]');
  invalid(bytes(' ', [0xef, 0xbb, 0xbf], '[1]')); // a BOM after whitespace is not whitespace
  assert.equal(parse(bytes('"a', [0xff], 'b"')), 'a\ufffdb');
  assert.equal(parse(bytes('"', [0xed, 0xa0, 0x80], '"')), '\ufffd\ufffd\ufffd'); // a surrogate in UTF-8: 3 subparts
  assert.equal(parse(bytes('"', [0xf0, 0x9f, 0x98], '"')), '\ufffd'); // a truncated 4-byte sequence: one
  assert.equal(parse(bytes('"', [0xe2, 0x82], '\\n"')), '\ufffd\n'); // the escape after it is still read
  assert.equal(parse(bytes('"', [0xc0, 0xaf], '"')), '\ufffd\ufffd'); // overlong
  const cases = [[0x80], [0xbf], [0xc2], [0xe0, 0x80], [0xe0, 0xa0], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xfe, 0xff], [0xe2, 0x82, 0xac], [0xf0, 0x90, 0x80, 0x80], [0xc3, 0xa9]];
  for (const c of cases) {
    assert.ok(same(bytes('{"k', c, '":"', c, 'x"}')));
    assert.equal(same(bytes('[1,', c, ']')), false); // outside a string, any byte >= 0x80 is an error
  }
});

test('numbers are the doubles JSON.parse gives, -0, overflow and underflow included', () => {
  const fixed = [
    '-0', '-0.0', '-0e5', '1e400', '-1e400', '1e-400', '-1e-400', '0e99999999999', '1e-99999999999999999999', '1e99999999999999999999',
    '0.' + '0'.repeat(400) + '1e400', '1' + '0'.repeat(400) + 'e-400', '4.9406564584124654e-324', '2.4703282292062327e-324', '2.4703282292062328e-324',
    '2.2250738585072011e-308', '2.2250738585072012e-308', '1.7976931348623157e308', '1.7976931348623158e308', '1.7976931348623159e308', '9007199254740993',
    '0.1000000000000000055511151231257827021181583404541015625', '123456789012345678901234567890', '0.30000000000000004', '1e23', '8.98846567431158e307',
  ];
  const r = rng(11);
  const texts = fixed.slice();
  const view = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 3000; i++) {
    view.setUint32(0, Math.floor(r() * 2 ** 32));
    view.setUint32(4, Math.floor(r() * 2 ** 32));
    const x = view.getFloat64(0);
    if (!Number.isFinite(x)) continue;
    texts.push(String(x), x.toPrecision(1 + Math.floor(r() * 21)), numberText(r));
  }
  for (const t of texts) {
    const want = JSON.parse(t) as number;
    const flat = parse(`[${t}]`) as Float64Array;
    assert.ok(Object.is(flat[0], want), `${t}: ${flat[0]} != ${want} (numeric array)`);
    const obj = parse(`{"v":${t}}`) as { v: number };
    assert.ok(Object.is(obj.v, want), `${t}: ${obj.v} != ${want} (object value)`);
    const mixed = parse(`[${t},"s"]`) as unknown[];
    assert.ok(Object.is(mixed[0], want), `${t}: ${String(mixed[0])} != ${want} (mixed array)`);
  }
});

test('objects: "__proto__" is an own property, the last duplicate wins, key order is JSON.parse\'s', () => {
  const got = parse('{"__proto__":{"polluted":[1]},"a":1,"b":2,"a":[3],"2":0,"1":0}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.ok(Object.hasOwn(got, '__proto__'));
  assert.equal(canon(Object.getOwnPropertyDescriptor(got, '__proto__')!.value), '{"polluted":F64[1]}');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(canon(got.a), 'F64[3]');
  assert.deepEqual(Object.keys(got), Object.keys(JSON.parse('{"__proto__":{},"a":1,"b":2,"a":[3],"2":0,"1":0}')));
  const nested = parse('[{"__proto__":null}]') as Array<Record<string, unknown>>;
  assert.equal(Object.getPrototypeOf(nested[0]), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(nested[0], '__proto__')!.value, null);
  assert.ok(sameText('{"a":1,"a":2,"__proto__":1,"__proto__":[1,2]}'));
});

test('nesting past maxDepth is an error, never a stack overflow', () => {
  const deep = Buffer.alloc(100_000, '[');
  const e = invalid(deep, 1000);
  assert.match(e.message, /deeper than maxDepth \(1000\) at byte 1000/);
  invalid(deep, Infinity); // no limit: ends at the missing value, not in a crash
  invalid(Buffer.from('{"a":'.repeat(100_000)), 100_000);
  // maxDepth counts arrays and objects, numeric arrays included.
  assert.equal(canon(parse('[[1]]', 2)), '[F64[1]]');
  invalid('[[1]]', 1);
  assert.equal(canon(parse('{"a":{}}', 2)), '{"a":{}}');
  invalid('{"a":{}}', 1);
  invalid('[]', 0);
  assert.equal(parse('7', 0), 7);
  // Deep but within the limit: parsed.
  const n = 50_000;
  let v = parse('['.repeat(n) + ']'.repeat(n), n) as unknown[];
  for (let d = 1; d < n; d++) v = v[0] as unknown[];
  assert.deepEqual(v, []);
});

test('errors give the byte offset and what was expected', () => {
  assert.match(invalid('[1,2 3]').message, /at byte 5: expected ',' or '\]', found '3'/);
  assert.match(invalid('{"a":1,}').message, /at byte 7: expected a string key, found '\}'/);
  assert.match(invalid('[1,').message, /at byte 3: expected a value, found the end of the input/);
  assert.match(invalid('"a\u0001"').message, /at byte 2: expected a string character/);
  assert.match(invalid('1 x').message, /at byte 2: expected the end of the input/);
  assert.match(invalid(Buffer.from([0x5b, 0xff])).message, /at byte 1: expected a value, found byte 0xFF/);
  for (const bad of [[], ['[]'], [new Uint16Array(2), 3], [Buffer.from('1'), -1], [Buffer.from('1'), 1.5], [Buffer.from('1'), '3']]) {
    assert.throws(() => (native.parseJsonNumeric as (...a: unknown[]) => unknown)(...bad), (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'SLUICE_RUNTIME');
  }
});

// Arrays that take the numeric path, break out of it late, or nest it.
function arrayText(r: Rand, depth: number): string {
  const n = Math.floor(r() * 6);
  const items = Array.from({ length: n }, () => (r() < 0.85 ? (r() < 0.15 ? 'null' : numberText(r)) : depth > 0 && r() < 0.5 ? arrayText(r, depth - 1) : valueText(r, 1)));
  if (depth > 0 && r() < 0.3) return `[${ws(r)}${Array.from({ length: 1 + Math.floor(r() * 3) }, () => arrayText(r, depth - 1)).join(`${ws(r)},${ws(r)}`)}${ws(r)}]`;
  return `[${ws(r)}${items.join(`${ws(r)},${ws(r)}`)}${ws(r)}]`;
}

function document(r: Rand): string {
  const k = r();
  if (k < 0.4) return objectText(r, 2, [['"id"', `"${stringBody(r)}"`], ['"inputs"', `[${objectText(r, 1, [['"shape"', arrayText(r, 0)], ['"data"', arrayText(r, 2)]])}]`]]);
  if (k < 0.7) return arrayText(r, 3);
  return valueText(r, 3);
}

test('fuzz: 6,000 documents, mutations and truncations: same verdict and value as JSON.parse, no crash', (t) => {
  const r = rng(2024);
  let accepted = 0, cases = 0;
  for (let i = 0; i < 6000; i++) {
    const text = ws(r) + document(r) + ws(r);
    let bytes: Uint8Array = Buffer.from(text);
    const k = r();
    if (k < 0.25) {
      // as generated
    } else if (k < 0.4) {
      bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
    } else if (k < 0.45) {
      bytes = randomBytes(r);
    } else {
      for (let m = 1 + Math.floor(r() * 3); m > 0; m--) bytes = mutate(r, bytes);
      if (r() < 0.05) bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
    }
    // In its own exactly sized buffer, so the ASan build catches a read past the end.
    if (same(Uint8Array.from(bytes))) accepted++;
    cases++;
  }
  t.diagnostic(`${cases} cases, ${accepted} accepted`);
  assert.ok(accepted > 1000 && accepted < cases - 1000, `both verdicts are exercised (${accepted} of ${cases})`);
});

test('loads and parses in a worker thread', async () => {
  const nativeIndex = path.join(__dirname, '..', '..', 'src', 'native', 'index.js');
  const code = `
    const { parentPort } = require('node:worker_threads');
    const { native } = require(${JSON.stringify(nativeIndex)});
    const v = native.parseJsonNumeric(Buffer.from('{"data":[[1,2],[3,null]]}'), 8);
    parentPort.postMessage(v.data.map((row) => row instanceof Float64Array && row.length));`;
  const got = await new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.deepEqual(got, [2, 2]);
});
