// runJob (SPEC §8): the top of the tree. It turns a job file or config into a running engine by
// building the I/O the job names (sources, sinks, the metrics endpoint) and handing it down.
import * as path from 'node:path';
import { jobFromObject, loadJob } from '../config/job';
import type { JobConfig } from '../config/types';
import { SluiceError } from '../errors';
import { startMetricsServer, type MetricsServer } from '../io/http/metrics-server';
import { openSink } from '../io/sinks/sink';
import { FileSource } from '../io/sources/file';
import { GeneratorSource } from '../io/sources/generator';
import { Engine, type EngineOptions } from '../runtime/engine';
import type { Source } from '../runtime/ports';
import type { Summary } from '../runtime/summary';

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
}

export function createSource(job: JobConfig): Source {
  switch (job.source.type) {
    case 'generator':
      return new GeneratorSource(job.source, { thread: true });
    case 'file':
      return new FileSource(job.source, job.file.startsWith('<') ? undefined : path.dirname(job.file));
    case 'kafka':
      throw new SluiceError('SLUICE_CONFIG_INVALID', `${job.file}: source.type: kafka is not available in this build yet; use file or generator`);
  }
}

export function runJob(job: JobConfig | string, opts: RunJobOptions = {}): Job {
  let engine: Engine | null = null;
  let stopRequested = false;
  const done = (async () => {
    const config = typeof job === 'string' ? await loadJob(job, opts.overrides ?? []) : jobFromObject(job);
    const source = opts.source ?? createSource(config);
    const sinks = { results: await openSink(config.sink), late: await openSink(config.late), deadLetters: await openSink(config.deadLetter) };
    let server: MetricsServer | null = null;
    try {
      server = config.metrics.port > 0 ? await startMetricsServer(config.metrics.host, config.metrics.port, config.name) : null;
      engine = new Engine(config, { source, sinks, metrics: server?.metrics }, opts);
      if (stopRequested) engine.stop();
      const summary = await engine.run();
      return summary;
    } finally {
      await server?.close();
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
