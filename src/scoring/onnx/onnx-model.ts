// An ONNX model run by onnxruntime-node. This is the only file that imports onnxruntime-node
// (STYLE §1); loadModel reaches it through a lazy import, so XGBoost-only jobs never load it.
//
// Accepted models: exactly one input, a float32 tensor [N, F] with F fixed (N symbolic, or a
// fixed batch size B); every output a float32 tensor [N] (one value per row) or [N, K].
// predict() concatenates the outputs per row in the model's output order: with outputs
// prob [N, 3], logits [N, 3] and margin [N], numOutputs is 7 and row r's values are
// prob[r, 0..2], logits[r, 0..2], margin[r].
import { stat } from 'node:fs/promises';
import { types as utilTypes } from 'node:util';
import * as ort from 'onnxruntime-node';
import { modelError, SluiceError } from '../../errors';
import { checkRows, type Model } from '../model';

// One thread per session: sluice runs a model in every worker of its pool, and the pool is the
// parallelism. onnxruntime's own thread pools would put threads x cores busy threads on the cores.
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  // Errors only: failures reach us as exceptions; warnings would go to the job's stderr unasked.
  logSeverityLevel: 3,
};

type Shape = ReadonlyArray<number | string>;

export class OnnxModel implements Model {
  readonly numFeatures: number;
  /** Sum of the outputs' per-row widths. */
  readonly numOutputs: number;
  /** ONNX inputs are one tensor, so there are no feature names. */
  readonly featureNames: undefined = undefined;
  readonly inputName: string;
  /** The model's outputs in order, and how many values per row each gives. */
  readonly outputNames: readonly string[];
  readonly outputWidths: readonly number[];
  /** Set when the input's first dimension is a fixed number: predict runs batches of that size. */
  readonly fixedBatchSize?: number;
  private session: ort.InferenceSession | undefined;

  private constructor(readonly path: string, session: ort.InferenceSession, input: InputSpec, outputWidths: number[]) {
    this.session = session;
    this.inputName = input.name;
    this.numFeatures = input.numFeatures;
    this.fixedBatchSize = input.fixedBatchSize;
    this.outputNames = session.outputNames.slice();
    this.outputWidths = outputWidths;
    this.numOutputs = outputWidths.reduce((a, b) => a + b, 0);
  }

  /**
   * Opens the model and checks it fits (see the top of this file). The input and the output types
   * come from the session's metadata; the outputs' per-row widths from one probe run on a batch of
   * zeros, since a width the metadata does not know (shape inference gives up on some graphs) is
   * still fixed for a valid model, and the probe also proves the graph runs on the CPU provider.
   */
  static async load(path: string): Promise<OnnxModel> {
    try {
      const st = await stat(path);
      if (!st.isFile()) throw modelError(path, 'not a file');
      if (st.size === 0) throw modelError(path, 'the file is empty');
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      throw modelError(path, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, e);
    }
    let session: ort.InferenceSession;
    try {
      // By path, not bytes: a model with external data files finds them next to the model.
      session = await ort.InferenceSession.create(path, SESSION_OPTIONS);
    } catch (e) {
      const msg = ortMessage(path, e);
      if (/protobuf parsing failed/i.test(msg)) throw modelError(path, `not an ONNX model (onnxruntime: ${msg})`, e);
      throw modelError(path, `onnxruntime cannot load the model: ${msg}`, e);
    }
    try {
      const input = checkInput(path, session);
      checkOutputTypes(path, session);
      const widths = await probeWidths(path, session, input);
      return new OnnxModel(path, session, input, widths);
    } catch (e) {
      await session.release().catch(() => undefined);
      throw e;
    }
  }

  /** Resolves to nRows x numOutputs values, row-major, outputs concatenated per row. */
  async predict(rows: Float32Array, nRows: number): Promise<Float32Array> {
    checkRows(this.path, this.numFeatures, rows, nRows);
    if (nRows === 0) return new Float32Array(0);
    const batch = this.fixedBatchSize;
    if (batch === undefined) return this.runBatch(rows, nRows, nRows);
    const out = new Float32Array(nRows * this.numOutputs);
    for (let first = 0; first < nRows; first += batch) {
      const n = Math.min(batch, nRows - first);
      const chunk = rows.subarray(first * this.numFeatures, (first + n) * this.numFeatures);
      out.set(await this.runBatch(chunk, n, batch), first * this.numOutputs);
    }
    return out;
  }

  /** Frees the session; predict fails afterwards. */
  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.release();
  }

  /** Runs `nRows` rows as a batch of `batchRows` (padded with zeros), keeps the first nRows. */
  private async runBatch(rows: Float32Array, nRows: number, batchRows: number): Promise<Float32Array> {
    const session = this.session;
    if (session === undefined) throw new SluiceError('SLUICE_RUNTIME', `${this.path}: the model is closed`);
    const F = this.numFeatures;
    let data = rows.subarray(0, nRows * F);
    // onnxruntime-node refuses views of a SharedArrayBuffer ("Invalid argument"), so those are
    // copied into an ordinary buffer; so are padded batches. Plain views go in as they are.
    if (batchRows !== nRows || utilTypes.isSharedArrayBuffer(data.buffer)) {
      const copy = new Float32Array(batchRows * F);
      copy.set(data);
      data = copy;
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      // session.run is async in name only: the native run is synchronous, deferred by setImmediate,
      // so it occupies this thread while it runs. Parallelism comes from the worker pool.
      result = await session.run({ [this.inputName]: new ort.Tensor('float32', data, [batchRows, F]) });
    } catch (e) {
      throw modelError(this.path, `onnxruntime failed to run the model: ${ortMessage(this.path, e)}`, e);
    }
    const outs = this.outputNames.map((name, i) => outputValues(this.path, name, result[name], batchRows, this.outputWidths[i]));
    if (outs.length === 1) return batchRows === nRows ? outs[0] : outs[0].slice(0, nRows * this.numOutputs);
    return interleave(outs, this.outputWidths, nRows, this.numOutputs);
  }
}

