// Generated decode inputs and the check that NativeJsonDecoder gives JsonDecoder's result on them.
// Used by differential.test.ts, fuzz.test.ts and test/native/decode-fuzz.test.ts (the ASan run).
import * as assert from 'node:assert/strict';
import { DecodedEvents, JsonDecoder, type DecodeSpec } from '../../src/decode/decoder';
import { KeyTable } from '../../src/decode/key-table';
import { NativeJsonDecoder } from '../../src/decode/native-decoder';
import { messageValue, type RawBatch } from '../../src/decode/raw-batch';
import { pick } from '../helpers/random';

export type Rand = () => number;
export type Value = string | Uint8Array;

// ---- comparing the two decoders ----------------------------------------------------------------

export function rawBatch(values: Value[], recordTimestampMs?: number[]): RawBatch {
  const n = values.length;
  return {
    count: n,
    values,
    partition: new Int32Array(n),
    offset: new Float64Array(n),
    recordTimestampMs: recordTimestampMs ? Float64Array.from(recordTimestampMs) : new Float64Array(n).fill(NaN),
    topicOf: () => 'test',
    finished: [],
  };
}

const show = (v: Value) => JSON.stringify(typeof v === 'string' ? v : `bytes ${Buffer.from(v).toString('hex')}`).slice(0, 400);

/** Feeds the same batches to JsonDecoder + KeyTable and NativeJsonDecoder and asserts equal results. */
export class Differential {
  readonly keys: KeyTable;
  readonly ref: JsonDecoder;
  readonly nat: NativeJsonDecoder;
  private readonly refOut: DecodedEvents;
  private readonly natOut: DecodedEvents;
  cases = 0;
  clean = 0;

  constructor(readonly spec: DecodeSpec, numPartitions = 7) {
    this.keys = new KeyTable(numPartitions);
    this.ref = new JsonDecoder(spec, this.keys);
    this.nat = new NativeJsonDecoder(spec, numPartitions);
    this.refOut = new DecodedEvents(16, spec.fieldPaths.length);
    this.natOut = new DecodedEvents(16, spec.fieldPaths.length);
  }

  check(batch: RawBatch): void {
    const a = this.refOut, b = this.natOut;
    this.ref.decode(batch, a);
    this.nat.decode(batch, b);
    this.cases += batch.count;
    this.clean += a.count;
    const F = this.spec.fieldPaths.length;
    const at = (row: number) => show(messageValue(batch, a.rawIndex[row] ?? b.rawIndex[row]));
    assert.deepEqual(b.deadLetters, a.deadLetters, `dead letters differ; first: ${b.deadLetters.concat(a.deadLetters).slice(0, 1).map((d) => show(messageValue(batch, d.rawIndex))).join()}`);
    assert.equal(b.count, a.count, 'clean counts differ');
    for (let r = 0; r < a.count; r++) {
      assert.equal(b.rawIndex[r], a.rawIndex[r], `rawIndex, row ${r}`);
      if (b.keyId[r] !== a.keyId[r]) {
        assert.fail(`key id ${b.keyId[r]} (${this.nat.keyName(b.keyId[r])}) != ${a.keyId[r]} (${this.keys.name(a.keyId[r])}) for ${at(r)}`);
      }
      assert.ok(Object.is(b.timestampMs[r], a.timestampMs[r]), `timestamp ${b.timestampMs[r]} != ${a.timestampMs[r]} for ${at(r)}`);
      for (let f = 0; f < F; f++) {
        assert.ok(Object.is(b.fields[r * F + f], a.fields[r * F + f]), `field ${f}: ${b.fields[r * F + f]} != ${a.fields[r * F + f]} for ${at(r)}`);
      }
      if (this.spec.eventIdPath !== undefined) assert.equal(eventIdOf(b, r), eventIdOf(a, r), `event id for ${at(r)}`);
    }
    assert.equal(this.nat.size, this.keys.size, 'number of keys');
    this.lastReasons = new Map(a.deadLetters.map((l) => [l.rawIndex, l.reason]));
  }

  /** JsonDecoder's dead-letter reasons in the last checked batch, by raw index. */
  lastReasons = new Map<number, string>();

  /** Every key's name and partition agree with KeyTable's. */
  checkKeys(): void {
    for (let id = 0; id < this.keys.size; id++) {
      assert.equal(this.nat.keyName(id), this.keys.name(id), `key ${id}`);
      assert.equal(this.nat.partitionOf(id), this.keys.partitionOf(id), `partition of key ${id}`);
    }
  }
}

