// runJob (SPEC §8): start a job from a job file path or a config object.
import { jobFromObject, loadJob } from '../config/job';
import type { JobConfig } from '../config/types';
import { Engine, type EngineOptions } from './engine';
import type { Summary } from './summary';

export interface Job {
  /** Resolves with the run summary when a bounded job ends (or after stop()). */
  done: Promise<Summary>;
  /** Stops reading, writes what was read, and resolves when the job has ended. */
  stop(): Promise<void>;
}

export interface RunJobOptions extends EngineOptions {
  /** `--set path=value` overrides, for a job file path. */
  overrides?: string[];
}

export function runJob(job: JobConfig | string, opts: RunJobOptions = {}): Job {
  let engine: Engine | null = null;
  let stopRequested = false;
  const done = (async () => {
    const config = typeof job === 'string' ? await loadJob(job, opts.overrides ?? []) : jobFromObject(job);
    engine = new Engine(config, opts);
    if (stopRequested) engine.stop();
    return engine.run();
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
