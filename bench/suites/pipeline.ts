// SPEC §9 pipeline goal: the example job's shape (10,000 keys, 60 s tumbling windows, 7 features
// with a p95, XGBoost with 100 trees, eventTimeStepMs 0.05) over generated events, whole process,
// each trial a fresh `sluice run`; with 1 and 2 window threads, against a single-thread
// JSON.parse + Map loop over the same bytes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBenchModels, PIPELINE_MODEL } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';
import type { Summary } from '../../src/runtime/summary';

export const pipelineSuite: Suite = {
  name: 'pipeline',
  description: 'the example job over generated events, whole process, vs a one-thread JSON.parse + Map loop',
  run,
};

export const EXAMPLE_FEATURES = `
  - { name: tx_count,    agg: count }
  - { name: amount_sum,  agg: sum,    field: amount }
  - { name: amount_mean, agg: mean,   field: amount }
  - { name: amount_min,  agg: min,    field: amount }
  - { name: amount_max,  agg: max,    field: amount }
  - { name: amount_std,  agg: stddev, field: amount }
  - { name: amount_p95,  agg: p95,    field: amount }`;

/** A job file of the example job's shape (60 s tumbling windows, 7 features, the 100-tree model). */
export function benchJobYaml(name: string, source: string): string {
  return `name: ${name}
source: ${source}
watermark: { maxOutOfOrdernessMs: 5000 }
window: { type: tumbling, sizeMs: 60000 }
features:${EXAMPLE_FEATURES}
model: { path: ../${PIPELINE_MODEL}, output: fraud_score }
sink: { type: file, path: out/scores.jsonl }
metrics: { port: 0 }
`;
}

/** Runs `sluice run` in a fresh process and returns its summary. */
export function runSluice(ctx: BenchContext, job: string, sets: string[]): Summary {
  const summaryFile = path.join(path.dirname(job), 'summary.json');
  fs.rmSync(summaryFile, { force: true });
  const args = [path.join(ctx.rootDir, 'bin', 'sluice.js'), 'run', job, '--quiet', '--summary', summaryFile, ...sets.flatMap((s) => ['--set', s])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`sluice run exited with ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as Summary;
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  ensureBenchModels(ctx);
  const events = ctx.quick ? 1_000_000 : 20_000_000;
  const dir = path.join(ctx.cacheDir, 'pipeline');
  fs.mkdirSync(dir, { recursive: true });
  const job = path.join(dir, 'job.yaml');
  fs.writeFileSync(job, benchJobYaml('pipeline-bench', `{ type: generator, events: ${events}, keys: 10000, seed: 42, eventTimeStepMs: 0.05, outOfOrderMs: 2000 }`));
  ctx.progress('JSON.parse + Map baseline', 0, 3);
  const peer = spawnSync(process.execPath, [path.join(ctx.rootDir, 'dist', 'bench', 'peers', 'json-baseline.js'), String(events), '10000', '42'], { encoding: 'utf8' });
  if (peer.status !== 0) throw new Error(`baseline exited with ${peer.status}: ${peer.stderr}`);
  const baseline = JSON.parse(peer.stdout) as { eventsPerSecond: number; bytes: number };
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const summaries: Summary[] = [];
  for (const threads of [1, 2]) {
    ctx.progress(`sluice run, ${threads} window thread(s)`, threads, 3);
    const s = runSluice(ctx, job, [`workers.threads=${threads}`]);
    summaries.push(s);
    rows.push({ case: `${(events / 1e6).toFixed(0)} M events, ${threads} window thread${threads > 1 ? 's' : ''}`, metric: 'events/s', ours: s.eventsPerSecond, peer: baseline.eventsPerSecond, peerName: 'JSON.parse + Map, 1 thread', higherIsBetter: true });
    notes.push(
      `${threads} window thread(s): ${(s.elapsedMs / 1000).toFixed(1)} s; main thread busy ${(s.mainThreadBusyMs / 1000).toFixed(1)} s, window workers ${(s.workerBusyMs / 1000).toFixed(1)} s (the generator runs on a thread of its own); ` +
        `${s.windowsFired} windows, result latency p50 ${s.latencyMs.p50.toFixed(0)} ms p99 ${s.latencyMs.p99.toFixed(0)} ms, max RSS ${(s.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  }
  notes.push(`thread scaling 1 -> 2: ${(summaries[1].eventsPerSecond / summaries[0].eventsPerSecond).toFixed(2)}x (the machine has ${os.availableParallelism()} cores, shared by the main thread, the generator and the workers)`);
  notes.push(`baseline: ${(baseline.bytes / 2 ** 20).toFixed(0)} MiB of JSON, only its parse-and-aggregate loop timed`);
  notes.push('goal (SPEC §9): >= 1,000,000 events/s whole process, and >= 1.0x the baseline');
  return { suite: 'pipeline', rows, notes };
}
