// What the Prometheus endpoint (SPEC §11) costs: the pipeline suite's generator job with metrics
// on, scraped once a second as Prometheus would, against metrics off; runs alternating, so a noisy
// neighbour's phase favours neither.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alternating, ensureBenchModels, median } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';
import { freePort, killRunning, loggedNote, runSluice, type SluiceRun } from '../kafka-runs';
import type { Summary } from '../../src/runtime/summary';
import { benchJobYaml } from './pipeline';

export const metricsSuite: Suite = {
  name: 'metrics',
  description: 'generator throughput with the /metrics endpoint on (scraped every second) vs off',
  run,
};

const SCRAPE_EVERY_MS = 1000;

interface Trial extends SluiceRun {
  /** Scrapes answered 200 while the run went on (0 with metrics off). */
  scrapes: number;
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  ensureBenchModels(ctx);
  const events = ctx.quick ? 1_000_000 : 5_000_000;
  const trials = ctx.quick ? 3 : 5;
  const dir = path.join(ctx.cacheDir, 'metrics');
  fs.mkdirSync(dir, { recursive: true });
  const job = path.join(dir, 'job.yaml');
  fs.writeFileSync(job, benchJobYaml('metrics-bench', `{ type: generator, events: ${events}, keys: 10000, seed: 42, eventTimeStepMs: 0.05, outOfOrderMs: 2000 }`));
  const on: Trial[] = [];
  const off: Trial[] = [];
  try {
    await alternating(ctx, 'metrics on/off', trials, [
      async () => void on.push(await scrapedRun(ctx, job)),
      async () => void off.push({ ...(await runSluice(ctx, job, ['metrics.port=0']).done), scrapes: 0 }),
    ]);
  } finally {
    killRunning();
  }
  for (const r of [...on, ...off]) if (r.summary.events !== events) throw new Error(`a run read ${r.summary.events} events, not ${events}`);

  // elapsedMs is the whole run (model load included); readingMs leaves start-up and shutdown out.
  const elapsedEps = (s: Summary) => (s.events / s.elapsedMs) * 1000;
  const readingEps = (s: Summary) => (s.events / s.readingMs) * 1000;
  const med = (trials: Trial[], eps: (s: Summary) => number) => median(trials.map((r) => eps(r.summary)));
  const overhead = (eps: (s: Summary) => number) => `${((1 - med(on, eps) / med(off, eps)) * 100).toFixed(1)}%`;
  const perRun = (trials: Trial[]) => trials.map((r) => Math.round(elapsedEps(r.summary)).toLocaleString('en-US')).join(', ');
  const scrapes = on.map((r) => r.scrapes);
  const rows: BenchRow[] = [
    { case: `example job, ${events / 1e6} M generated events`, metric: 'events/s', ours: med(on, elapsedEps), peer: med(off, elapsedEps), peerName: 'metrics off', higherIsBetter: true },
  ];
  const notes = [
    `median of ${trials} runs each, metrics on and off alternating (the first of each pair swaps every round); each run a fresh \`sluice run\` of the example job's shape (7 features with one p95, the 100-tree model, 60 s windows, 10,000 keys, file sink), events/s = events / elapsedMs (whole run)`,
    `per run, events/s: on ${perRun(on)}; off ${perRun(off)}`,
    `overhead of metrics (1 - on/off of the medians): ${overhead(elapsedEps)} on elapsedMs; ${overhead(readingEps)} on readingMs (first record to last output: ${Math.round(med(on, readingEps)).toLocaleString('en-US')} vs ${Math.round(med(off, readingEps)).toLocaleString('en-US')} events/s)`,
    `scraped: GET /metrics on 127.0.0.1 every ${SCRAPE_EVERY_MS} ms while each metrics-on run went on (from its spawn; the ones before the server listened fail and are not counted): ${scrapes.reduce((a, b) => a + b, 0)} answered in all, per run ${scrapes.join(', ')}${loggedNote([...on, ...off])}`,
  ];
  return { suite: 'metrics', rows, notes };
}

/** A run with metrics on a free port, scraped every SCRAPE_EVERY_MS until it exits. */
async function scrapedRun(ctx: BenchContext, job: string): Promise<Trial> {
  const port = await freePort();
  const sluice = runSluice(ctx, job, [`metrics.port=${port}`, 'metrics.host=127.0.0.1']);
  let exited = false;
  const exit = sluice.done.then(
    () => void (exited = true),
    () => void (exited = true),
  );
  let scrapes = 0;
  while (!exited) {
    await Promise.race([sleep(SCRAPE_EVERY_MS), exit]);
    if (!exited && (await scrape(port))) scrapes++;
  }
  return { ...(await sluice.done), scrapes };
}

/** One scrape, its body read to the end as Prometheus would; false when it was not answered 200. */
async function scrape(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
