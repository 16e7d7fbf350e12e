// Feature transforms (SPEC §13), as part of the decode step: each decoded column is one field read
// through one transform, a float64 per event with NaN for "missing". Two halves:
// - the input half reads the JSON value: a number, or a string (category, onehot, length, words,
//   hash), or a timestamp (hour .. month). The JS decoder does it here (columnValue); the addon
//   does the same natively (native/decode/json_scan.cc), and test/decode/differential.test.ts
//   holds them equal;
// - the numeric half (log, log1p, standardize, normalize, bucket) runs over the decoded columns in
//   JS for both decoders (applyNumeric), so both give the same doubles bit for bit.
// An absent field or a JSON null is missing; a value of the wrong type is a bad-field dead letter.
import type { Transform } from '../config/types';
import { murmur3 } from '../util/murmur3';

/** One decoded column: a field path and the transform its values go through. */
export interface DecodeColumn {
  path: string;
  transform?: Transform;
}

/** What the native decoder computes per column (native/decode/json_scan.h ColumnKind). */
export const enum ColumnKind {
  Number = 0,
  Category = 1,
  OneHot = 2,
  Length = 3,
  Words = 4,
  Hash = 5,
  Hour = 6,
  Minute = 7,
  Weekday = 8,
  Day = 9,
  Month = 10,
}

const TIME_KINDS = { hour: ColumnKind.Hour, minute: ColumnKind.Minute, weekday: ColumnKind.Weekday, day: ColumnKind.Day, month: ColumnKind.Month } as const;

export function columnKind(t: Transform | undefined): ColumnKind {
  switch (t?.type) {
    case 'category': return ColumnKind.Category;
    case 'onehot': return ColumnKind.OneHot;
    case 'length': return ColumnKind.Length;
    case 'words': return ColumnKind.Words;
    case 'hash': return ColumnKind.Hash;
    case 'hour': case 'minute': case 'weekday': case 'day': case 'month': return TIME_KINDS[t.type];
    default: return ColumnKind.Number;
  }
}

/** The input each kind takes, for bad-field details. */
export function columnExpects(t: Transform | undefined): string {
  const kind = columnKind(t);
  if (kind === ColumnKind.Number) return 'a finite number';
  if (kind >= ColumnKind.Hour) return 'epoch milliseconds or an ISO-8601 string';
  return 'a string';
}

// ISO-8601 date-time with a zone, or a plain date: the event-time rule (src/decode/decoder.ts).
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/** A JSON value as epoch ms (a number, or an ISO-8601 string), NaN when it is neither. */
export function timestampOf(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && ISO_8601.test(v) ? Date.parse(v) : NaN;
}

/** JS \s: runs of anything else are words. */
const WORD = /\S+/g;

/**
 * The column's input value for a field's JSON value: NaN when missing (absent, null, an unknown
 * category), undefined when the value has the wrong type (a bad-field dead letter).
 */
export function columnValue(t: Transform | undefined, v: unknown): number | undefined {
  if (v === undefined || v === null) return NaN;
  const kind = columnKind(t);
  if (kind === ColumnKind.Number) return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  if (kind >= ColumnKind.Hour) {
    const ms = timestampOf(v);
    const d = new Date(ms);
    if (!Number.isFinite(ms) || Number.isNaN(d.getTime())) return undefined;
    switch (kind) {
      case ColumnKind.Hour: return d.getUTCHours();
      case ColumnKind.Minute: return d.getUTCMinutes();
      case ColumnKind.Weekday: return (d.getUTCDay() + 6) % 7; // Monday 0
      case ColumnKind.Day: return d.getUTCDate();
      default: return d.getUTCMonth() + 1;
    }
  }
  if (typeof v !== 'string' || t === undefined) return undefined;
  switch (t.type) {
    case 'category': {
      const i = t.values.indexOf(v);
      return i < 0 ? NaN : i;
    }
    case 'onehot': return v === t.values[t.index] ? 1 : 0;
    case 'length': return v.length;
    case 'words': return v.match(WORD)?.length ?? 0;
    case 'hash': return murmur3(Buffer.from(v, 'utf8')) % t.buckets;
    default: throw new Error(`columnValue: ${t.type} is not a string transform`);
  }
}

/** The numeric half of x's transform; missing stays missing. */
export function numericTransform(t: Transform | undefined, x: number): number {
  switch (t?.type) {
    case 'log': return x > 0 ? Math.log(x) : NaN;
    case 'log1p': return x > -1 ? Math.log1p(x) : NaN;
    case 'standardize': return (x - t.mean) / t.std;
    case 'normalize': return (x - t.min) / (t.max - t.min);
    case 'bucket': {
      if (Number.isNaN(x)) return NaN;
      let n = 0;
      while (n < t.bounds.length && t.bounds[n] <= x) n++;
      return n;
    }
    default: return x;
  }
}

const NUMERIC = new Set(['log', 'log1p', 'standardize', 'normalize', 'bucket']);

/** Applies the numeric transforms to rows [0, count) of row-major `fields` (one pass per column). */
export function applyNumeric(columns: readonly DecodeColumn[], fields: Float64Array, count: number): void {
  const F = columns.length;
  for (let c = 0; c < F; c++) {
    const t = columns[c].transform;
    if (t === undefined || !NUMERIC.has(t.type)) continue;
    for (let i = c; i < count * F; i += F) fields[i] = numericTransform(t, fields[i]);
  }
}
