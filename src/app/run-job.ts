// runJob (SPEC §8): the top of the tree. It turns a job file or config into a running engine by
// building the I/O the job names (sources, sinks, the metrics endpoint) and handing it down.
import * as path from 'node:path';
import { jobFromObject, loadJob } from '../config/job';
import type { JobConfig } from '../config/types';
import { startMetricsServer, type MetricsServer } from '../io/http/metrics-server';
import { openSink } from '../io/sinks/sink';
import { KafkaSource } from '../io/kafka/source';
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

export async function openSource(job: JobConfig): Promise<Source> {
  switch (job.source.type) {
    case 'generator':
      return new GeneratorSource(job.source, { thread: true });
    case 'file':
      return new FileSource(job.source, job.file.startsWith('<') ? undefined : path.dirname(job.file));
    case 'kafka':
      return KafkaSource.open(job.source, job.name);
  }
}

export function runJob(job: JobConfig | string, opts: RunJobOptions = {}): Job {
  let engine: Engine | null = null;
  let stopRequested = false;
  const done = (async () => {
    const config = typeof job === 'string' ? await loadJob(job, opts.overrides ?? []) : jobFromObject(job);
    // Opened one by one, so that a failure (a missing topic, say) closes what was opened.
    const opened: Array<{ close(): Promise<void> }> = [];
    const open = async <T extends { close(): Promise<void> }>(what: Promise<T>): Promise<T> => {
      const it = await what;
      opened.push(it);
      return it;
    };
    let server: MetricsServer | null = null;
    try {
      const sinks = {
        results: await open(openSink(config.sink, config.name)),
        late: await open(openSink(config.late, config.name)),
        deadLetters: await open(openSink(config.deadLetter, config.name)),
      };
      const source = opts.source ?? (await open(openSource(config)));
      server = config.metrics.port > 0 ? await startMetricsServer(config.metrics.host, config.metrics.port, config.name) : null;
      engine = new Engine(config, { source, sinks, metrics: server?.metrics }, opts);
      if (stopRequested) engine.stop();
      return await engine.run();
    } finally {
      // The engine closes them too when it ran; closing is idempotent.
      for (const o of opened.reverse()) await o.close().catch(() => undefined);
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
