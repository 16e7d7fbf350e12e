// SPEC §9, the XGBoost evaluator: our single-thread rows/s against Debian's libxgboost on one
// thread, on the same models and rows in the same run, plus the parity of the two predictions
// (SPEC §6: within 1e-5 x max(1, |reference|)).
//
// Inputs come from bench/models/make_bench_models.py into the cache; the peer is
// bench/peers/xgb_predict.c, compiled here against -lxgboost when its source changes.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BENCH_FEATURES as FEATURES, BENCH_MODELS as MODELS, BENCH_ROWS_FILE as ROWS_FILE, compileC, ensureBenchModels as ensureInputs, firstLines, median, readRows } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';

/** SPEC §6 score tolerance, relative to max(1, |reference|). */
const PARITY_TOLERANCE = 1e-5;
/** SPEC §9: median of 5 runs, batches of 10,000 rows. Quick mode only checks the suite runs. */
const FULL = { runs: 5, nRows: 10_000 };
const QUICK = { runs: 1, nRows: 2_000 };

export const xgboostSuite: Suite = {
  name: 'xgboost',
  description: 'XGBoost scoring, single thread: sluice predictSync vs libxgboost inplace predict (nthread=1)',
  run,
};

interface Timing {
  runsMs: number[];
  preds: Float32Array;
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const { runs, nRows } = ctx.quick ? QUICK : FULL;
  ensureInputs(ctx);
  const rows = readRows(path.join(ctx.cacheDir, ROWS_FILE), nRows);
  const peer = buildPeer(ctx);

  // Imported here, not at the top, so a missing addon fails this suite only, not the runner.
  const { loadModel } = await import('../../src/scoring/load-model');

  const rowsOut: BenchRow[] = [];
  const notes: string[] = [];
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-xgb-'));
  const totalSteps = MODELS.length * 2;
  let step = 0;
  let peerName = 'libxgboost';
  try {
    for (const { file, label } of MODELS) {
      const modelPath = path.join(ctx.cacheDir, file);

      ctx.progress(`${label}: libxgboost`, step++, totalSteps);
      let peerTiming: Timing | null = null;
      if ('exe' in peer) {
        const result = runPeer(peer.exe, modelPath, ctx, nRows, runs, path.join(tmpDir, `${file}.f32`));
        if ('skipped' in result) {
          notes.push(`${label}: libxgboost peer failed, so no peer figure or parity: ${result.skipped}`);
        } else {
          peerTiming = result;
          peerName = `libxgboost ${result.version}`;
        }
      }

      ctx.progress(`${label}: sluice`, step++, totalSteps);
      const model = await loadModel(modelPath);
      if (model.numFeatures !== FEATURES) {
        throw new Error(`${file} has ${model.numFeatures} features; the bench rows have ${FEATURES}`);
      }
      if (model.predictSync === undefined) {
        throw new Error(`loadModel(${file}) returned a model without predictSync; XGBoost models must have it`);
      }
      const predictSync = model.predictSync.bind(model);
      predictSync(rows, nRows); // warm-up: first-call allocations are not what we compare
      const ours: Timing = { runsMs: [], preds: new Float32Array(0) };
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        ours.preds = predictSync(rows, nRows);
        ours.runsMs.push(performance.now() - t0);
      }
      if (ours.preds.length !== nRows * model.numOutputs) {
        throw new Error(
          `${file}: predictSync returned ${ours.preds.length} values for ${nRows} rows x ${model.numOutputs} outputs`,
        );
      }

      const caseName = `${label}, ${nRows.toLocaleString('en-US')} rows`;
      rowsOut.push({
        case: caseName,
        metric: 'rows/s',
        ours: rowsPerSecond(nRows, ours.runsMs),
        peer: peerTiming === null ? null : rowsPerSecond(nRows, peerTiming.runsMs),
        peerName,
        higherIsBetter: true,
      });
      notes.push(
        `${label}: median ms sluice ${formatMs(ours.runsMs)}` +
          (peerTiming === null ? '' : `, libxgboost ${formatMs(peerTiming.runsMs)}`),
      );
      if (peerTiming !== null) notes.push(`${label}: ${parityNote(ours.preds, peerTiming.preds, nRows)}`);
    }
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
  ctx.progress('done', totalSteps, totalSteps);

