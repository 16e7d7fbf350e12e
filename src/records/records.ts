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
}

/**
 * Encodes result records for one job: {"key","windowStart","windowEnd","events","features":{...},
 * "<output>":score,"revision"}. The quoted names are made once, not once per record.
 */
export class ResultEncoder {
  private readonly featureKeys: string[];
  private readonly outputKey: string;

  constructor(featureNames: readonly string[], outputName: string) {
    this.featureKeys = featureNames.map((n, i) => `${i ? ',' : ''}${JSON.stringify(n)}:`);
    this.outputKey = `${JSON.stringify(outputName)}:`;
  }

  encode(r: WindowResult): string {
    let features = '';
    for (let i = 0; i < this.featureKeys.length; i++) features += this.featureKeys[i] + float64ToJson(r.features[i]);
    let score: string;
    if (r.scores.length === 1) score = float32ToJson(r.scores[0]);
    else score = `[${Array.from(r.scores, float32ToJson).join(',')}]`;
    return (
      `{"key":${JSON.stringify(r.key)},"windowStart":${r.windowStartMs},"windowEnd":${r.windowEndMs},` +
      `"events":${r.events},"features":{${features}},${this.outputKey}${score},"revision":${r.revision}}`
    );
  }
}

/** A fired session whose identity changed: {"key","windowStart","windowEnd","retracted":true,"revision"} */
export function encodeRetraction(key: string, windowStartMs: number, windowEndMs: number, revision: number): string {
  return `{"key":${JSON.stringify(key)},"windowStart":${windowStartMs},"windowEnd":${windowEndMs},"retracted":true,"revision":${revision}}`;
}

const encodeSource = (s: SourcePosition) => `{"topic":${JSON.stringify(s.topic)},"partition":${s.partition},"offset":${JSON.stringify(s.offset)}}`;

/** `eventJson` is the original event re-serialized (JSON.stringify of what was parsed). */
export function encodeLate(lateByMs: number, windowEndMs: number, source: SourcePosition, eventJson: string): string {
  return `{"reason":"late","lateByMs":${lateByMs},"windowEnd":${windowEndMs},"source":${encodeSource(source)},"event":${eventJson}}`;
}

/** model-timeout: a fired window whose model call timed out (model.onTimeout: dead-letter). */
export type DeadLetterReason = 'decode' | 'missing-key' | 'bad-timestamp' | 'bad-field' | 'too-large' | 'model-timeout';

/** Original text is cut at 64 KiB, as SPEC §5 says. */
export const DEAD_LETTER_VALUE_MAX_CHARS = 64 * 1024;

/** `source` null: not one input record (a window whose scoring timed out). */
export function encodeDeadLetter(reason: DeadLetterReason, detail: string, source: SourcePosition | null, value: string): string {
  const cut = value.length > DEAD_LETTER_VALUE_MAX_CHARS ? value.slice(0, DEAD_LETTER_VALUE_MAX_CHARS) : value;
  return `{"reason":"${reason}","detail":${JSON.stringify(detail)},"source":${source ? encodeSource(source) : 'null'},"value":${JSON.stringify(cut)}}`;
}
