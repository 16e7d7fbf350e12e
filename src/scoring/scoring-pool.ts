// ScoringPool (SPEC §8): the embeddable worker pool. Many callers' score() requests are coalesced
// into larger model calls on worker threads, with a bounded queue that applies back-pressure.
import * as os from 'node:os';
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { SluiceError } from '../errors';
import { loadModel } from './load-model';
import { checkRows, type Model } from './model';
import type { ScoreTask } from './score-task';

export interface ScoringPoolOptions {
  /** Model file (XGBoost .json/.ubj or ONNX .onnx). */
  model: string;
  /** Worker threads; default: available cores - 1, at least 1. */
  threads?: number;
  /** Rows per model call at most: large calls amortize dispatch, small ones keep latency low. */
  maxBatchRows?: number;
  /** Rows queued (not yet dispatched) at most; past it score() waits or fails, see onFull. */
  maxQueuedRows?: number;
  /** 'wait' (default): score() resolves once there is room; 'error': it rejects at once. */
  onFull?: 'wait' | 'error';
}

interface Request {
  rows: Float32Array;
  nRows: number;
  resolve: (scores: Float32Array) => void;
  reject: (e: unknown) => void;
}

/** 4096 rows: one call is then ~1 ms for a 100-tree model, long enough to amortize dispatch. */
const DEFAULT_MAX_BATCH_ROWS = 4096;
const DEFAULT_MAX_QUEUED_ROWS = 65536;

export class ScoringPool {
  private readonly pool: Piscina;
  private readonly ready: Promise<Model>;
  private readonly queue: Request[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private arriving = 0;
  private closed = false;
  private readonly roomWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private readonly threads: number;
  private readonly maxBatchRows: number;
  private readonly maxQueuedRows: number;

  constructor(private readonly opts: ScoringPoolOptions) {
    this.threads = opts.threads ?? Math.max(1, os.availableParallelism() - 1);
    this.maxBatchRows = opts.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS;
    this.maxQueuedRows = Math.max(opts.maxQueuedRows ?? DEFAULT_MAX_QUEUED_ROWS, this.maxBatchRows);
    // The main thread loads the model too: it checks the file once, up front, and knows the widths.
    this.ready = loadModel(opts.model);
    this.ready.catch(() => undefined);
    this.pool = new Piscina({ filename: path.join(__dirname, '..', '..', 'workers', 'score-worker.js'), minThreads: this.threads, maxThreads: this.threads });
  }

  /** The loaded model's shape; rejects if the model file is bad. */
  async model(): Promise<Pick<Model, 'numFeatures' | 'numOutputs' | 'featureNames'>> {
    const m = await this.ready;
    return { numFeatures: m.numFeatures, numOutputs: m.numOutputs, featureNames: m.featureNames };
  }

  /** Scores nRows rows (row-major, NaN = missing); resolves to nRows x numOutputs values. */
  async score(rows: Float32Array, nRows: number): Promise<Float32Array> {
    if (this.closed) throw new SluiceError('SLUICE_RUNTIME', 'ScoringPool is closed');
    // Counted until queued, so a close() that starts meanwhile still waits for this call.
    this.arriving++;
    let queued: { result: Promise<Float32Array> };
    try {
      queued = await this.enqueue(rows, nRows);
    } finally {
      this.arriving--;
      this.notifyIdle();
    }
    return queued.result;
  }

  /** Waits for the model and for room, queues the request; the result comes later. */
  private async enqueue(rows: Float32Array, nRows: number): Promise<{ result: Promise<Float32Array> }> {
    const model = await this.ready;
    checkRows(this.opts.model, model.numFeatures, rows, nRows);
    if (nRows === 0) return { result: Promise.resolve(new Float32Array(0)) };
    while (this.queuedRows + nRows > this.maxQueuedRows && this.queuedRows > 0) {
      if (this.opts.onFull === 'error') {
        throw new SluiceError('SLUICE_RUNTIME', `ScoringPool queue is full (${this.queuedRows} rows queued, at most ${this.maxQueuedRows}); retry later or raise maxQueuedRows`);
      }
      await new Promise<void>((r) => this.roomWaiters.push(r));
      if (this.closed) throw new SluiceError('SLUICE_RUNTIME', 'ScoringPool is closed');
    }
    const result = new Promise<Float32Array>((resolve, reject) => {
      // Copy now: the caller may reuse its buffer as soon as score() returns a promise.
      this.queue.push({ rows: rows.slice(0, nRows * model.numFeatures), nRows, resolve, reject });
      this.queuedRows += nRows;
      this.pump(model);
    });
    return { result };
  }

  private notifyIdle(): void {
    if (this.queue.length === 0 && this.inFlight === 0 && this.arriving === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Scores everything queued, then stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.queue.length > 0 || this.inFlight > 0 || this.arriving > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    for (const w of this.roomWaiters.splice(0)) w();
    await this.pool.destroy();
  }

  /** Starts batches while workers are free: each takes as many whole queued requests as fit. */
  private pump(model: Model): void {
    while (this.inFlight < this.threads && this.queue.length > 0) {
      const batch: Request[] = [];
      let n = 0;
      while (this.queue.length > 0 && (batch.length === 0 || n + this.queue[0].nRows <= this.maxBatchRows)) {
        const r = this.queue.shift()!;
        batch.push(r);
        n += r.nRows;
      }
      this.queuedRows -= n;
      for (const w of this.roomWaiters.splice(0)) w();
      this.inFlight++;
      this.run(model, batch, n).finally(() => {
        this.inFlight--;
        this.pump(model);
        this.notifyIdle();
      });
    }
  }

  private async run(model: Model, batch: Request[], nRows: number): Promise<void> {
    const F = model.numFeatures;
    const K = model.numOutputs;
    const rows = new Float32Array(new SharedArrayBuffer(nRows * F * 4));
    let at = 0;
    for (const r of batch) {
      rows.set(r.rows, at * F);
      at += r.nRows;
    }
    const out = new Float32Array(new SharedArrayBuffer(nRows * K * 4));
    try {
      const task: ScoreTask = { modelPath: this.opts.model, rows: rows.buffer as SharedArrayBuffer, nRows, out: out.buffer as SharedArrayBuffer };
      await this.pool.run(task);
      at = 0;
      for (const r of batch) {
        r.resolve(out.slice(at * K, (at + r.nRows) * K));
        at += r.nRows;
      }
    } catch (e) {
      for (const r of batch) r.reject(e);
    }
  }
}
