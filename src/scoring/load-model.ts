// loadModel (SPEC §8): XGBoost or ONNX, chosen by the file name, or by `opts.format`.
import * as fs from 'node:fs';
import { modelError, overMaxBytes } from '../errors';
import type { LoadModelOptions, Model } from './model';
import { XGBoostModel } from './xgboost/xgboost-model';

/** A model file's format by its name: .onnx is ONNX, anything else XGBoost (SPEC §4). */
export const formatOf = (path: string): 'xgboost' | 'onnx' => (path.toLowerCase().endsWith('.onnx') ? 'onnx' : 'xgboost');

export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<Model> {
  if (typeof path !== 'string' || path === '') throw modelError(String(path), 'expected a model file path');
  const bytes = fs.statSync(path, { throwIfNoEntry: false })?.size ?? 0; // a missing file: the loader says so
  if (opts.maxBytes !== undefined && bytes > opts.maxBytes) {
    throw overMaxBytes(path, `${bytes.toLocaleString('en-US')} bytes`, opts.maxBytes, 'model.maxBytes');
  }
  const format = opts.format ?? formatOf(path);
  if (format === 'onnx') {
    // Imported lazily: onnxruntime-node loads a large native library, which XGBoost-only jobs and
    // their workers should not pay for.
    const { OnnxModel } = await import('./onnx/onnx-model');
    return OnnxModel.load(path);
  }
  return XGBoostModel.load(path);
}

const cached = new Map<string, Promise<Model>>();

/** One model per file and thread, loaded on first use and kept (workers). */
export function cachedModel(path: string, type: 'xgboost' | 'onnx'): Promise<Model> {
  let m = cached.get(path);
  if (!m) {
    m = loadModel(path, { format: type });
    cached.set(path, m);
    m.catch(() => cached.delete(path)); // a failed load is retried next time
  }
  return m;
}