  if ('skipped' in peer) notes.push(`libxgboost peer skipped: ${peer.skipped}`);
  notes.push(
    `sluice: predictSync on the main thread; ${peerName}: XGBoosterPredictFromDense (inplace), nthread=1, ` +
      `its own process (bench/peers/xgb_predict.c). Each: 1 warm-up, then ${runs} timed ` +
      `run${runs > 1 ? 's' : ''} over the same ${nRows.toLocaleString('en-US')} rows (~2% NaN); figures are medians.`,
  );
  notes.push('goal (SPEC §9): sluice rows/s >= 3x libxgboost, single thread, full (non-quick) run.');
  return { suite: 'xgboost', rows: rowsOut, notes };
}

// ---- the libxgboost peer -----------------------------------------------------------------------

function buildPeer(ctx: BenchContext): { exe: string } | { skipped: string } {
  return compileC(ctx, path.join(ctx.rootDir, 'bench', 'peers', 'xgb_predict.c'), ['-lxgboost'], 'libxgboost-dev');
}

function runPeer(
  exe: string,
  modelPath: string,
  ctx: BenchContext,
  nRows: number,
  runs: number,
  predsPath: string,
): (Timing & { version: string }) | { skipped: string } {
  const rowsPath = path.join(ctx.cacheDir, ROWS_FILE);
  const args = [modelPath, rowsPath, String(nRows), String(FEATURES), String(runs), predsPath];
  const result = spawnSync(exe, args, { encoding: 'utf8' });
  if (result.error) return { skipped: result.error.message };
  if (result.status !== 0) return { skipped: firstLines(result.stderr, 2) || `exit ${result.status ?? result.signal}` };
  const report = JSON.parse(result.stdout) as { runsMs: number[]; nRows: number; nOutputs: number; version: string };
  const bytes = fs.readFileSync(predsPath);
  const preds = new Float32Array(bytes.byteLength / Float32Array.BYTES_PER_ELEMENT);
  new Uint8Array(preds.buffer).set(bytes);
  return { runsMs: report.runsMs, preds, version: report.version };
}

// ---- figures -----------------------------------------------------------------------------------

function rowsPerSecond(nRows: number, runsMs: number[]): number {
  return nRows / (median(runsMs) / 1000);
}

/** "12.3 (12.1-12.9)": the median, then the spread, so a noisy neighbour shows. */
function formatMs(runsMs: number[]): string {
  const m = median(runsMs).toFixed(2);
  return runsMs.length < 2 ? m : `${m} (${Math.min(...runsMs).toFixed(2)}-${Math.max(...runsMs).toFixed(2)})`;
}

function parityNote(ours: Float32Array, peer: Float32Array, nRows: number): string {
  if (ours.length !== peer.length) {
    return `parity not checked: sluice gave ${ours.length} values, libxgboost ${peer.length}, for ${nRows} rows`;
  }
  let maxAbs = 0;
  let maxRel = 0;
  let worst = 0;
  for (let i = 0; i < ours.length; i++) {
    const a = ours[i];
    const b = peer[i];
    // NaN against NaN agrees; NaN against a number is an infinite miss.
    const abs = Number.isNaN(a) && Number.isNaN(b) ? 0 : Number.isNaN(a - b) ? Infinity : Math.abs(a - b);
    const rel = abs / Math.max(1, Math.abs(b));
    if (abs > maxAbs) maxAbs = abs;
    if (rel > maxRel) {
      maxRel = rel;
      worst = i;
    }
  }
  const tolerance = PARITY_TOLERANCE.toExponential();
  const verdict =
    maxRel <= PARITY_TOLERANCE
      ? `within ${tolerance}`
      : `NOT within ${tolerance} (worst value ${worst}: sluice ${ours[worst]}, libxgboost ${peer[worst]})`;
  return (
    `parity over ${ours.length.toLocaleString('en-US')} predictions: max abs diff ${maxAbs.toExponential(2)}, ` +
    `max rel err ${maxRel.toExponential(2)}: ${verdict}`
  );
}
