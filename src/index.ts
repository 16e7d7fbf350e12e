// The public API of SPEC §8, and nothing else.
export { loadModel } from './scoring/load-model';
export type { Model, LoadModelOptions } from './scoring/model';
export { SluiceError } from './errors';
export type { ErrorCode } from './errors';
