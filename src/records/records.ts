// Record encoders (SPEC §5): one JSON object per line or message, fields in the documented order.
import { float32ToJson, float64ToJson } from './number';

export interface SourcePosition {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit, so records carry them as strings. */
  offset: string;
}

export interface WindowResult {
  key: string;
  windowStartMs: number;
  windowEndMs: number;
  events: number;
  /** Feature values in the job's feature order. */
  features: ArrayLike<number>;
  /** The model's outputs for this window (float32 values). */
  scores: ArrayLike<number>;
  revision: number;
  /** Per-event results: the event id's JSON text (eventId). */
  eventIdJson?: string;
}

/**
 * A record's layout, part by part: the one description of a result record's text. ResultEncoder
 * writes it from JS values; workers compile it into a program the addon runs over columns
 * (src/records/program.ts), so both write the same bytes.
 */
export type RecordPart =
  | { text: string }
  /** The window key as a JSON string. */
  | { key: true }
  /** A number as String() writes it (null when not finite). */
  | { number: 'windowStartMs' | 'windowEndMs' | 'events' | 'revision' }
  | { feature: number }
  /** Per-event results: the event id, JSON text as the decoder kept it. */
  | { eventId: true }
  /** The model's outputs as float32ToJson writes them: one bare, several as [a,b]. */
  | { scores: true };

/** The model a result's key is routed to, and its version (SPEC §12); a result its model failed
 *  to score also says what scored it instead (a fallback model and its version, or "value") and why. */
export interface ModelTag {
  model: string;
  version: string | null;
  fallback?: string;
  fallbackVersion?: string | null;
  error?: string;
}

/** {"key","windowStart","windowEnd","events","features":{...},"<output>":score,"model","modelVersion",
 *  ["fallback",["fallbackVersion"],"error"],"revision"} (SPEC §5, §12), or for an early result
 *  "early":true,"update":k instead of "revision" (SPEC §13); without `model`, no model fields (an
 *  unscored window's dead letter). */
export function resultLayout(featureNames: readonly string[], outputName: string, model?: ModelTag, early = false): RecordPart[] {
  const parts: RecordPart[] = [{ text: '{"key":' }, { key: true }, { text: ',"windowStart":' }, { number: 'windowStartMs' }, { text: ',"windowEnd":' }, { number: 'windowEndMs' }, { text: ',"events":' }, { number: 'events' }, { text: ',"features":{' }];
  parts.push(...scoredParts(featureNames, outputName, model));
  // An early result (SPEC §13) carries its update number k where a result has its revision.
  parts.push({ text: early ? ',"early":true,"update":' : ',"revision":' }, { number: 'revision' }, { text: '}' });
  return joinText(parts);
}

/** A per-event result (SPEC §13): {"key","ts",["eventId"],"features":{...},"<output>":score,"model","modelVersion",
 *  ["fallback",["fallbackVersion"],"error"],["late":true]}. `ts` is the event time (the row's
 *  windowStartMs column). */
export function perEventLayout(featureNames: readonly string[], outputName: string, model?: ModelTag, late = false, eventId = false): RecordPart[] {
  const parts: RecordPart[] = [{ text: '{"key":' }, { key: true }, { text: ',"ts":' }, { number: 'windowStartMs' }];
  if (eventId) parts.push({ text: ',"eventId":' }, { eventId: true });
  parts.push({ text: ',"features":{' });
  parts.push(...scoredParts(featureNames, outputName, model));
  parts.push({ text: late ? ',"late":true}' : '}' });
  return joinText(parts);
}

/** The features (from inside their braces), the score and the model fields. */
function scoredParts(featureNames: readonly string[], outputName: string, model?: ModelTag): RecordPart[] {
  const parts: RecordPart[] = [];
  featureNames.forEach((n, i) => parts.push({ text: `${i ? ',' : ''}${JSON.stringify(n)}:` }, { feature: i }));
  parts.push({ text: `},${JSON.stringify(outputName)}:` }, { scores: true });
  if (model) parts.push({ text: `,"model":${JSON.stringify(model.model)},"modelVersion":${JSON.stringify(model.version)}` });
  if (model?.fallback !== undefined) {
    const version = model.fallbackVersion === undefined ? '' : `,"fallbackVersion":${JSON.stringify(model.fallbackVersion)}`;
    parts.push({ text: `,"fallback":${JSON.stringify(model.fallback)}${version},"error":${JSON.stringify(model.error ?? '')}` });
  }
  return parts;
}

