// SPEC §8 ScoringPool: rows/s and p99 latency per call for 1, 10 and 100 concurrent callers with
// batches of 1 and 100 rows, against calling predictSync directly on the main thread (one caller,
// same batches). The pool pays for a thread hop and a copy; it wins back by coalescing callers'
// rows into big calls and by using more than one core.
import * as path from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { BENCH_ROWS_FILE, ensureBenchModels, readRows } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';

export const poolSuite: Suite = {
  name: 'pool',
  description: 'ScoringPool: concurrent callers coalesced on worker threads vs predictSync on the main thread',
  run,
};

const MODEL = 'd6x100.json';
const CALLERS = [1, 10, 100];
const BATCH_ROWS = [1, 100];

async function run(ctx: BenchContext): Promise<SuiteResult> {
  ensureBenchModels(ctx);
  const { ScoringPool } = await import('../../src/scoring/scoring-pool');
  const { loadModel } = await import('../../src/scoring/load-model');
  const modelPath = path.join(ctx.cacheDir, MODEL);
  const model = await loadModel(modelPath);
  const F = model.numFeatures;
  const all = readRows(path.join(ctx.cacheDir, BENCH_ROWS_FILE), 10_000);
  const rowsPerCase = ctx.quick ? 2_000 : 40_000;
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const threads = 2;
  const pool = new ScoringPool({ model: modelPath, threads });
  await pool.model();
  let step = 0;
  try {
    for (const batch of BATCH_ROWS) {
      const calls = Math.ceil(rowsPerCase / batch);
      const slice = (i: number) => all.subarray(((i * batch) % (10_000 - batch)) * F, ((i * batch) % (10_000 - batch) + batch) * F);
      // The peer: predictSync, one call after another, on the main thread.
      const direct = hdr.build();
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) {
        const s = performance.now();
        model.predictSync!(slice(i), batch);
        direct.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
      }
      const directRate = (calls * batch) / ((performance.now() - t0) / 1000);
      for (const callers of CALLERS) {
        ctx.progress(`pool: ${callers} callers x ${batch} rows`, step++, CALLERS.length * BATCH_ROWS.length);
        const lat = hdr.build();
        let next = 0;
        const start = performance.now();
        await Promise.all(
          Array.from({ length: callers }, async () => {
            while (next < calls) {
              const i = next++;
              const s = performance.now();
              await pool.score(slice(i), batch);
              lat.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
            }
          }),
        );
        const rate = (calls * batch) / ((performance.now() - start) / 1000);
        const label = `${callers} caller${callers > 1 ? 's' : ''} x ${batch} row${batch > 1 ? 's' : ''}`;
        rows.push({ case: label, metric: 'rows/s', ours: rate, peer: directRate, peerName: 'predictSync, 1 caller', higherIsBetter: true });
        rows.push({ case: label, metric: 'p99 ms per call', ours: lat.getValueAtPercentile(99) / 1000, peer: direct.getValueAtPercentile(99) / 1000, peerName: 'predictSync, 1 caller', higherIsBetter: false });
      }
    }
  } finally {
    await pool.close();
  }
  notes.push(`model ${MODEL} (100 trees, depth 6, 32 features); pool of ${threads} worker threads; ${rowsPerCase} rows per case`);
  notes.push('latency is per score() call, from the call to its result, while all callers keep calling');
  return { suite: 'pool', rows, notes };
}
