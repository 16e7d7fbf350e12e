// `sluice score --model m.json --input rows.csv --output -` (SPEC §3): batch-score CSV rows.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parse } from 'csv-parse';
import { SluiceError } from '../errors';
import { loadModel } from '../scoring/load-model';
import type { Model } from '../scoring/model';
import { formatG } from './format';

export interface ScoreOptions {
  model: string;
  input: string; // path or '-'
  output: string; // path or '-'
}

/** Rows per model call: large enough to amortize the call, small enough to stream. */
const BATCH_ROWS = 4096;

const csvError = (file: string, message: string) => new SluiceError('SLUICE_CSV_INVALID', `${file}: ${message}`);

/** Maps header cells to model inputs: by name when the model has names, else by position. */
export function columnMapping(header: string[], model: Model, file: string): number[] {
  const names = header.map((h) => h.trim());
  if (model.featureNames) {
    const want = model.featureNames;
    const unknown = names.filter((n) => !want.includes(n));
    if (unknown.length > 0) {
      throw csvError(file, `line 1: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => JSON.stringify(u)).join(', ')}; the model's features are ${want.join(', ')}`);
    }
    const missing = want.filter((n) => !names.includes(n));
    if (missing.length > 0) throw csvError(file, `line 1: missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw csvError(file, `line 1: column ${JSON.stringify(dup)} appears twice`);
    return want.map((n) => names.indexOf(n));
  }
  if (names.length !== model.numFeatures) {
    throw csvError(file, `line 1: expected ${model.numFeatures} columns (the model has ${model.numFeatures} features and no feature names, so columns match by position), got ${names.length}`);
  }
  return names.map((_, i) => i);
}

/** Parses one cell: empty = missing (NaN); anything else must be a number. */
export function parseCell(cell: string, file: string, line: number, column: string): number {
  const s = cell.trim();
  if (s === '') return NaN;
  const v = Number(s);
  if (Number.isNaN(v) || s === 'Infinity' || s === '-Infinity' || /^0[xob]/i.test(s)) {
    throw csvError(file, `line ${line}: column ${JSON.stringify(column)}: expected a number or an empty cell, got ${JSON.stringify(cell)}`);
  }
  return v;
}

export async function score(opts: ScoreOptions): Promise<void> {
  const model = await loadModel(opts.model);
  const inputName = opts.input === '-' ? '<stdin>' : opts.input;
  const input = opts.input === '-' ? process.stdin : createReadStream(opts.input);
  const output = opts.output === '-' ? process.stdout : createWriteStream(opts.output);
  const outputDone = opts.output === '-' ? Promise.resolve() : once(output, 'finish');
  const readFailed = new Promise<never>((_, reject) =>
    input.once('error', (e: NodeJS.ErrnoException) => reject(csvError(inputName, `cannot read the file (${e.code ?? e.message})`))),
  );
  const parser = input.pipe(parse({ relax_column_count: true, skip_empty_lines: true, info: true }));

  const F = model.numFeatures;
  const rows = new Float32Array(BATCH_ROWS * F);
  let n = 0;
  let mapping: number[] | null = null;
  let header: string[] = [];
  const flush = async () => {
    if (n === 0) return;
    const out = model.predictSync ? model.predictSync(rows, n) : await model.predict(rows, n);
    const k = model.numOutputs;
    const lines: string[] = [];
    for (let r = 0; r < n; r++) {
      const cells: string[] = [];
      for (let j = 0; j < k; j++) cells.push(formatG(out[r * k + j]));
      lines.push(cells.join(','));
    }
    if (!output.write(lines.join('\n') + '\n')) await once(output, 'drain');
    n = 0;
  };

  const consume = async () => {
    for await (const rec of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const line = rec.info.lines;
      if (mapping === null) {
        header = rec.record;
        mapping = columnMapping(header, model, inputName);
        continue;
      }
      if (rec.record.length !== header.length) {
        throw csvError(inputName, `line ${line}: expected ${header.length} cells (as the header has), got ${rec.record.length}`);
      }
      for (let j = 0; j < F; j++) {
        const c = mapping[j];
        rows[n * F + j] = parseCell(rec.record[c], inputName, line, header[c]);
      }
      if (++n === BATCH_ROWS) await flush();
    }
    if (mapping === null) throw csvError(inputName, 'line 1: expected a header row of feature names, the input is empty');
    await flush();
  };
  try {
    await Promise.race([consume(), readFailed]);
  } catch (e) {
    if (e instanceof Error && (e as { code?: string }).code?.startsWith('CSV_')) {
      throw csvError(inputName, `not valid CSV: ${e.message}`);
    }
    throw e;
  } finally {
    if (output !== process.stdout) output.end();
  }
  await outputDone;
}
