// SPEC §9 memory goal: 1,000,000 open windows (one per key, each with a p95 digest, as in the
// pipeline run) under 2 GB RSS for the whole process. Every key's window stays open until the end
// of input, when they all fire at once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureBenchModels } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';
import { benchJobYaml, runSluice } from './pipeline';

export const memorySuite: Suite = {
  name: 'memory',
  description: '1 M open windows with a p95 each: peak RSS and bytes per window',
  run,
};

const GOAL_BYTES = 2 * 1024 ** 3;

async function run(ctx: BenchContext): Promise<SuiteResult> {
  ensureBenchModels(ctx);
  const keys = ctx.quick ? 100_000 : 1_000_000;
  const events = keys * 12; // ~12 events a key: e^-12 of the keys (about 6 in a million) get none
  const dir = path.join(ctx.cacheDir, 'memory');
  fs.mkdirSync(dir, { recursive: true });
  const job = path.join(dir, 'job.yaml');
  // All events inside one 60 s window: it starts 1 s after a window boundary and spans 50 s.
  const startTimeMs = 1_699_999_980_000 + 1000;
  fs.writeFileSync(job, benchJobYaml('memory-bench', `{ type: generator, events: ${events}, keys: ${keys}, seed: 42, eventTimeStepMs: ${50_000 / events}, outOfOrderMs: 500, startTimeMs: ${startTimeMs} }`));
  ctx.progress(`sluice run, ${keys} keys`, 0, 1);
  const s = runSluice(ctx, job, []);
  const rows: BenchRow[] = [
    { case: `${s.peakOpenWindows.toLocaleString('en-US')} open windows`, metric: 'peak RSS MiB', ours: s.maxRssBytes / 2 ** 20, peer: GOAL_BYTES / 2 ** 20, peerName: 'SPEC §9 limit (2 GiB)', higherIsBetter: false },
    { case: 'window state', metric: 'bytes/window', ours: s.peakStateBytes / s.peakOpenWindows, peer: null, peerName: '', higherIsBetter: false },
    { case: 'whole process', metric: 'RSS bytes/window', ours: s.maxRssBytes / s.peakOpenWindows, peer: null, peerName: '', higherIsBetter: false },
  ];
  const notes = [
    `${events.toLocaleString('en-US')} events over ${keys.toLocaleString('en-US')} keys, all in one 60 s window per key; features as the pipeline run (7, one p95 digest at compression 100)`,
    `window state at its peak: ${(s.peakStateBytes / 2 ** 20).toFixed(0)} MiB in the arenas (slots, index, timers, digests; digests of under 2,500 values keep their raw values)`,
    `run took ${(s.elapsedMs / 1000).toFixed(1)} s; ${s.windowsFired.toLocaleString('en-US')} windows fired at the end`,
  ];
  return { suite: 'memory', rows, notes };
}
