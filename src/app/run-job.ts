// runJob (SPEC §8): the top of the tree. It turns a job file or config into a running engine by
// building the I/O the job names (sources, sinks, the metrics endpoint) and handing it down.
import * as path from 'node:path';
import { jobFromObject, loadJob } from '../config/job';
import { SluiceError } from '../errors';
import type { JobConfig, KafkaSourceConfig } from '../config/types';
import type { MetricsServer } from '../io/http/metrics-server';
import { KafkaSource } from '../io/kafka/source';
import { logger } from '../log';
import { planFeatures } from '../features/plan';
import type { DurableState, Engine, EngineOptions } from '../runtime/engine';
import type { Source } from '../runtime/ports';
import type { Summary } from '../runtime/summary';

const log = logger('job');

export interface Job {
  /** Resolves with the run summary when a bounded job ends (or after stop()). */
  done: Promise<Summary>;
  /** Stops reading, writes what was read, and resolves when the job has ended. */
  stop(): Promise<void>;
}

export interface RunJobOptions extends EngineOptions {
  /** `--set path=value` overrides, for a job file path. */
  overrides?: string[];
  /** Tests only: read from this source instead of the one the job names. */
  source?: Source;
  /** `--reset-state`: delete the job's checkpoints and start over. */
  resetState?: boolean;
  /** Report to this metrics endpoint (left open afterwards) instead of the job's own. */
  metricsServer?: MetricsServer;
}

/** `resumeAt`: a checkpoint's source positions. */
export async function openSource(job: JobConfig, resumeAt?: ReadonlyArray<number | null>): Promise<Source> {
  switch (job.source.type) {
    case 'generator':
      return new (await import('../io/sources/generator')).GeneratorSource(job.source, { thread: true });
    case 'file':
      return new (await import('../io/sources/file')).FileSource(job.source, job.file.startsWith('<') ? undefined : path.dirname(job.file));
    case 'kafka':
      return KafkaSource.open(job.source, job.name, resumeAt);
  }
}

/**
 * Kafka jobs keep durable state (SPEC §10): a restart goes on from the last checkpoint. File and
 * generator jobs are bounded re-runs of the same input, so they start over each time (their
 * outputs are rewritten).
 */