/** A fired session whose identity changed: {"key","windowStart","windowEnd","retracted":true,"revision"}. */
export const retractionLayout = (): RecordPart[] => [{ text: '{"key":' }, { key: true }, { text: ',"windowStart":' }, { number: 'windowStartMs' }, { text: ',"windowEnd":' }, { number: 'windowEndMs' }, { text: ',"retracted":true,"revision":' }, { number: 'revision' }, { text: '}' }];

/** Adjacent text parts as one. */
function joinText(parts: RecordPart[]): RecordPart[] {
  const out: RecordPart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if ('text' in p && last && 'text' in last) out[out.length - 1] = { text: last.text + p.text };
    else out.push(p);
  }
  return out;
}

function write(parts: readonly RecordPart[], r: WindowResult): string {
  let s = '';
  for (const p of parts) {
    if ('text' in p) s += p.text;
    else if ('key' in p) s += JSON.stringify(r.key);
    else if ('number' in p) s += float64ToJson(p.number === 'revision' ? r.revision : r[p.number]);
    else if ('feature' in p) s += float64ToJson(r.features[p.feature]);
    else if ('eventId' in p) s += r.eventIdJson ?? 'null';
    else s += r.scores.length === 1 ? float32ToJson(r.scores[0]) : `[${Array.from(r.scores, float32ToJson).join(',')}]`;
  }
  return s;
}

/** Encodes result records for one job in JS (workers use the addon: src/runtime/result-records.ts). */
export class ResultEncoder {
  readonly layout: RecordPart[];

  constructor(featureNames: readonly string[], outputName: string, model?: ModelTag, mode: 'windows' | 'per-event' = 'windows', eventId = false) {
    this.layout = mode === 'per-event' ? perEventLayout(featureNames, outputName, model, false, eventId) : resultLayout(featureNames, outputName, model);
  }

  encode(r: WindowResult): string {
    return write(this.layout, r);
  }
}

export function encodeRetraction(key: string, windowStartMs: number, windowEndMs: number, revision: number): string {
  return write(retractionLayout(), { key, windowStartMs, windowEndMs, revision, events: 0, features: [], scores: [] });
}

const encodeSource = (s: SourcePosition) => `{"topic":${JSON.stringify(s.topic)},"partition":${s.partition},"offset":${JSON.stringify(s.offset)}}`;

/** `eventJson` is the original event re-serialized (JSON.stringify of what was parsed). */
export function encodeLate(lateByMs: number, windowEndMs: number, source: SourcePosition, eventJson: string): string {
  return `{"reason":"late","lateByMs":${lateByMs},"windowEnd":${windowEndMs},"source":${encodeSource(source)},"event":${eventJson}}`;
}

/** model-timeout: a fired window whose model call timed out (model.onTimeout: dead-letter). */
export type DeadLetterReason = 'decode' | 'missing-key' | 'bad-timestamp' | 'bad-field' | 'too-large' | 'model-timeout' | 'model-error';

/** Original text is cut at 64 KiB, as SPEC §5 says. */
export const DEAD_LETTER_VALUE_MAX_CHARS = 64 * 1024;

/** `source` null: not one input record (a window whose scoring timed out). */
export function encodeDeadLetter(reason: DeadLetterReason, detail: string, source: SourcePosition | null, value: string): string {
  const cut = value.length > DEAD_LETTER_VALUE_MAX_CHARS ? value.slice(0, DEAD_LETTER_VALUE_MAX_CHARS) : value;
  return `{"reason":"${reason}","detail":${JSON.stringify(detail)},"source":${source ? encodeSource(source) : 'null'},"value":${JSON.stringify(cut)}}`;
}
