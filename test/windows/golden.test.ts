// Golden window cases (test/golden/*): each job must write exactly the expected records, with
// one thread or two, big batches or tiny ones, and any number of key partitions (SPEC §6: batching
// and threads never change an output).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { repoRoot } from '../helpers/paths';

const GOLDEN = path.join(repoRoot, 'test', 'golden');
const cases = fs.readdirSync(GOLDEN).filter((d) => fs.existsSync(path.join(GOLDEN, d, 'job.yaml'))).sort();

const VARIANTS = [
  { threads: 1, batchSize: 10_000, keyPartitions: 16 },
  { threads: 2, batchSize: 1, keyPartitions: 3 },
  { threads: 2, batchSize: 4, keyPartitions: 1 },
];

/** Expected summary counters where a case has some worth pinning. */
const COUNTERS: Record<string, { lateEvents?: number; expiredAssignments?: number; deadLetters?: number; retractions?: number }> = {
  sliding: { lateEvents: 1, expiredAssignments: 1 },
  session: { lateEvents: 1, retractions: 3 },
  'dead-letters': { deadLetters: 8 },
  lateness: { lateEvents: 1 },
  'per-event-sliding': { lateEvents: 1, expiredAssignments: 1, deadLetters: 1 },
  'per-event-session': { lateEvents: 1 },
};

test('every golden case has notes and expected files', () => {
  assert.ok(cases.length >= 9, `${cases.length} cases`);
  for (const c of cases) {
    for (const f of ['notes.md', 'expected/results.jsonl', 'expected/late.jsonl', 'expected/dead.jsonl']) {
      assert.ok(fs.existsSync(path.join(GOLDEN, c, f)), `${c}/${f}`);
    }
  }
});

for (const name of cases) {
  for (const v of VARIANTS) {
    test(`golden ${name}: ${v.threads} thread(s), batches of ${v.batchSize}, ${v.keyPartitions} key partition(s)`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-golden-${name}-`));
      fs.cpSync(path.join(GOLDEN, name), path.join(dir, name), { recursive: true });
      fs.copyFileSync(path.join(GOLDEN, 'const-model.json'), path.join(dir, 'const-model.json'));
      const job = runJob(path.join(dir, name, 'job.yaml'), { overrides: [`workers.threads=${v.threads}`], batchSize: v.batchSize, keyPartitions: v.keyPartitions });
      const summary = await job.done;
      for (const f of ['results', 'late', 'dead']) {
        const got = fs.readFileSync(path.join(dir, name, 'out', `${f}.jsonl`), 'utf8');
        const want = fs.readFileSync(path.join(GOLDEN, name, 'expected', `${f}.jsonl`), 'utf8');
        assert.equal(got, want, `${name}: ${f}.jsonl`);
      }
      for (const [k, want] of Object.entries(COUNTERS[name] ?? {})) assert.equal(summary[k as keyof typeof summary], want, `${name}: summary.${k}`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }
}
