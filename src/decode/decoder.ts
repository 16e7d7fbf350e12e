// The one decode step (SPEC §1): raw message -> key id, event time, numeric fields, as columns.
// Every source goes through it, before the watermark is updated. Events that cannot be used
// become dead letters with a reason; they never reach a window and never move the watermark.
// This is the JSON.parse implementation; a native decoder fills the same DecodedEvents.
import type { DeadLetterReason } from '../records/records';
import type { KeyTable } from './key-table';
import type { Transform } from '../config/types';
import { messageValue, rawText, type RawBatch } from './raw-batch';
import { applyNumeric, columnExpects, columnValue, timestampOf, type DecodeColumn } from './transforms';

export interface DecodeSpec {
  /** Field path of the window key, dots for nesting. */
  keyPath: string;
  /** Field path of the event time, or "$kafka" for the record timestamp. */
  timestampPath: string;
  /** Fields the features read, in column order (a path may repeat, with another transform). */
  fieldPaths: string[];
  /** Per column, its transform (src/decode/transforms.ts); absent: the field's number as it is. */
  transforms?: ReadonlyArray<Transform | undefined>;
  /** Larger messages are dead letters (too-large) before any parsing. */
  maxEventBytes: number;
  /** Per-event mode's `eventId` (SPEC §13): its value is kept as JSON text per event. */
  eventIdPath?: string;
}

export interface DeadLetter {
  rawIndex: number;
  reason: DeadLetterReason;
  detail: string;
}

/** Clean events of one raw batch, in arrival order; fields are row-major (count x numFields). */
export class DecodedEvents {
  count = 0;
  rawIndex: Int32Array;
  keyId: Int32Array;
  timestampMs: Float64Array;
  fields: Float64Array;
  /** With an eventIdPath: event i's id as JSON text is eventIds[eventIdEnd[i - 1], eventIdEnd[i]). */
  eventIdEnd: Int32Array;
  eventIds = new Uint8Array(0);
  deadLetters: DeadLetter[] = [];

  constructor(
    capacity: number,
    readonly numFields: number,
  ) {
    this.rawIndex = new Int32Array(capacity);
    this.keyId = new Int32Array(capacity);
    this.timestampMs = new Float64Array(capacity);
    this.fields = new Float64Array(capacity * numFields);
    this.eventIdEnd = new Int32Array(capacity);
  }

  reset(capacity: number): void {
    this.count = 0;
    this.deadLetters = [];
    if (capacity > this.rawIndex.length) {
      this.rawIndex = new Int32Array(capacity);
      this.keyId = new Int32Array(capacity);
      this.timestampMs = new Float64Array(capacity);
      this.fields = new Float64Array(capacity * this.numFields);
      this.eventIdEnd = new Int32Array(capacity);
    }
  }

  /** Bytes of the event ids of the clean events. */
  get eventIdBytes(): number {
    return this.count === 0 ? 0 : this.eventIdEnd[this.count - 1];
  }

  /** Room for `more` bytes of ids after row `row - 1`'s. */
  reserveEventIds(row: number, more: number): void {
    const need = (row === 0 ? 0 : this.eventIdEnd[row - 1]) + more;
    if (need <= this.eventIds.length) return;
    const grown = new Uint8Array(Math.max(need, 2 * this.eventIds.length));
    grown.set(this.eventIds);
    this.eventIds = grown;
  }
}

type Path = string[];
const compile = (p: string): Path => p.split('.');

