// SPEC §6: batching and the number of threads never change an output. The same generated input
// (keyed by the window key, out of order, with late events) is run with 1, 2 and 4 threads and
// different batch sizes (per-event mode: also with its tasks on the main thread); the result,
// late and dead-letter files must be byte-identical.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jobFromObject } from '../../src/config/job';
import { runJob } from '../../src/app/run-job';
import { repoRoot } from '../helpers/paths';

const CONST_MODEL = path.join(repoRoot, 'test', 'golden', 'const-model.json');

function digestOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['results.jsonl', 'results.late.jsonl', 'results.dead.jsonl']) {
    out[f] = createHash('sha256').update(fs.readFileSync(path.join(dir, 'out', f))).digest('hex');
  }
  return out;
}

const WINDOW_FEATURES = [
  { name: 'n', agg: 'count' },
  { name: 's', agg: 'sum', field: 'amount' },
  { name: 'mn', agg: 'min', field: 'amount' },
  { name: 'sd', agg: 'stddev', field: 'amount' },
  { name: 'p95', agg: 'p95', field: 'amount' },
];
/** Per-event mode (SPEC §13): transforms of the event's own fields, and aggregates as of it. */
const PER_EVENT_FEATURES = [
  { name: 'amt', field: 'amount', transform: 'log1p' },
  { name: 'm', field: 'merchant', transform: { hash: 64 } },
  { name: 'h', field: 'ts', transform: 'hour' },
  ...WINDOW_FEATURES,
];

for (const { window, mode } of [
  { window: { type: 'tumbling', sizeMs: 2000, allowedLatenessMs: 300 }, mode: 'windows' },
  { window: { type: 'sliding', sizeMs: 2000, slideMs: 500, allowedLatenessMs: 300 }, mode: 'windows' },
  { window: { type: 'session', gapMs: 150, allowedLatenessMs: 300 }, mode: 'windows' },
  { window: { type: 'sliding', sizeMs: 2000, slideMs: 500, allowedLatenessMs: 300, earlyEveryMs: 300 }, mode: 'windows' },
  { window: { type: 'tumbling', sizeMs: 2000, allowedLatenessMs: 300 }, mode: 'per-event' },
  { window: { type: 'sliding', sizeMs: 2000, slideMs: 500, allowedLatenessMs: 300 }, mode: 'per-event' },
  { window: { type: 'session', gapMs: 150, allowedLatenessMs: 300 }, mode: 'per-event' },
]) {
  const perEvent = mode === 'per-event';
  const what = perEvent ? `per-event scoring over ${window.type} windows` : 'earlyEveryMs' in window ? `${window.type} windows with early results` : `${window.type} windows`;
  test(`${what}: 1, 2 and 4 threads, any batch size and key partitions give byte-identical output`, async () => {
    const runs: Array<{ threads: number; batchSize: number; keyPartitions?: number; inline?: 'always' | 'by-turns' }> = [
      { threads: 1, batchSize: 50_000 },
      { threads: 2, batchSize: 777, keyPartitions: 5 },
      { threads: 4, batchSize: 4096, keyPartitions: 64 },
    ];
    // Per-event tasks on the main thread (workers.inlineMaxUs), changing the states in place:
    // all of them; then by turns with the workers, which copy the states.
    if (perEvent) runs.push({ threads: 2, batchSize: 500, keyPartitions: 7, inline: 'always' }, { threads: 1, batchSize: 300, inline: 'by-turns' });
    const digests: Array<Record<string, string>> = [];
    let lines = 0;
    let earlyLines = 0;
    for (const r of runs) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-det-'));
      const job = jobFromObject(
        {
          name: 'det',
          source: { type: 'generator', events: 30_000, keys: 300, seed: 9, eventTimeStepMs: 0.7, outOfOrderMs: 2500, partitions: 3 },
          watermark: { maxOutOfOrdernessMs: 200 },
          mode,
          window,
          features: perEvent ? PER_EVENT_FEATURES : WINDOW_FEATURES,
          model: { path: CONST_MODEL, inputs: perEvent ? ['amt', 'm', 'n', 'p95'] : ['n', 's', 'mn', 'sd'] },
          sink: { type: 'file', path: path.join(dir, 'out', 'results.jsonl') },
          workers: { threads: r.threads },
          metrics: { port: 0 },
        },
        { file: path.join(dir, 'job.yaml') },
      );
      const summary = await runJob(job, { batchSize: r.batchSize, keyPartitions: r.keyPartitions, inline: r.inline }).done;
      assert.ok(summary.lateEvents > 0, `the input has late events (${summary.lateEvents})`);
      if (!r.inline || !perEvent) assert.equal(summary.inlineTasks, 0, 'no task on the main thread (a generator is never live)');
      if (r.inline === 'always') assert.ok(summary.inlineTasks === summary.tasks && summary.tasks > 50, `${summary.inlineTasks} of ${summary.tasks} tasks on the main thread`);
      if (r.inline === 'by-turns') assert.ok(Math.abs(summary.inlineTasks - summary.tasks / 2) <= 1 && summary.tasks > 50, `${summary.inlineTasks} of ${summary.tasks} tasks on the main thread`);
      const text = fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8');
      lines = text.split('\n').length;
      earlyLines = text.split('"early":true').length - 1;
      if (perEvent) {
        // Every event scored once, late ones included (and none sent to the late output).
        assert.equal(lines - 1, 30_000 - summary.deadLetters);
        assert.ok(text.split('"late":true').length - 1 >= summary.lateEvents, 'late events are scored as late');
        assert.equal(fs.readFileSync(path.join(dir, 'out', 'results.late.jsonl'), 'utf8'), '');
      }
      digests.push(digestOf(dir));
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(lines > 1000, `${lines} result lines`);
    if ('earlyEveryMs' in window) assert.ok(earlyLines > 100, `${earlyLines} early results`);
    for (const d of digests.slice(1)) assert.deepEqual(d, digests[0]);
  });
}
