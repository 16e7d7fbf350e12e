// Types of the addon's record binding (native/records/). Only src/native/index.ts loads the addon;
// src/records/program.ts is the caller.

/** The EncodedRecords columns the addon writes into (src/records/encoded.ts). */
export interface RecordOutput {
  values: Uint8Array;
  valueEnd: Int32Array;
  keys: Uint8Array;
  keyEnd: Int32Array;
  keyHash: Int32Array;
  flags: Uint8Array;
}

/** RecordOutput with timestamps: what gatherRecords reads from and writes to. */
export interface RecordColumns extends RecordOutput {
  timestampMs: Float64Array;
}

export type RecordColumn = Float64Array | Float32Array | Int32Array | Uint8Array;

/** The columns fired results are ordered by (src/state/output.ts). */
export interface ResultSortColumns {
  step: Float64Array;
  phase: Uint8Array;
  sortEndMs: Float64Array;
  keyId: Int32Array;
  sub: Int32Array;
}

export interface RecordsBinding {
  /**
   * [sync] The values as float32ToJson (src/records/number.ts) writes each, joined by commas
   * (NaN and ±Infinity as null): sluice serve's answers.
   * @throw TypeError (SLUICE_RUNTIME) unless values is a Float32Array.
   */
  float32ListJson(values: Float32Array): string;
  /**
   * [sync] Runs record programs (native/records/record_program.h) over rows. cursor is
   * [row, rowEnd, recordOut, valuesAt, keysAt]: rows from `row` to rowEnd (kinds[row] picks the
   * program, 255 skips the row; kinds null: program 0) become records from recordOut on, their
   * values written from valuesAt, their Kafka keys from keysAt; the cursor advances. Stops between
   * rows when `out` has no room for the next one: grow it and call again.
   * @throw TypeError (SLUICE_RUNTIME) on a bad program, a short column or an unknown key id.
   */
  encodeRecords(programs: Int32Array[], literals: Uint8Array, columns: RecordColumn[], kinds: Uint8Array | null, keyIndex: Int32Array, keyBytes: Uint8Array, out: RecordOutput, cursor: Int32Array): void;
  /**
   * [sync] Appends record row[i] of sources[source[i]] for i in [cursor[0], cursor[1]) to out
   * (value, key, hash, HasKey, timestamp); cursor is [i, n, recordOut, valuesAt, keysAt] and
   * advances. Stops between records when out has no room: grow it and call again.
   * @throw TypeError (SLUICE_RUNTIME) on a record that is not in its source.
   */
  gatherRecords(sources: RecordColumns[], source: Int32Array, row: Int32Array, out: RecordColumns, cursor: Int32Array): void;
  /**
   * [sync] Output order (SPEC §6) of `count` fired results: by step, phase, sortEndMs, key (as
   * JavaScript orders the names in the key table), sub. Writes the row indices into order.
   * @throw TypeError (SLUICE_RUNTIME) on short columns or a key id not in the table.
   */
  sortResults(rows: ResultSortColumns, count: number, keyIndex: Int32Array, keyBytes: Uint8Array, order: Int32Array): void;
  /**
   * [sync] Merges runs of results, each in output order, into one: (run[i], row[i]) for i below the
   * count returned.
   * @throw TypeError (SLUICE_RUNTIME) on short columns or out arrays, or a key id not in the table.
   */
  mergeResults(runs: Array<ResultSortColumns & { count: number }>, keyIndex: Int32Array, keyBytes: Uint8Array, run: Int32Array, row: Int32Array): number;
}
