// The Open Inference Protocol v2 infer request (SPEC §14), read into float32 rows, and its answer.
// A request is either one input of shape [N, F] (any name), or one input per feature name of shape
// [N] or [N, 1]; `data` flat (row-major) or nested as the shape; null is a missing value (NaN).
// The body is parsed by the addon (src/native/json.ts; small bodies by JSON.parse): a numeric
// array arrives as a Float64Array, null as NaN; a plain array is checked value by value. The
// answer's numbers are written by the addon too.
import { native } from '../native';

/** An error answer: the status and the one line the client gets as {"error": ...}. */
export class ServeError extends Error {
  constructor(
    readonly status: 400 | 404 | 408 | 413 | 429 | 500 | 503 | 504,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new ServeError(400, message);

/** What a model takes: its width (null: any, a remote model's) and its input names, if known. */
export interface InputShape {
  width: number | null;
  featureNames?: readonly string[];
}

export interface InferRequest {
  id?: string;
  /** The variant key: parameters.key (the x-sluice-key header wins). */
  key?: string;
  rows: Float32Array;
  nRows: number;
  width: number;
}

/** Integer datatypes and their ranges; FP16 is not taken (no float16 in JSON clients). */
const INT_RANGES: Record<string, [number, number]> = {
  INT8: [-(2 ** 7), 2 ** 7 - 1],
  INT16: [-(2 ** 15), 2 ** 15 - 1],
  INT32: [-(2 ** 31), 2 ** 31 - 1],
  INT64: [-(2 ** 63), 2 ** 63],
  UINT8: [0, 2 ** 8 - 1],
  UINT16: [0, 2 ** 16 - 1],
  UINT32: [0, 2 ** 32 - 1],
  UINT64: [0, 2 ** 64],
};
const DATATYPES = ['FP32', 'FP64', ...Object.keys(INT_RANGES)];

type Data = Float64Array | unknown[];

interface Tensor {
  name: string;
  shape: number[];
  datatype: string;
  data: Data;
  at: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** Below this many bytes V8's JSON.parse is the faster (5 against 8 µs for a 1-row request):
 *  the addon's parser pays for its typed arrays, and wins once there are a few hundred numbers. */
const SMALL_BODY_BYTES = 1024;
/** Deeper JSON is refused before it is built: an infer request nests four levels. */
const MAX_JSON_DEPTH = 64;

/** The body as JSON (numeric arrays as Float64Arrays when the addon parsed it); a 400 if it is not. */
export function parseInferBody(body: Buffer): unknown {
  try {
    return body.length < SMALL_BODY_BYTES ? JSON.parse(body.toString()) : native.parseJsonNumeric(body, MAX_JSON_DEPTH);
  } catch (e) {
    if (!(e instanceof SyntaxError) && (e as { code?: string }).code !== 'SLUICE_JSON_INVALID') throw e;
    throw badRequest(`the body is not JSON: ${(e as Error).message}`);
  }
}

/** What one request may hold: rows (more is a 413), and values (its body's bytes bound them). */
export interface InferLimits {
  maxRows: number;
  maxValues: number;
}

/** The request's rows for a model of `shape`; a ServeError (400, or 413) says what is wrong. */
export function readInferRequest(doc: unknown, shape: InputShape, limits: InferLimits): InferRequest {
  if (!isObject(doc)) throw badRequest('the body must be a JSON object with "inputs"');
  const id = doc.id;
  if (id !== undefined && typeof id !== 'string') throw badRequest('id: expected a string');
  const params = doc.parameters;
  if (params !== undefined && !isObject(params)) throw badRequest('parameters: expected an object');
  const key = params?.key;
  if (key !== undefined && typeof key !== 'string') throw badRequest('parameters.key: expected a string');
  const inputs = doc.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest('inputs: expected a non-empty list of tensors ({"name","shape","datatype","data"})');
  const tensors = inputs.map((t, i) => readTensor(t, `inputs[${i}]`, limits));
  const out = tensors.length === 1 && tensors[0].shape.length === 2 && (shape.width === null || tensors[0].shape[1] === shape.width) ? matrix(tensors[0]) : byName(tensors, shape);
  return { ...(id === undefined ? {} : { id }), ...(key === undefined ? {} : { key }), ...out };
}

function readTensor(t: unknown, at: string, limits: InferLimits): Tensor {
  if (!isObject(t)) throw badRequest(`${at}: expected a tensor ({"name","shape","datatype","data"})`);
  const { name, shape, datatype, data } = t;
  if (typeof name !== 'string') throw badRequest(`${at}.name: expected a string`);
  if (typeof datatype !== 'string' || !DATATYPES.includes(datatype)) throw badRequest(`${at}.datatype: expected one of ${DATATYPES.join(', ')}, got ${JSON.stringify(datatype) ?? 'nothing'}`);
  const dims = ArrayBuffer.isView(shape) ? Array.from(shape as Float64Array) : shape;
  if (!Array.isArray(dims) || dims.length < 1 || dims.length > 2 || !dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw badRequest(`${at}.shape: expected [N, F] or [N] (non-negative integers), got ${JSON.stringify(dims) ?? 'nothing'}`);
  }
  if (!(data instanceof Float64Array) && !Array.isArray(data)) throw badRequest(`${at}.data: expected a list of numbers (flat or nested as the shape)`);
  const [n, width = 1] = dims as number[];
  // Checked before rows are allocated for the shape: a shape is the client's word.
  if (n > limits.maxRows) throw new ServeError(413, `${n} rows in one request; batching.maxQueueRows is ${limits.maxRows}: split the request`);
  if (n * width > limits.maxValues) throw badRequest(`${at}.shape: [${dims.join(', ')}] is ${n * width} values, more than the body holds`);
  return { name, shape: dims as number[], datatype, data, at };
}

/** One [N, F] input. */
function matrix(t: Tensor): Omit<InferRequest, 'id' | 'key'> {
  const [n, width] = t.shape;
  const rows = new Float32Array(n * width);
  fill(t, rows, 0, 1);
  return { rows, nRows: n, width };
}

/** One [N] or [N, 1] input per feature name: every name once, columns in the model's order. */
function byName(tensors: Tensor[], shape: InputShape): Omit<InferRequest, 'id' | 'key'> {
  const names = shape.featureNames && shape.featureNames.length > 0 ? shape.featureNames : shape.width === null ? null : Array.from({ length: shape.width }, (_, i) => `f${i}`);
  if (names === null) throw badRequest('this model takes any width: send one input of shape [N, F]');
  const width = names.length;
  if (tensors.length === 1) {
    const t = tensors[0];
    if (t.shape.length === 2 && t.shape[1] !== 1) throw badRequest(`${t.at}.shape: [${t.shape.join(', ')}], but the model takes ${width} features: [N, ${width}] (or one input per feature name, of shape [N])`);
  }
  const n = tensors[0].shape[0];
  const rows = new Float32Array(n * width);
  const seen = new Set<string>();
  for (const t of tensors) {
    const column = names.indexOf(t.name);
    if (column < 0) throw badRequest(`${t.at}.name: ${JSON.stringify(t.name)} is not an input of the model (${names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, ...`}); or send one input of shape [N, ${width}]`);
    if (seen.has(t.name)) throw badRequest(`${t.at}.name: ${JSON.stringify(t.name)} is given twice`);
    seen.add(t.name);
    if (t.shape[0] !== n || (t.shape.length === 2 && t.shape[1] !== 1)) throw badRequest(`${t.at}.shape: expected [${n}] or [${n}, 1] (as inputs[0]), got [${t.shape.join(', ')}]`);
    fill(t, rows, column, width);
  }
  if (seen.size !== width) throw badRequest(`inputs: missing ${names.filter((x) => !seen.has(x)).slice(0, 8).join(', ')}; the model takes ${width} inputs`);
  return { rows, nRows: n, width };
}

/**
 * Writes t's values into rows at column, column + stride, ... (stride 1: the whole matrix). The
 * data is flat (as many values as the shape) or nested as the shape.
 */
function fill(t: Tensor, rows: Float32Array, column: number, stride: number): void {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const range = INT_RANGES[t.datatype];
  let at = 0;
  const put = (v: number, where: () => string) => {
    if (range && !Number.isNaN(v) && (!Number.isInteger(v) || v < range[0] || v > range[1])) throw badRequest(`${where()}: ${v} is not a ${t.datatype}`);
    rows[column + at * stride] = v;
    at++;
  };
  const flat = (d: Data, where: (i: number) => string) => {
    if (d instanceof Float64Array) {
      if (stride === 1 && !range) {
        // The common case, FP32 or FP64 rows: one conversion to float32, no checks needed.
        rows.set(d, column + at);
        at += d.length;
      } else for (let i = 0; i < d.length; i++) put(d[i], () => where(i));
      return;
    }
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (typeof v === 'number') put(v, () => where(i));
      else if (v === null) put(NaN, () => where(i));
      else throw badRequest(`${where(i)}: expected a number or null, got ${JSON.stringify(v)?.slice(0, 40) ?? typeof v}`);
    }
  };
  const data = t.data;
  const nested = t.shape.length === 2 && data.length === t.shape[0] && count > 0 && (Array.isArray(data[0]) || ArrayBuffer.isView(data[0]));
  if (!nested) {
    if (data.length !== count) throw badRequest(`${t.at}.data: ${data.length} values for shape [${t.shape.join(', ')}] (${count}); flat data is row-major, nested data follows the shape`);
    flat(data, (i) => `${t.at}.data[${i}]`);
    return;
  }
  const [n, width] = t.shape;
  for (let i = 0; i < n; i++) {
    const row = (data as unknown[])[i];
    if (!(row instanceof Float64Array) && !Array.isArray(row)) throw badRequest(`${t.at}.data[${i}]: expected a list of ${width} numbers`);
    if (row.length !== width) throw badRequest(`${t.at}.data[${i}]: ${row.length} values; the shape [${n}, ${width}] takes ${width} per row`);
    flat(row, (j) => `${t.at}.data[${i}][${j}]`);
  }
}

/** The infer answer: scores as FP32, [N, K], flat. */
export function inferAnswer(model: string, version: string | null, id: string | undefined, output: string, scores: Float32Array, nRows: number, params?: Record<string, string>): string {
  const k = nRows === 0 ? 1 : scores.length / nRows;
  const data = native.float32ListJson(scores);
  const head = `{"model_name":${JSON.stringify(model)},"model_version":${JSON.stringify(version)}${id === undefined ? '' : `,"id":${JSON.stringify(id)}`}${params ? `,"parameters":${JSON.stringify(params)}` : ''}`;
  return `${head},"outputs":[{"name":${JSON.stringify(output)},"datatype":"FP32","shape":[${nRows},${k}],"data":[${data}]}]}`;
}
