// HTTP calls tried again (model downloads, remote models: SPEC §12): the failures worth another
// try, and the loop with its backoff.

/** A failure worth another try: the network, a timeout, 429 or a 5xx. */
export class Transient extends Error {}

/**
 * Calls `once` up to `tries` times while it throws Transient, waiting `delayMs(retry)` before
 * retry 1, 2, ...; any other error ends it at once. Throws the last Transient when all fail.
 */
export async function withRetries<T>(tries: number, delayMs: (retry: number) => number, once: () => Promise<T>): Promise<T> {
  let last: Transient | null = null;
  for (let attempt = 0; attempt < tries; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, delayMs(attempt)));
    try {
      return await once();
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      last = e;
    }
  }
  throw last!;
}

/** A fetch that threw: its timeout (`signal` aborted), or the reason fetch's "fetch failed" hides
 *  in its cause (ECONNREFUSED, ENOTFOUND, ...). */
export function fetchFailure(e: unknown, signal: AbortSignal, timedOut: string): Transient {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new Transient(signal.aborted ? timedOut : (cause?.code ?? cause?.message ?? String((e as Error).message ?? e)));
}
