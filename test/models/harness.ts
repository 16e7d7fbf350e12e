// What the models tests share: a source whose batches wait for the test, and waiting on metrics.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { RawBatch, Source } from '../../src/decode/raw-batch';
import type { MetricsServer } from '../../src/io/http/metrics-server';
import { parseMetrics } from '../helpers/metrics';
import { repoRoot } from '../helpers/paths';

const E2E = path.join(repoRoot, 'test', 'e2e');
const FIXTURES = path.join(repoRoot, 'test', 'models', 'fixtures');

export const FEATURES = ['n', 'amount_sum', 'amount_mean', 'amount_min', 'amount_max', 'amount_std', 'items_sum'];
export const KEYS = 20;

/** Events for KEYS cards every 250 ms of event time in [fromMs, toMs), in time order. */
export function events(fromMs: number, toMs: number): string[] {
  const out: string[] = [];
  for (let ts = fromMs; ts < toMs; ts += 250) {
    for (let k = 0; k < KEYS; k++) out.push(JSON.stringify({ card: `card-${k}`, ts, amount: 1 + ((ts / 250 + 7 * k) % 97), items: 1 + (k % 3) }));
  }
  return out;
}

/** A job over the GatedSource's events (the card key, 10 s windows, FEATURES) with these models;
 *  `m` scores. */
export function writeJob(dir: string, models: object, scoring: object = {}): string {
  const job = {
    name: 'reload',
    source: { type: 'file', path: 'unused.jsonl', key: 'card', timestamp: 'ts' },
    watermark: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 0 },
    window: { type: 'tumbling', sizeMs: 10000 },
    features: [{ name: 'n', agg: 'count' }, ...FEATURES.slice(1, 6).map((name) => ({ name, agg: name.replace('amount_', '').replace('std', 'stddev'), field: 'amount' })), { name: 'items_sum', agg: 'sum', field: 'items' }],
    models,
    scoring: { model: 'm', output: 'risk', ...scoring },
    sink: { type: 'file', path: 'out/results.jsonl' },
    metrics: { port: 0 },
    workers: { threads: 2 },
  };
  fs.writeFileSync(path.join(dir, 'job.yaml'), stringify(job));
  return path.join(dir, 'job.yaml');
}


/** One partition whose batches wait for the test: batch i is read once gates[i] resolves. */
export class GatedSource implements Source {
  readonly numPartitions = 1;
  private offset = 0;
  constructor(private readonly steps: Array<{ gate: Promise<void>; values: string[] }>) {}
  async *batches(): AsyncIterable<RawBatch> {
    for (const [i, step] of this.steps.entries()) {
      await step.gate;
      const n = step.values.length;
      const last = i === this.steps.length - 1;
      yield {
        count: n,
        values: step.values,
        partition: new Int32Array(n),
        offset: Float64Array.from({ length: n }, () => this.offset++),
        recordTimestampMs: new Float64Array(n).fill(NaN),
        topicOf: () => 'in',
        finished: last ? [{ before: n, partition: 0 }] : [],
      };
    }
  }
  async close() {}
}

export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export async function scrape(server: MetricsServer) {
  return parseMetrics(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
}

export async function until(what: string, done: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const startedAt = Date.now();
  while (!(await done())) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}


/** The e2e job (test/e2e) with `models:` and `scoring:` instead of its `model:`. */
export function modelsJob(dir: string, models: object, scoring: object, extra: object = {}): string {
  const job = {
    name: 'models',
    source: { type: 'file', path: [path.join(E2E, 'p0.jsonl'), path.join(E2E, 'p1.jsonl')], key: 'card', timestamp: 'ts' },
    watermark: { maxOutOfOrdernessMs: 2000, idleTimeoutMs: 0 },
    window: { type: 'tumbling', sizeMs: 10000, allowedLatenessMs: 5000 },
    features: [{ name: 'n', agg: 'count' }, ...FEATURES.slice(1, 6).map((name) => ({ name, agg: name.replace('amount_', '').replace('std', 'stddev'), field: 'amount' })), { name: 'items_sum', agg: 'sum', field: 'items' }],
    models,
    scoring: { output: 'risk', ...scoring },
    sink: { type: 'file', path: 'out/results.jsonl' },
    metrics: { port: 0 },
    workers: { threads: 2 },
    ...extra,
  };
  fs.copyFileSync(path.join(E2E, 'model.json'), path.join(dir, 'a.json'));
  fs.copyFileSync(path.join(FIXTURES, 'model-b.json'), path.join(dir, 'b.json'));
  fs.copyFileSync(path.join(FIXTURES, 'model-c.json'), path.join(dir, 'c.json'));
  fs.copyFileSync(path.join(FIXTURES, 'partly-inf.json'), path.join(dir, 'bad.json'));
  const file = path.join(dir, 'job.yaml');
  fs.writeFileSync(file, stringify(job));
  return file;
}

