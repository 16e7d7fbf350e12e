// Every error sluice raises on purpose is a SluiceError with a stable code. The message names the
// file, the place inside it and what was expected, so the user knows what to fix.

export type ErrorCode =
  | 'SLUICE_CONFIG_INVALID' // job file: unknown key, wrong type, bad value
  | 'SLUICE_USAGE' // bad command-line invocation
  | 'SLUICE_MODEL_INVALID' // model file unreadable, malformed or unsupported
  | 'SLUICE_MODEL_INPUT' // rows given to a model do not fit it
  | 'SLUICE_CSV_INVALID' // `sluice score` input
  | 'SLUICE_TDIGEST_INVALID' // t-digest bytes or arguments
  | 'SLUICE_DECODE_INVALID' // arguments given to the native decoder
  | 'SLUICE_JSON_INVALID' // a JSON text the addon's parser refuses (src/native/json.ts; sluice serve answers 400)
  | 'SLUICE_NATIVE_MISSING' // the addon is not built
  | 'SLUICE_KAFKA' // a broker, topic or group that cannot be used
  | 'SLUICE_STATE' // a state dir that cannot be used: another job's, damaged, or unwritable
  | 'SLUICE_OVERLOADED' // a queue is full: retry later (sluice serve answers 429)
  | 'SLUICE_TIMEOUT' // work not done within its time limit (sluice serve answers 504)
  | 'SLUICE_RUNTIME'; // failure while a job runs

export class SluiceError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
  }
}

export const configError = (message: string) => new SluiceError('SLUICE_CONFIG_INVALID', message);
export const usageError = (message: string) => new SluiceError('SLUICE_USAGE', message);

/** `file: what is wrong`, the one-line shape every model error has. */
export const modelError = (file: string, message: string, cause?: unknown) =>
  new SluiceError('SLUICE_MODEL_INVALID', `${file}: ${message}`, { cause });

/** A model source over its size limit: `got` says how big ("5,000 bytes"); `at` is the setting. */
export const overMaxBytes = (source: string, got: string, maxBytes: number, at: string) =>
  modelError(source, `is ${got}, over ${at} (${maxBytes.toLocaleString('en-US')}); raise ${at} if the model is meant to be this big`);

export const isSluiceError = (e: unknown): e is SluiceError => e instanceof SluiceError;

/** Exit code for the CLI (SPEC §3): 2 for bad invocations and invalid inputs, 1 for the rest. */
export function exitCodeFor(e: unknown): 1 | 2 {
  if (!isSluiceError(e)) return 1;
  return e.code === 'SLUICE_RUNTIME' || e.code === 'SLUICE_OVERLOADED' || e.code === 'SLUICE_TIMEOUT' || e.code === 'SLUICE_NATIVE_MISSING' || e.code === 'SLUICE_KAFKA' || e.code === 'SLUICE_STATE' ? 1 : 2;
}
