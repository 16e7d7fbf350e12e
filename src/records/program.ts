// Record layouts (src/records/records.ts) compiled into programs that the addon runs over columns
// (native/records/): the text of every result record is made natively, on the worker that fired
// it, from the same layout the JS encoder reads. EncodedRecordsBuilder.encode runs them.
import type { RecordPart } from './records';

/** Op codes: native/records/record_program.h. */
const enum Op {
  End = 0,
  Literal = 1,
  Float64 = 2,
  Float32List = 4,
  Int32 = 5,
  KeyJson = 6,
  KafkaKey = 7,
  KeyLiteral = 8,
  KeyFloat64 = 9,
  Text = 10,
}

/** Where a layout's values are among the columns of a call: a column index, and for the
 *  row-major ones (features, scores) how many values a row has. */
export interface ColumnMap {
  numbers: Partial<Record<'windowStartMs' | 'windowEndMs' | 'events' | 'revision', { column: number; type: 'f64' | 'i32' }>>;
  features?: { column: number; perRow: number };
  scores?: { column: number; perRow: number };
  /** The Int32 column of key ids. */
  keyId: number;
  /** Texts: row r's is text index[r] of the ends (Int32) and bytes (Uint8) columns. */
  eventId?: { index: number; ends: number; bytes: number };
}

/** Programs that share one literal pool (one encodeRecords call runs any of them). */
export class RecordPrograms {
  readonly programs: Int32Array[] = [];
  private pool = '';
  private literalBytes: Uint8Array | null = null;

  /** Compiles a record's value layout and its Kafka key's (parts: key, text, numbers); returns the
   *  program's index (a row's kind). */
  add(value: readonly RecordPart[], kafkaKey: readonly RecordPart[], columns: ColumnMap): number {
    const ops: number[] = [];
    const op = (code: Op, a = 0, b = 0, c = 0) => ops.push(code, a, b, c);
    for (const p of value) {
      if ('text' in p) op(Op.Literal, ...this.literal(p.text));
      else if ('key' in p) op(Op.KeyJson, columns.keyId);
      else if ('eventId' in p) op(Op.Text, need(columns.eventId, 'eventId').index, columns.eventId!.ends, columns.eventId!.bytes);
      else if ('feature' in p) op(Op.Float64, need(columns.features, 'features').column, p.feature, columns.features!.perRow);
      else if ('scores' in p) op(Op.Float32List, need(columns.scores, 'scores').column, columns.scores!.perRow, columns.scores!.perRow);
      else {
        const n = need(columns.numbers[p.number], p.number);
        op(n.type === 'f64' ? Op.Float64 : Op.Int32, n.column, 0, 1);
      }
    }
    for (const p of kafkaKey) {
      if ('text' in p) op(Op.KeyLiteral, ...this.literal(p.text));
      else if ('key' in p) op(Op.KafkaKey, columns.keyId);
      else if ('number' in p && columns.numbers[p.number]?.type === 'f64') op(Op.KeyFloat64, columns.numbers[p.number]!.column, 0, 1);
      else throw new Error(`a Kafka key cannot hold ${JSON.stringify(p)}`);
    }
    op(Op.End);
    this.programs.push(Int32Array.from(ops));
    this.literalBytes = null;
    return this.programs.length - 1;
  }

  get literals(): Uint8Array {
    return (this.literalBytes ??= Buffer.from(this.pool, 'utf8'));
  }

  /** [byte offset, byte length] of text in the pool. */
  private literal(text: string): [number, number] {
    let at = this.pool.indexOf(text);
    if (at < 0) {
      at = this.pool.length;
      this.pool += text;
    }
    return [Buffer.byteLength(this.pool.slice(0, at)), Buffer.byteLength(text)];
  }
}

function need<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`record program: the layout needs ${what}, which the columns do not have`);
  return x;
}