function get(obj: unknown, path: Path): unknown {
  let v = obj;
  for (const k of path) {
    // Own members only: JSON has no prototype chain (toString and __proto__ are absent unless written).
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

const describe = (v: unknown) =>
  v === undefined ? 'missing' : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}` : `${typeof v} ${String(v)}`;

/** A DecodeSpec with its paths split once, for decodeOne. */
export interface CompiledSpec {
  readonly spec: DecodeSpec;
  readonly key: Path;
  /** null: the record timestamp ("$kafka"). */
  readonly timestamp: Path | null;
  readonly fields: Path[];
  /** null: the spec has no event id. */
  readonly eventId: Path | null;
  /** Each field path with its transform. */
  readonly columns: DecodeColumn[];
}

export function compileSpec(spec: DecodeSpec): CompiledSpec {
  return {
    spec,
    key: compile(spec.keyPath),
    timestamp: spec.timestampPath === '$kafka' ? null : compile(spec.timestampPath),
    fields: spec.fieldPaths.map(compile),
    eventId: spec.eventIdPath === undefined ? null : compile(spec.eventIdPath),
    columns: spec.fieldPaths.map((path, i) => ({ path, transform: spec.transforms?.[i] })),
  };
}

/**
 * Decodes raw message `rawIndex`. When it is clean, writes its event time and fields into row `row`
 * of `out` and returns its key; the caller interns the key and commits the row. Otherwise returns
 * the dead letter; row `row` may have been written and must be treated as free.
 * JsonDecoder and the native decoder's JS fallback (native-decoder.ts) both go through here.
 */
export function decodeOne(c: CompiledSpec, value: string | Uint8Array, recordTimestampMs: number, rawIndex: number, out: DecodedEvents, row: number): string | DeadLetter {
  const spec = c.spec;
  const i = rawIndex;
  const bytes = typeof value === 'string' ? value.length : value.byteLength;
  // String length counts UTF-16 units; a string can hold up to 3 bytes per unit.
  if (bytes > spec.maxEventBytes && (typeof value !== 'string' || Buffer.byteLength(value) > spec.maxEventBytes)) {
    return { rawIndex: i, reason: 'too-large', detail: `the event is larger than ${spec.maxEventBytes} bytes` };
  }
  let obj: unknown;
  try {
    obj = JSON.parse(rawText(value));
  } catch (e) {
    return { rawIndex: i, reason: 'decode', detail: `not valid JSON: ${(e as Error).message}` };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return { rawIndex: i, reason: 'decode', detail: `expected a JSON object, got ${describe(obj)}` };
  }
  const k = get(obj, c.key);
  let key: string;
  if (typeof k === 'string') key = k;
  else if (typeof k === 'number' && Number.isFinite(k)) key = String(k);
  else {
    return { rawIndex: i, reason: 'missing-key', detail: `key ${spec.keyPath}: expected a string or a number, got ${describe(k)}` };
  }
  let ts: number;
  if (c.timestamp === null) {
    ts = recordTimestampMs;
    if (!Number.isFinite(ts)) {
      return { rawIndex: i, reason: 'bad-timestamp', detail: 'the record has no timestamp' };
    }
  } else {
    const t = get(obj, c.timestamp);
    ts = timestampOf(t);
    if (!Number.isFinite(ts)) {
      return {
        rawIndex: i,
        reason: 'bad-timestamp',
        detail: `timestamp ${spec.timestampPath}: expected epoch milliseconds or an ISO-8601 string, got ${describe(t)}`,
      };
    }
  }
  const F = c.fields.length;
  for (let f = 0; f < F; f++) {
    const v = get(obj, c.fields[f]);
    const t = c.columns[f].transform;
    const x = columnValue(t, v);
    if (x === undefined) {
      return { rawIndex: i, reason: 'bad-field', detail: `field ${spec.fieldPaths[f]}: expected ${columnExpects(t)}, got ${describe(v)}` };
    }
    out.fields[row * F + f] = x;
  }
  if (c.eventId !== null) {
    const id = Buffer.from(JSON.stringify(get(obj, c.eventId) ?? null), 'utf8');
    out.reserveEventIds(row, id.length);
    const at = row === 0 ? 0 : out.eventIdEnd[row - 1];
    out.eventIds.set(id, at);
    out.eventIdEnd[row] = at + id.length;
  }
  out.timestampMs[row] = ts;
  return key;
}

export class JsonDecoder {
  private readonly compiled: CompiledSpec;

  constructor(
    spec: DecodeSpec,
    private readonly keys: KeyTable,
  ) {
    this.compiled = compileSpec(spec);
  }

  decode(raw: RawBatch, out: DecodedEvents): void {
    out.reset(raw.count);
    for (let i = 0; i < raw.count; i++) {
      const n = out.count;
      const r = decodeOne(this.compiled, messageValue(raw, i), raw.recordTimestampMs[i], i, out, n);
      if (typeof r !== 'string') {
        out.deadLetters.push(r);
        continue;
      }
      out.rawIndex[n] = i;
      out.keyId[n] = this.keys.intern(r);
      out.count = n + 1;
    }
    applyNumeric(this.compiled.columns, out.fields, out.count);
  }
}