// ---- JSON text with every form JSON.parse accepts ----------------------------------------------

const int = (r: Rand, n: number) => Math.floor(r() * n);
const WS = [' ', '\t', '\n', '\r'];

/** Whitespace, mostly none. */
export const ws = (r: Rand) => (r() < 0.75 ? '' : Array.from({ length: 1 + int(r, 3) }, () => pick(r, WS)).join(''));

const FIXED_NUMBERS = ['-0', '0', '0.0', '-0.0', '1E5', '1e-7', '1e+2', '2.5E-3', '0.1e1', '123456789012345678901234567890', '5e-324', '2e-324', '1.7976931348623157e308', '1.7976931348623159e308', '1e400', '-1e400', '1e-400', '-1e-400', '9007199254740993', '0.30000000000000004', '1e21', '1e-6', '1.5e-7', '100', '-42', '12.34', '1700000000123', '0.000001', '123e-20', '1e308', '4.9406564584124654e-324', '2.2250738585072014e-308', '0.' + '0'.repeat(30) + '1', '9'.repeat(40), '1' + '0'.repeat(25) + '.5e-10'];

/** A JSON number, as text, in one of its many spellings. */
export function numberText(r: Rand): string {
  const k = r();
  if (k < 0.3) return pick(r, FIXED_NUMBERS);
  if (k < 0.45) return String(int(r, 2_000_000) - 1_000_000);
  const x = (r() - 0.5) * 10 ** (int(r, 40) - 20);
  if (k < 0.7) return String(x).replace('e+', r() < 0.5 ? 'e+' : 'E');
  if (k < 0.8) return x.toExponential(int(r, 17));
  if (k < 0.9) return x.toFixed(int(r, 8));
  const digits = (n: number) => Array.from({ length: n }, () => int(r, 10)).join('');
  const lead = r() < 0.3 ? '0' : String(1 + int(r, 9)) + digits(int(r, 20));
  return (r() < 0.3 ? '-' : '') + lead + (r() < 0.5 ? '.' + digits(1 + int(r, 20)) : '') + (r() < 0.4 ? pick(r, ['e', 'E']) + pick(r, ['', '+', '-']) + digits(1 + int(r, 3)) : '');
}

const ESCAPES = ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t'];
const RAW = ['a', 'Z', '0', ' ', '-', '.', ':', 'é', '中', '😀', '\u2028', '\u007f', 'ß'];
const hex4 = (u: number, r: Rand) => {
  const h = u.toString(16).padStart(4, '0');
  return '\\u' + (r() < 0.5 ? h : h.toUpperCase());
};

/** The body of a JSON string (between its quotes) with escapes of every kind. */
export function stringBody(r: Rand, maxLen = 12): string {
  let s = '';
  const n = int(r, maxLen + 1);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.55) s += String.fromCharCode(0x61 + int(r, 26));
    else if (k < 0.7) s += pick(r, RAW);
    else if (k < 0.8) s += pick(r, ESCAPES);
    else if (k < 0.88) s += hex4(int(r, 0x10000), r);
    else if (k < 0.94) s += hex4(0xd800 + int(r, 0x400), r) + hex4(0xdc00 + int(r, 0x400), r); // a pair
    else s += hex4(pick(r, [0xd800, 0xdbff, 0xdc00, 0xdfff, 0x0000, 0x001f, 0x0022, 0x005c, 0xfffd]), r);
  }
  return s;
}

/** A JSON string spelling `s`: each character raw or escaped at random. */
export function encodeString(r: Rand, s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 0x22 || c === 0x5c || c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) {
      out += hex4(c, r);
    } else if (r() < 0.15) {
      out += c > 0xffff ? hex4(ch.charCodeAt(0), r) + hex4(ch.charCodeAt(1), r) : hex4(c, r);
    } else {
      out += ch;
    }
  }
  return `"${out}"`;
}

/** A random JSON value (nested to at most `depth`), as text. */
export function valueText(r: Rand, depth: number): string {
  const k = r();
  if (depth > 0 && k < 0.15) return objectText(r, depth - 1, []);
  if (depth > 0 && k < 0.25) return `[${ws(r)}${Array.from({ length: int(r, 4) }, () => valueText(r, depth - 1)).join(`${ws(r)},${ws(r)}`)}${ws(r)}]`;
  if (k < 0.55) return numberText(r);
  if (k < 0.85) return `"${stringBody(r)}"`;
  return pick(r, ['true', 'false', 'null']);
}

