// Inputs and figures several suites share: the XGBoost bench models and rows, medians, trial order.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchContext } from './harness';

/** The row width make_bench_models.py gives both models and rows.f32. */
export const BENCH_FEATURES = 32;
export const BENCH_MODELS = [
  { file: 'd6x100.json', label: 'depth 6 x 100 trees' },
  { file: 'd8x500.json', label: 'depth 8 x 500 trees' },
];
export const BENCH_ROWS_FILE = 'rows.f32';
/** 100 trees of depth 6 over the example job's seven features (SPEC §9 pipeline goal). */
export const PIPELINE_MODEL = 'pipeline-d6x100.json';
/** The reload bench's new version: 500 trees, depth 8, the same features. */
export const PIPELINE_RELOAD_MODEL = 'pipeline-d8x500.json';
/** 100 trees of depth 6 over the per-event example's seven features (SPEC §9 per-event goal). */
export const PER_EVENT_MODEL = 'per-event-d6x100.json';

/** Makes the bench models and rows in the cache with Debian's xgboost, unless they are there. */
export function ensureBenchModels(ctx: BenchContext): void {
  const needed = [...BENCH_MODELS.map((m) => m.file), BENCH_ROWS_FILE, PIPELINE_MODEL, PIPELINE_RELOAD_MODEL, PER_EVENT_MODEL];
  if (needed.every((f) => fs.existsSync(path.join(ctx.cacheDir, f)))) return;
  const script = path.join(ctx.rootDir, 'bench', 'models', 'make_bench_models.py');
  if (!fs.existsSync(script)) throw new Error(`${script} is missing; it generates ${needed.join(', ')}`);
  ctx.progress('making models (python3 + xgboost, about a minute)', 0, 1);
  // The script's chatter goes to our stderr so stdout stays the table.
  const result = spawnSync('/usr/bin/python3', [script, ctx.cacheDir], { stdio: ['ignore', 2, 2] });
  if (result.error) throw new Error(`could not run /usr/bin/python3 ${script}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`/usr/bin/python3 ${script} exited with ${result.status ?? result.signal}`);
  const stillMissing = needed.filter((f) => !fs.existsSync(path.join(ctx.cacheDir, f)));
  if (stillMissing.length > 0) throw new Error(`${script} did not write ${stillMissing.join(', ')}`);
}

/** Compiles one C file of the bench (with `libs`, e.g. -lrdkafka) into the cache, unless the
 *  binary there is newer than its source. Returns the binary, or why it could not be had. */
export function compileC(ctx: BenchContext, source: string, libs: string[], needs: string): { exe: string } | { skipped: string } {
  const exe = path.join(ctx.cacheDir, path.basename(source, '.c'));
  if (fs.existsSync(exe) && fs.statSync(exe).mtimeMs >= fs.statSync(source).mtimeMs) return { exe };
  ctx.progress(`compiling ${path.relative(ctx.rootDir, source)}`, 0, 1);
  fs.mkdirSync(ctx.cacheDir, { recursive: true });
  const result = spawnSync('cc', ['-O2', '-o', exe, source, ...libs], { encoding: 'utf8' });
  if (result.error) return { skipped: `cannot run cc: ${result.error.message}` };
  if (result.status !== 0) return { skipped: `cc failed (is ${needs} installed?): ${firstLines(result.stderr, 3)}` };
  return { exe };
}

export function firstLines(text: string, n: number): string {
  return text.trim().split('\n').slice(0, n).join(' | ');
}

/** The first nRows rows of a raw little-endian float32 file, BENCH_FEATURES wide. */
export function readRows(file: string, nRows: number): Float32Array {
  if (os.endianness() !== 'LE') throw new Error('the bench rows file is little-endian; this host is not');
  const bytes = fs.readFileSync(file);
  const rowBytes = BENCH_FEATURES * Float32Array.BYTES_PER_ELEMENT;
  if (bytes.byteLength % rowBytes !== 0 || bytes.byteLength / rowBytes < nRows) {
    throw new Error(`${file}: ${bytes.byteLength} bytes is not at least ${nRows} rows of ${BENCH_FEATURES} float32`);
  }
  // Copied into its own buffer: a Buffer's offset in Node's pool need not be 4-byte aligned.
  const rows = new Float32Array(nRows * BENCH_FEATURES);
  new Uint8Array(rows.buffer).set(bytes.subarray(0, nRows * rowBytes));
  return rows;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `trials` rounds of `steps`, in reverse order every other round, so that a noisy neighbour's
 *  phase favours none of them. */
export async function alternating(ctx: BenchContext, label: string, trials: number, steps: Array<(trial: number) => Promise<void>>): Promise<void> {
  for (let t = 0; t < trials; t++) {
    ctx.progress(`${label} ${t + 1}/${trials}`, t, trials);
    for (const step of t % 2 === 1 ? [...steps].reverse() : steps) await step(t);
  }
}
