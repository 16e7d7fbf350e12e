// The public API of SPEC §8, and nothing else.
export { loadModel } from './scoring/load-model';
export type { Model, LoadModelOptions } from './scoring/model';
export { TDigest } from './sketch/tdigest';
export { runJob } from './app/run-job';
export type { Job, RunJobOptions } from './app/run-job';
export type { Summary } from './runtime/summary';
export type { JobConfig } from './config/types';
export { SluiceError } from './errors';
export type { ErrorCode } from './errors';
export { ScoringPool } from './scoring/scoring-pool';
export type { ScoringPoolOptions } from './scoring/scoring-pool';
