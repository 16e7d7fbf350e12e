// Jobs and inputs the Kafka tests share: the e2e job's features and model (test/e2e), with any
// source and outputs, and keyed events whose per-partition time order is known.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { runJob, type Job, type RunJobOptions } from '../../src/app/run-job';
import { jobFromObject } from '../../src/config/job';
import type { JobConfig } from '../../src/config/types';
import { repoRoot } from '../helpers/paths';
import { readTopic, type ReadRecord } from './kafka-io';

export const E2E = path.join(repoRoot, 'test', 'e2e');

/** test/e2e/job.yaml itself: its watermark, window, features and model. */
const E2E_JOB = parse(fs.readFileSync(path.join(E2E, 'job.yaml'), 'utf8')) as { model: { path: string } } & Record<string, unknown>;

/** The e2e job with the given source, outputs and overrides. */
export function e2eJob(source: object, outputs: { sink: object; late?: object; deadLetter?: object }, extra: Record<string, unknown> = {}): JobConfig {
  return jobFromObject(e2eJobObject(source, outputs, extra));
}

/** The same as a plain object, as a job file holds it (for jobs run by `sluice run`). */
export function e2eJobObject(source: object, outputs: { sink: object; late?: object; deadLetter?: object }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...E2E_JOB,
    name: 'kafka-e2e',
    source: { key: 'card', timestamp: 'ts', ...source },
    model: { ...E2E_JOB.model, path: path.join(E2E, E2E_JOB.model.path) },
    late: { type: 'file', path: path.join(tmpDir('late'), 'late.jsonl') },
    deadLetter: { type: 'file', path: path.join(tmpDir('dead'), 'dead.jsonl') },
    ...outputs,
    metrics: { port: 0 },
    workers: { threads: 2 },
    state: { dir: tmpDir('state') },
    ...extra,
  };
}

export const tmpDir = (what: string) => fs.mkdtempSync(path.join(os.tmpdir(), `sluice-kafka-${what}-`));

/**
 * Events in time order per partition: partition p holds keys `k<p>-<i>` (so each key lives in one
 * partition), one event every stepMs of event time from startMs, keys taken in turn.
 */
export function keyedEvents(partitions: number, keysPerPartition: number, eventsPerPartition: number, startMs: number, stepMs: number): string[][] {
  const out: string[][] = [];
  for (let p = 0; p < partitions; p++) {
    const lines: string[] = [];
    for (let j = 0; j < eventsPerPartition; j++) {
      const amount = ((j * 7919 + p * 104729) % 10000) / 100;
      lines.push(JSON.stringify({ card: `k${p}-${j % keysPerPartition}`, ts: startMs + j * stepMs, amount, items: 1 + (j % 3) }));
    }
    out.push(lines);
  }
  return out;
}

/** Runs the job over the same partitions through the file source (one file each) and returns
 *  its result lines: the reference a Kafka run is compared with. */
export async function fileReference(partitions: string[][], source: object, extra: Record<string, unknown> = {}): Promise<string[]> {
  const dir = tmpDir('reference');
  const paths = partitions.map((lines, p) => {
    const f = path.join(dir, `p${p}.jsonl`);
    fs.writeFileSync(f, lines.join('\n') + '\n');
    return f;
  });
  const out = path.join(dir, 'results.jsonl');
  await runJob(e2eJob({ ...source, type: 'file', path: paths }, { sink: { type: 'file', path: out } }, extra)).done;
  return fs.readFileSync(out, 'utf8').split('\n').filter((l) => l !== '');
}

/** Starts a job; the caller stops it. */
export function startJob(config: JobConfig, opts: RunJobOptions = {}): Job {
  const job = runJob(config, opts);
  job.done.catch(() => undefined); // awaited by the test; an early failure must not go unhandled
  return job;
}

/** Polls the topic until it holds at least n records (or fails after timeoutMs). */
export async function waitForRecords(brokers: string[], topic: string, n: number, timeoutMs: number, job?: Job): Promise<ReadRecord[]> {
  const until = Date.now() + timeoutMs;
  let failed: unknown = null;
  job?.done.catch((e) => (failed = e));
  for (;;) {
    const records = readTopic(brokers, topic);
    if (records.length >= n) return records;
    if (failed) throw failed;
    if (Date.now() > until) throw new Error(`${topic}: ${records.length} records after ${timeoutMs} ms, expected ${n}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const sorted = (lines: string[]) => lines.slice().sort();