async function openState(config: JobConfig, keyPartitions: number, reset: boolean): Promise<DurableState | null> {
  if (config.source.type !== 'kafka') return null;
  const startedAt = performance.now();
  const { StateStore } = await import('../state/store');
  const store = await StateStore.open(config.state.dir, { job: config.name, layout: stateLayout(config, keyPartitions) }, { reset });
  try {
    // With a changelog, partitions are restored one by one as the group assigns them.
    const restored = config.state.changelog ? null : await store.load(planFeatures(config.features, config.window.type === 'session').slotWords);
    return { store, restored, restoreMs: performance.now() - startedAt };
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

/** What the state's bytes mean: change any of it and the old state no longer fits. With a
 *  changelog, state is per source partition, whatever the key partitions. */
function stateLayout(config: JobConfig, keyPartitions: number | null): string {
  const slotWords = planFeatures(config.features, config.window.type === 'session').slotWords;
  const topic = config.source.type === 'kafka' ? config.source.topic : null;
  const key = config.source.type === 'kafka' ? config.source.key : null;
  const changelog = config.state.changelog;
  return JSON.stringify({ topic, key, window: config.window, features: config.features, ...(changelog ? { changelog } : { keyPartitions }), slotWords });
}

/** The Kafka source, opened and joining its group (from where startFrom says; a checkpoint's
 *  positions are given once the state is read, before the engine reads). */
function joinEarly(config: JobConfig): Promise<KafkaSource> {
  const source = KafkaSource.open(config.source as KafkaSourceConfig, config.name).then(async (s) => {
    await s.join();
    return s;
  });
  source.catch(() => undefined); // awaited below
  return source;
}

export function runJob(job: JobConfig | string, opts: RunJobOptions = {}): Job {
  let engine: Engine | null = null;
  let stopRequested = false;
  const done = (async () => {
    const config = typeof job === 'string' ? await loadJob(job, opts.overrides ?? []) : jobFromObject(job);
    // A Kafka source joins its group first, and the rest of the start (the engine's modules, the
    // state, the sinks, the workers) happens during the join's wait (KafkaSource.join). With a
    // changelog, the engine's rebalance listener must be in place before the join.
    const early = !opts.source && config.source.type === 'kafka' && !config.state.changelog ? joinEarly(config) : null;
    // Opened one by one, so that a failure (a missing topic, say) closes what was opened.
    const opened: Array<{ close(): Promise<void> }> = [];
    const open = async <T extends { close(): Promise<void> }>(what: Promise<T>): Promise<T> => {
      const it = await what;
      opened.push(it);
      return it;
    };
    let server: MetricsServer | null = null;
    try {
      // Loaded here rather than with this module: once the broker holds the JoinGroup request
      // (loading blocks the event loop for tens of ms, and the join's requests with it).
      await early?.catch(() => undefined);
      const [{ Engine, DEFAULT_KEY_PARTITIONS }, { openSink }] = await Promise.all([import('../runtime/engine'), import('../io/sinks/sink')]);
      const state = await openState(config, opts.keyPartitions ?? DEFAULT_KEY_PARTITIONS, opts.resetState ?? false);
      if (state) opened.push(state.store);
      if (state?.restored && opts.source) throw new SluiceError('SLUICE_USAGE', `${config.state.dir}: has a checkpoint, which a source given to runJob cannot resume from`);
      // prom-client is loaded only for a job that serves metrics (~30 ms of every start otherwise).
      server = opts.metricsServer ?? (config.metrics.port > 0 ? await (await import('../io/http/metrics-server')).startMetricsServer(config.metrics.host, config.metrics.port, config.name) : null);
      const sinkBytes = state?.restored?.sinkBytes ?? {};
      const sink = (name: 'results' | 'late' | 'deadLetters' | 'shadow', c: JobConfig['sink']) => open(openSink(c, config.name, sinkBytes[name], server ? (s) => server!.sinkAck(name, s) : undefined));
      const sinks = {
        results: await sink('results', config.sink),
        late: await sink('late', config.late),
        deadLetters: await sink('deadLetters', config.deadLetter),
        shadow: config.scoring.shadow.length > 0 ? await sink('shadow', config.shadow) : undefined,
      };
      let source: Source;
      if (opts.source) source = opts.source;
      else if (early) {
        const kafka = await open(early);
        if (state?.restored) kafka.resumeAt(state.restored.positions);
        source = kafka;
      } else source = await open(openSource(config, state?.restored?.positions));
      const changelog = state && config.state.changelog && config.source.type === 'kafka' ? { log: await open((await import('../io/kafka/changelog')).openChangelog(config.source, config.state.changelog, config.name, source.numPartitions)), identity: { job: config.name, layout: stateLayout(config, null) } } : undefined;
      if (changelog && config.watermark.idleTimeoutMs > 0) log.warn('watermark.idleTimeoutMs is ignored with state.changelog: each source partition has a watermark of its own, and its windows fire on its own event time (SPEC §15)');
      engine = new Engine(config, { source, sinks, metrics: server?.metrics, state: state ?? undefined, changelog }, opts);
      if (stopRequested) engine.stop();
      return await engine.run();
    } finally {
      // A source still joining when the start failed: closed too (it waits the join out).
      const joining = await early?.catch(() => null);
      if (joining && !opened.includes(joining)) opened.push(joining);
      // The engine closes them too when it ran; closing is idempotent.
      for (const o of opened.reverse()) await o.close().catch(() => undefined);
      if (server !== opts.metricsServer) await server?.close();
    }
  })();
  return {
    done,
    async stop() {
      stopRequested = true;
      engine?.stop();
      await done.catch(() => undefined);
    },
  };
}
