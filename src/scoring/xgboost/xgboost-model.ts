// An XGBoost model: parse the file (JSON or UBJSON) in TypeScript, hand flat arrays to the addon.
import { readFile } from 'node:fs/promises';
import { modelError, SluiceError } from '../../errors';
import { native } from '../../native';
import type { NativeForest } from '../../native/xgboost';
import { checkRows, type Model } from '../model';
import { readModel, SchemaError, type ParsedModel } from './schema';
import { decodeUbjson, UbjsonError } from './ubjson';

/** Model files larger than this are refused before parsing (the largest real ones are ~1 GB). */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;

export class XGBoostModel implements Model {
  readonly numFeatures: number;
  readonly numOutputs: number;
  readonly numGroups: number;
  readonly featureNames?: string[];
  readonly objective: string;
  readonly booster: 'gbtree' | 'dart';

  private constructor(
    readonly path: string,
    parsed: ParsedModel,
    private readonly forest: NativeForest,
  ) {
    this.numFeatures = forest.numFeatures;
    this.numOutputs = forest.numOutputs;
    this.numGroups = forest.numGroups;
    this.featureNames = parsed.featureNames;
    this.objective = parsed.objective;
    this.booster = parsed.booster;
  }

  static async load(path: string): Promise<XGBoostModel> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw modelError(path, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, e);
    }
    return XGBoostModel.fromBytes(path, bytes);
  }

  /** `path` names the source in error messages. */
  static fromBytes(path: string, bytes: Uint8Array): XGBoostModel {
    const doc = parseDocument(path, bytes);
    let parsed: ParsedModel;
    try {
      parsed = readModel(doc);
    } catch (e) {
      if (e instanceof SchemaError) throw modelError(path, `not a valid XGBoost model: ${e.message}`, e);
      throw e;
    }
    let forest: NativeForest;
    try {
      forest = new native.XgbForest(parsed.spec);
    } catch (e) {
      throw modelError(path, `not a valid XGBoost model: ${(e as Error).message}`, e);
    }
    return new XGBoostModel(path, parsed, forest);
  }

  predictSync(rows: Float32Array, nRows: number): Float32Array {
    return this.forest.predict(rows, checkRows(this.path, this.numFeatures, rows, nRows));
  }

  /** Like predictSync, writing into `out` (nRows x numOutputs), e.g. a SharedArrayBuffer view. */
  predictInto(rows: Float32Array, nRows: number, out: Float32Array): Float32Array {
    return this.forest.predict(rows, checkRows(this.path, this.numFeatures, rows, nRows), out);
  }

  /** Raw margins (nRows x numGroups), before the objective's transform. */
  predictMargin(rows: Float32Array, nRows: number): Float32Array {
    return this.forest.predictMargin(rows, checkRows(this.path, this.numFeatures, rows, nRows));
  }

  async predict(rows: Float32Array, nRows: number): Promise<Float32Array> {
    return this.predictSync(rows, nRows);
  }
}

/** NaN -> null (read back as NaN in float arrays), ±Infinity -> ±1e999, outside strings only. */
export function replaceNonFiniteWords(text: string): string {
  const out: string[] = [];
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x4e && text.startsWith('NaN', i)) {
      out.push(text.slice(from, i), 'null');
      from = i += 3;
      i--;
    } else if (c === 0x49 && text.startsWith('Infinity', i)) {
      out.push(text.slice(from, i), '1e999');
      from = i += 8;
      i--;
    }
  }
  out.push(text.slice(from));
  return out.join('');
}

function parseDocument(path: string, bytes: Uint8Array): unknown {
  if (bytes.length > MAX_MODEL_BYTES) throw modelError(path, `the file is ${bytes.length} bytes, more than the ${MAX_MODEL_BYTES} allowed`);
  if (bytes.length === 0) throw modelError(path, 'the file is empty');
  // JSON models start with '{' (maybe after whitespace); UBJSON ones with the '{' marker too, but
  // then a length marker byte, never whitespace or a quote.
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  const looksJson = bytes[i] === 0x7b && (i + 1 >= bytes.length || [0x22, 0x20, 0x0a, 0x0d, 0x09, 0x7d].includes(bytes[i + 1]));
  if (looksJson) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (e) {
      // XGBoost writes NaN (categorical splits' conditions) and Infinity as bare words.
      try {
        return JSON.parse(replaceNonFiniteWords(text));
      } catch {
        throw modelError(path, `not valid JSON: ${(e as Error).message}`, e);
      }
    }
  }
  if (bytes[i] !== 0x7b) throw modelError(path, 'not an XGBoost model: expected a JSON or UBJSON object');
  try {
    return decodeUbjson(bytes);
  } catch (e) {
    if (e instanceof UbjsonError || e instanceof RangeError) throw modelError(path, `not valid UBJSON: ${(e as Error).message}`, e);
    throw e;
  }
}
