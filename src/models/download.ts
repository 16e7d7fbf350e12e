// Model files at http(s) URLs (SPEC §12): a GET with the job's headers, bounded in size and time,
// retried with exponential backoff and jitter; conditional (ETag / Last-Modified) once a version
// was read, so that an unchanged model costs a 304 per poll.
import { modelError, overMaxBytes } from '../errors';
import { fetchFailure, Transient, withRetries } from './retry';

export interface DownloadSpec {
  url: string;
  headers: Record<string, string>;
  maxBytes: number;
  /** Where the job file sets maxBytes (model.maxBytes, models.<name>.maxBytes), for the message. */
  maxBytesAt: string;
  /** Per try, from the request to the last byte. */
  timeoutMs: number;
}

/** What the server said about the version last read. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

export type Downloaded = { notModified: true } | { notModified: false; bytes: Buffer; validators: Validators };

/** Tries per download: the first, then two retries. */
export const DOWNLOAD_TRIES = 3;
const BACKOFF_MS = 100;

export async function download(spec: DownloadSpec, validators: Validators = {}): Promise<Downloaded> {
  try {
    return await withRetries(DOWNLOAD_TRIES, (retry) => BACKOFF_MS * 2 ** (retry - 1) * (0.5 + Math.random()), () => once(spec, validators));
  } catch (e) {
    if (!(e instanceof Transient)) throw e;
    throw modelError(spec.url, `GET failed ${DOWNLOAD_TRIES} times; the last: ${e.message}`);
  }
}

async function once(spec: DownloadSpec, validators: Validators): Promise<Downloaded> {
  const headers: Record<string, string> = { ...spec.headers };
  if (validators.etag) headers['if-none-match'] = validators.etag;
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified;
  const signal = AbortSignal.timeout(spec.timeoutMs);
  let res: Response;
  try {
    res = await fetch(spec.url, { headers, signal, redirect: 'follow' });
  } catch (e) {
    throw fetchFailure(e, signal, `no answer within ${spec.timeoutMs} ms`);
  }
  if (res.status === 304) {
    await res.body?.cancel();
    return { notModified: true };
  }
  if (!res.ok) {
    await res.body?.cancel();
    const what = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    if (res.status === 429 || res.status >= 500) throw new Transient(what);
    const hint = res.status === 401 || res.status === 403 ? ' (check the headers: given for this model)' : '';
    throw modelError(spec.url, `GET answered ${what}${hint}`);
  }
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (length > spec.maxBytes) {
    await res.body?.cancel();
    throw tooBig(spec, `${length.toLocaleString('en-US')} bytes`);
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of res.body ?? []) {
      bytes += chunk.byteLength;
      if (bytes > spec.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw tooBig(spec, `more than ${spec.maxBytes.toLocaleString('en-US')} bytes`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'SLUICE_MODEL_INVALID') throw e;
    throw fetchFailure(e, signal, `the body did not arrive within ${spec.timeoutMs} ms`);
  }
  const etag = res.headers.get('etag') ?? undefined;
  const lastModified = res.headers.get('last-modified') ?? undefined;
  return { notModified: false, bytes: Buffer.concat(chunks), validators: { etag, lastModified } };
}

const tooBig = (spec: DownloadSpec, got: string) => overMaxBytes(spec.url, got, spec.maxBytes, spec.maxBytesAt);