/** An object with `members` (key text, value text) plus random ones, shuffled. */
export function objectText(r: Rand, depth: number, members: Array<[string, string]>): string {
  const all = members.slice();
  for (let i = int(r, 4); i > 0; i--) all.push([`"${stringBody(r, 6)}"`, valueText(r, depth)]);
  for (let i = all.length - 1; i > 0; i--) {
    const j = int(r, i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  const body = all.map(([k, v]) => `${ws(r)}${k}${ws(r)}:${ws(r)}${v}${ws(r)}`).join(',');
  return `{${body}${all.length === 0 ? ws(r) : ''}}`;
}

/** Values to put at a path: right ones mostly, every wrong kind sometimes. */
export function keyValue(r: Rand, nKeys: number): string {
  const k = r();
  if (k < 0.6) return encodeString(r, `card-${int(r, nKeys)}`);
  if (k < 0.7) return encodeString(r, pick(r, ['ключ', '😀', 'a\ud800b', 'é', '', 'x\u0000y', '\udc00']));
  if (k < 0.85) return r() < 0.5 ? String(int(r, nKeys)) : numberText(r);
  return valueText(r, 1);
}

export function isoText(r: Rand): string {
  const d2 = (n: number) => String(n).padStart(2, '0');
  let s = `${String(int(r, 10000)).padStart(4, '0')}-${d2(int(r, 14))}-${d2(int(r, 33))}`;
  if (r() < 0.85) {
    s += pick(r, ['T', 'T', 't', ' ']) + `${d2(int(r, 26))}:${d2(int(r, 61))}`;
    if (r() < 0.7) s += `:${d2(int(r, 61))}` + (r() < 0.6 ? '.' + String(int(r, 1e9)).slice(0, 1 + int(r, 10)) : '');
    const z = r();
    if (z < 0.45) s += pick(r, ['Z', 'z']);
    else if (z < 0.9) s += pick(r, ['+', '-']) + d2(int(r, 25)) + pick(r, [':', '']) + d2(int(r, 61));
  }
  if (r() < 0.05) s = pick(r, ['', 'March 7, 2023', s + ' ', ' ' + s, s.slice(0, -1), '2023-1-01']);
  return s;
}

export function timestampValue(r: Rand): string {
  const k = r();
  if (k < 0.5) return String(1_700_000_000_000 + int(r, 1_000_000));
  if (k < 0.8) return encodeString(r, isoText(r));
  if (k < 0.9) return numberText(r);
  return valueText(r, 1);
}

export function fieldValue(r: Rand): string {
  return r() < 0.85 ? numberText(r) : valueText(r, 1);
}

// ---- byte-level mutations -----------------------------------------------------------------------

const INTERESTING = [0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x20, 0x0a, 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xff, 0x30, 0x2d, 0x2e, 0x65, 0x75];

/** 1-3 random edits (insert, delete, replace, flip a bit, truncate, duplicate a slice). */
export function mutate(r: Rand, bytes: Uint8Array): Uint8Array {
  let b = Array.from(bytes);
  for (let m = 1 + int(r, 3); m > 0; m--) {
    const at = int(r, b.length + 1);
    const byte = () => (r() < 0.6 ? pick(r, INTERESTING) : int(r, 256));
    switch (int(r, 6)) {
      case 0: b.splice(at, 0, byte()); break;
      case 1: b.splice(at, 1 + int(r, 3)); break;
      case 2: if (at < b.length) b[at] = byte(); break;
      case 3: if (at < b.length) b[at] ^= 1 << int(r, 8); break;
      case 4: b = b.slice(0, at); break;
      default: b.splice(at, 0, ...b.slice(int(r, b.length + 1), int(r, b.length + 1))); break;
    }
  }
  return Uint8Array.from(b);
}

/** Random bytes, mostly JSON's own characters. */
export function randomBytes(r: Rand): Uint8Array {
  const n = int(r, 64);
  const out = new Uint8Array(n);
  const alphabet = '{}[]":,0123456789-+.eE \ttrufalsn\\/bu"abc';
  for (let i = 0; i < n; i++) out[i] = r() < 0.8 ? alphabet.charCodeAt(int(r, alphabet.length)) : int(r, 256);
  if (n > 0 && r() < 0.7) out[0] = 0x7b;
  return out;
}

/** Row r's event id as JSON text. */
export function eventIdOf(out: DecodedEvents, r: number): string {
  return Buffer.from(out.eventIds.subarray(r === 0 ? 0 : out.eventIdEnd[r - 1], out.eventIdEnd[r])).toString('utf8');
}
