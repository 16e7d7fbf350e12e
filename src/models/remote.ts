// A remote model (SPEC §12): an Open Inference Protocol v2 REST client (SPEC §14's infer form: one
// FP32 input "input" of shape [N, F]). Rows go in requests of at most maxBatchRows; a request
// that fails on the network, times out, or gets 429 or a 5xx is tried again after an exponential
// backoff with full jitter; the breaker (shared by the workers) counts calls that fail in the end.
import type { RemotePlan } from './plan';
import { Breaker } from './breaker';
import { fetchFailure, Transient, withRetries } from './retry';

/** A model call that failed, and how (metrics: sluice_model_errors_total's kind). */
export class ModelCallError extends Error {
  constructor(
    readonly kind: 'error' | 'breaker' | 'timeout',
    message: string,
  ) {
    super(message);
  }
}


export class RemoteModel {
  /** The model_version the server last answered (null before it answered). */
  version: string | null = null;
  private readonly breaker: Breaker;

  constructor(private readonly plan: RemotePlan) {
    // A probe's call takes at most its tries and backoffs.
    const probeTimeoutMs = plan.timeoutMs * (plan.retries + 1) + plan.backoffMs * 2 ** plan.retries + 1000;
    this.breaker = new Breaker(plan.breaker.state, plan.breaker.failures, plan.breaker.openMs, probeTimeoutMs);
  }

  /** nRows x numOutputs scores for rows (nRows x width, row-major). */
  async predict(rows: Float32Array, nRows: number, width: number): Promise<Float32Array> {
    const admitted = this.breaker.admit();
    if (admitted === 'refused') throw new ModelCallError('breaker', `the breaker of ${this.plan.url} is open (${this.breaker.failuresInARow} failed calls in a row); calls resume after breaker.openMs (${this.plan.breaker.openMs} ms)`);
    const probe = admitted === 'probe';
    const k = this.plan.numOutputs;
    const out = new Float32Array(nRows * k);
    try {
      for (let from = 0; from < nRows; from += this.plan.maxBatchRows) {
        const n = Math.min(this.plan.maxBatchRows, nRows - from);
        out.set(await this.request(rows.subarray(from * width, (from + n) * width), n, width), from * k);
      }
    } catch (e) {
      this.breaker.failed(probe);
      throw e;
    }
    this.breaker.succeeded(probe);
    return out;
  }

  /** One request, with its retries. */
  private async request(rows: Float32Array, n: number, width: number): Promise<Float32Array> {
    const body = JSON.stringify({ inputs: [{ name: 'input', shape: [n, width], datatype: 'FP32', data: Array.from(rows) }] });
    const tries = this.plan.retries + 1;
    try {
      return await withRetries(tries, (retry) => Math.random() * this.plan.backoffMs * 2 ** (retry - 1), () => this.once(body, n));
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      const timedOut = /no answer within/.test(e.message);
      throw new ModelCallError(timedOut ? 'timeout' : 'error', `${this.plan.url}: ${tries === 1 ? '' : `${tries} tries; the last: `}${e.message}`);
    }
  }

  private async once(body: string, n: number): Promise<Float32Array> {
    const signal = AbortSignal.timeout(this.plan.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.plan.url}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...this.plan.headers }, body, signal });
      text = await res.text();
    } catch (e) {
      throw fetchFailure(e, signal, `no answer within timeoutMs (${this.plan.timeoutMs} ms)`);
    }
    if (!res.ok) {
      const what = `HTTP ${res.status}${errorOf(text)}`;
      if (res.status === 429 || res.status >= 500) throw new Transient(what);
      throw new ModelCallError('error', `${this.plan.url}: ${what}`);
    }
    return this.scores(text, n);
  }

  /** The answer's first output as n x numOutputs values (flat or nested; null is NaN). */
  private scores(text: string, n: number): Float32Array {
    const bad = (why: string) => new ModelCallError('error', `${this.plan.url}: the answer ${why}`);
    let doc: { model_version?: unknown; outputs?: Array<{ data?: unknown }> };
    try {
      doc = JSON.parse(text);
    } catch {
      throw bad('is not JSON');
    }
    const data = doc?.outputs?.[0]?.data;
    if (!Array.isArray(data)) throw bad('has no outputs[0].data');
    const values = (data as unknown[]).flat(Infinity);
    const k = this.plan.numOutputs;
    if (values.length !== n * k) throw bad(`has ${values.length} values for ${n} rows of ${k} output${k === 1 ? '' : 's'} (set outputs: on the model if it gives more)`);
    if (typeof doc.model_version === 'string') this.version = doc.model_version;
    return Float32Array.from(values, (v) => (typeof v === 'number' ? v : NaN));
  }
}

/** `: <error>` from an OIP error answer ({"error": "..."}), if there is one. */
function errorOf(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    return typeof e === 'string' ? `: ${e.split('\n')[0].slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