interface InputSpec {
  name: string;
  numFeatures: number;
  fixedBatchSize?: number;
}

function checkInput(path: string, session: ort.InferenceSession): InputSpec {
  const inputs = session.inputMetadata;
  if (inputs.length !== 1) {
    const names = inputs.map((m) => m.name).join(', ');
    throw modelError(path, `expected exactly one input, a float32 tensor [N, F]; the model has ${inputs.length}${names ? `: ${names}` : ''}`);
  }
  const m = inputs[0];
  if (!m.isTensor) throw modelError(path, `input '${m.name}' is not a tensor; expected a float32 tensor [N, F]`);
  if (m.type !== 'float32') {
    throw modelError(path, `input '${m.name}' is ${m.type}; expected float32 (re-export the model with a float32 input, or cast inside the graph)`);
  }
  if (m.shape.length !== 2) throw modelError(path, `input '${m.name}' has shape ${formatShape(m.shape)}; expected rank 2, [N, F]`);
  const [n, f] = m.shape;
  if (typeof f !== 'number' || f < 1) {
    throw modelError(path, `input '${m.name}' has shape ${formatShape(m.shape)}; the feature count F must be a fixed number`);
  }
  if (typeof n === 'number' && n < 1) throw modelError(path, `input '${m.name}' has shape ${formatShape(m.shape)}; the batch size must not be 0`);
  return { name: m.name, numFeatures: f, fixedBatchSize: typeof n === 'number' ? n : undefined };
}

function checkOutputTypes(path: string, session: ort.InferenceSession): void {
  if (session.outputMetadata.length === 0) throw modelError(path, 'the model has no outputs');
  for (const m of session.outputMetadata) {
    if (!m.isTensor) {
      throw modelError(path, `output '${m.name}' is not a tensor (a map or sequence, like sklearn-onnx's ZipMap); every output must be a float32 tensor`);
    }
    if (m.type !== 'float32') {
      throw modelError(path, `output '${m.name}' is ${m.type}; every output must be float32 (drop it from the graph's outputs or cast it)`);
    }
    // An empty shape is "unknown" as well as "scalar"; the probe tells which.
    if (m.shape.length > 2) throw modelError(path, `output '${m.name}' has shape ${formatShape(m.shape)}; expected [N] or [N, K]`);
  }
}

/** Runs one batch of zeros (1 row, or the fixed batch size) and reads each output's per-row width. */
async function probeWidths(path: string, session: ort.InferenceSession, input: InputSpec): Promise<number[]> {
  const n = input.fixedBatchSize ?? 1;
  let result: ort.InferenceSession.ReturnType;
  try {
    result = await session.run({ [input.name]: new ort.Tensor('float32', new Float32Array(n * input.numFeatures), [n, input.numFeatures]) });
  } catch (e) {
    throw modelError(path, `onnxruntime cannot run the model on a batch of zeros: ${ortMessage(path, e)}`, e);
  }
  return session.outputMetadata.map((m) => {
    const dims = result[m.name].dims;
    const declared = m.isTensor ? m.shape : [];
    const what = `output '${m.name}' (declared ${formatShape(declared)})`;
    if (dims.length < 1 || dims.length > 2 || dims[0] !== n) {
      throw modelError(path, `${what} gave shape ${formatShape(dims)} for ${n} input row(s); expected [${n}] or [${n}, K]`);
    }
    const width = dims.length === 2 ? dims[1] : 1;
    if (declared.length === 2 && typeof declared[1] === 'number' && declared[1] !== width) {
      throw modelError(path, `${what} gave shape ${formatShape(dims)}; its declared width does not match`);
    }
    if (width < 1) throw modelError(path, `${what} gave shape ${formatShape(dims)}; expected at least one value per row`);
    return width;
  });
}

/** The output's values, checked to be [batchRows] or [batchRows, width] float32. */
function outputValues(path: string, name: string, t: ort.OnnxValue | undefined, batchRows: number, width: number): Float32Array {
  const dims = t?.dims ?? [];
  const ok = dims[0] === batchRows && (dims.length === 1 ? width === 1 : dims.length === 2 && dims[1] === width);
  if (!t || !(t.data instanceof Float32Array) || !ok) {
    throw modelError(path, `output '${name}' gave shape ${formatShape(dims)} for ${batchRows} rows; expected [${batchRows}, ${width}] float32`);
  }
  return t.data;
}

/** Row r of the result is outs[0] row r, then outs[1] row r, ... */
function interleave(outs: Float32Array[], widths: readonly number[], nRows: number, numOutputs: number): Float32Array {
  const out = new Float32Array(nRows * numOutputs);
  let col = 0;
  for (let o = 0; o < outs.length; o++) {
    const src = outs[o];
    const w = widths[o];
    for (let r = 0; r < nRows; r++) {
      const to = r * numOutputs + col;
      for (let k = 0; k < w; k++) out[to + k] = src[r * w + k];
    }
    col += w;
  }
  return out;
}

const formatShape = (shape: Shape) => `[${shape.map((d) => (d === '' ? '?' : d)).join(', ')}]`;

/** onnxruntime's message on one line, without its "Load model from <path> failed:" prefix. */
function ortMessage(path: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg
    .replace(`Load model from ${path} failed:`, '')
    .replace(/\s+/g, ' ')
    .trim();
}
