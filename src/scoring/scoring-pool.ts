// ScoringPool (SPEC §8): the embeddable worker pool. Many callers' score() requests are coalesced
// into larger model calls on worker threads, with a bounded queue that applies back-pressure.
// `sluice serve` (SPEC §14) runs on it too: several models by path, and a batching delay
// (maxDelayMs) as Triton's dynamic batcher has.
import * as os from 'node:os';
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { SluiceError } from '../errors';
import type { CandidateCheck, CheckOutcome } from '../models/check';
import { formatOf, loadModel } from './load-model';
import { checkRows, type Model } from './model';
import type { ScoreTask, WarmTask } from './score-task';

export interface ScoringPoolOptions {
  /** Model file (XGBoost .json/.ubj or ONNX .onnx): the one score() uses unless it names another. */
  model?: string;
  /** Worker threads; default: available cores - 1, at least 1. */
  threads?: number;
  /** Rows per model call at most: large calls amortize dispatch, small ones keep latency low. */
  maxBatchRows?: number;
  /** A batch smaller than maxBatchRows waits this long at most for more rows (default 0: none). */
  maxDelayMs?: number;
  /** Rows queued (not yet dispatched) at most; past it score() waits or fails, see onFull. */
  maxQueuedRows?: number;
  /** 'wait' (default): score() resolves once there is room; 'error': it rejects at once
   *  (a SluiceError with code SLUICE_OVERLOADED). */
  onFull?: 'wait' | 'error';
  /** Called with each batch's rows as it goes to a worker, or is scored inline (metrics). */
  onBatch?: (rows: number, inline: boolean) => void;
  /** Batches of an XGBoost model predicted to score within this many µs are scored on the
   *  calling thread, at the end of its current turn of the event loop, with whatever else arrived
   *  in that turn (default 0: every batch goes to a worker). A hop to a worker costs the calling
   *  thread more than that (the task's message, its answer, a wake-up), which is all a cheap
   *  model's few rows take to score. Calibrated per model when it loads (docs/serve.md). */
  inlineMaxUs?: number;
}

export interface ScoreOptions {
  /** Another model file than the pool's own. */
  model?: string;
  format?: 'xgboost' | 'onnx';
  /** Rows still queued this long after score() are not scored: when their batch forms, score()
   *  rejects with SLUICE_TIMEOUT instead. */
  timeoutMs?: number;
  /** The caller hands `rows` over and never touches them again: the pool keeps them, uncopied. */
  handOver?: boolean;
}

interface Request {
  rows: Float32Array;
  nRows: number;
  queuedAtMs: number;
  /** performance.now() past which it is not scored. */
  deadlineMs: number;
  resolve: (scores: Float32Array) => void;
  reject: (e: unknown) => void;
}

/** The requests waiting for one model, oldest first. */
interface ModelQueue {
  model: Model;
  path: string;
  format: 'xgboost' | 'onnx';
  requests: Request[];
  rows: number;
  /** What a batch of this model costs on this thread; null: it never scores here. */
  cost: RowCost | null;
}

/** A model's scoring time on this thread: the first row of a call, and each row after it. */
export interface RowCost {
  firstUs: number;
  rowUs: number;
}

/** A batch's buffers, kept for the next batch: a SharedArrayBuffer's allocation (and the GC work
 *  its release makes) costs more than a small batch's scoring. */
interface BatchBuffers {
  rows: SharedArrayBuffer;
  out: SharedArrayBuffer;
}

/** 4096 rows: one call is then ~1 ms for a 100-tree model, long enough to amortize dispatch. */
const DEFAULT_MAX_BATCH_ROWS = 4096;
const DEFAULT_MAX_QUEUED_ROWS = 65536;

const timedOut = (r: Request, now: number) => new SluiceError('SLUICE_TIMEOUT', `not scored: still queued after its timeoutMs (${Math.round(now - r.queuedAtMs)} ms)`);

export class ScoringPool {
  private readonly pool: Piscina;
  /** Models loaded on this thread, by path: their widths, checked once, up front. */
  private readonly loaded = new Map<string, Promise<Model>>();
  /** The ones loaded by now, for score()'s path without an await. */
  private readonly ready = new Map<string, Model>();
  private readonly costs = new Map<string, RowCost | null>();
  private readonly spareBuffers: BatchBuffers[] = [];
  private inlineScheduled = false;
  private readonly queues = new Map<string, ModelQueue>();
  private queuedRows = 0;
  private inFlight = 0;
  private arriving = 0;
  private closed = false;
  private delayTimer: NodeJS.Timeout | null = null;
  private readonly roomWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private readonly threads: number;
  private readonly maxBatchRows: number;
  private readonly maxQueuedRows: number;
  private readonly maxDelayMs: number;
  private readonly inlineMaxUs: number;

  constructor(private readonly opts: ScoringPoolOptions) {
    this.threads = opts.threads ?? Math.max(1, os.availableParallelism() - 1);
    this.maxBatchRows = opts.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS;
    this.maxQueuedRows = Math.max(opts.maxQueuedRows ?? DEFAULT_MAX_QUEUED_ROWS, this.maxBatchRows);
    this.maxDelayMs = opts.maxDelayMs ?? 0;
    this.inlineMaxUs = opts.inlineMaxUs ?? 0;
    if (opts.model !== undefined) this.load(opts.model).catch(() => undefined);
    this.pool = new Piscina({ filename: path.join(__dirname, '..', '..', 'workers', 'score-worker.js'), minThreads: this.threads, maxThreads: this.threads });
  }

  /** The model file's shape (the pool's own by default); rejects if the file is bad. */
  async model(file = this.opts.model): Promise<Pick<Model, 'numFeatures' | 'numOutputs' | 'featureNames'>> {
    const m = await this.load(this.pathOf(file));
    return { numFeatures: m.numFeatures, numOutputs: m.numOutputs, featureNames: m.featureNames };
  }

  /** Rows waiting for a worker (not yet being scored). */
  get waitingRows(): number {
    return this.queuedRows;
  }

  /** Scores nRows rows (row-major, NaN = missing); resolves to nRows x numOutputs values (a view
   *  of the batch's scores, which nothing writes again). */
  score(rows: Float32Array, nRows: number, opts: ScoreOptions = {}): Promise<Float32Array> {
    // The common case without an await: the model is loaded and the queue has room.
    const file = opts.model ?? this.opts.model;
    const model = file === undefined ? undefined : this.ready.get(file);
    if (model === undefined || this.closed || nRows === 0 || this.queuedRows + nRows > this.maxQueuedRows) return this.scoreWhenReady(rows, nRows, opts);
    try {
      checkRows(file!, model.numFeatures, rows, nRows);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.push(file!, model, rows, nRows, opts);
  }

  private async scoreWhenReady(rows: Float32Array, nRows: number, opts: ScoreOptions): Promise<Float32Array> {
    if (this.closed) throw new SluiceError('SLUICE_RUNTIME', 'ScoringPool is closed');
    // Counted until queued, so a close() that starts meanwhile still waits for this call.
    this.arriving++;
    let queued: { result: Promise<Float32Array> };
    try {
      queued = await this.enqueue(rows, nRows, opts);
    } finally {
      this.arriving--;
      this.notifyIdle();
    }
    return queued.result;
  }

  /** Loads the model on this thread and on every worker, so that no request waits for a load
   *  (a 10 MB model takes a worker ~0.3 s). Tasks go to whichever worker is free, so rounds of
   *  them run until every worker has answered (a few rounds at most; a worker loads once). */
  async warm(file = this.opts.model, format?: 'xgboost' | 'onnx'): Promise<void> {
    const path = this.pathOf(file);
    await this.load(path);
    const task: WarmTask = { warm: path, format: format ?? formatOf(path) };
    const warmed = new Set<number>();
    for (let round = 0; round < 8 && warmed.size < this.threads; round++) {
      const ids = (await Promise.all(Array.from({ length: this.threads }, () => this.pool.run(task)))) as number[];
      for (const id of ids) warmed.add(id);
    }
  }

  /** Checks a candidate model version on a worker (SPEC §12 hot reload, off the main thread). */
  check(c: CandidateCheck): Promise<CheckOutcome> {
    return this.pool.run({ check: c });
  }

  private pathOf(file: string | undefined): string {
    if (file === undefined) throw new SluiceError('SLUICE_USAGE', 'ScoringPool: no model given (set options.model, or score(rows, n, { model }))');
    return file;
  }

  private load(file: string): Promise<Model> {
    let m = this.loaded.get(file);
    if (!m) {
      m = loadModel(file).then((model) => {
        this.costs.set(file, this.inlineMaxUs > 0 && model.predictSync ? calibrate(model) : null);
        this.ready.set(file, model);
        return model;
      });
      m.catch(() => undefined);
      this.loaded.set(file, m);
    }
    return m;
  }

  /** Waits for the model and for room, queues the request; the result comes later. */
  private async enqueue(rows: Float32Array, nRows: number, opts: ScoreOptions): Promise<{ result: Promise<Float32Array> }> {
    const file = this.pathOf(opts.model ?? this.opts.model);
    const model = await this.load(file);
    checkRows(file, model.numFeatures, rows, nRows);
    if (nRows === 0) return { result: Promise.resolve(new Float32Array(0)) };
    while (this.queuedRows + nRows > this.maxQueuedRows && this.queuedRows > 0) {
      if (this.opts.onFull === 'error') {
        throw new SluiceError('SLUICE_OVERLOADED', `ScoringPool queue is full (${this.queuedRows} rows queued, at most ${this.maxQueuedRows}); retry later or raise maxQueuedRows`);
      }
      await new Promise<void>((r) => this.roomWaiters.push(r));
      if (this.closed) throw new SluiceError('SLUICE_RUNTIME', 'ScoringPool is closed');
    }
    return { result: this.push(file, model, rows, nRows, opts) };
  }

  private push(file: string, model: Model, rows: Float32Array, nRows: number, opts: ScoreOptions): Promise<Float32Array> {
    let q = this.queues.get(file);
    if (!q) this.queues.set(file, (q = { model, path: file, format: opts.format ?? formatOf(file), requests: [], rows: 0, cost: this.costs.get(file) ?? null }));
    const queue = q;
    const now = performance.now();
    return new Promise<Float32Array>((resolve, reject) => {
      // Copied unless handed over: the caller may reuse its buffer as soon as score() returns.
      const own = opts.handOver ? rows.subarray(0, nRows * model.numFeatures) : rows.slice(0, nRows * model.numFeatures);
      queue.requests.push({ rows: own, nRows, queuedAtMs: now, deadlineMs: now + (opts.timeoutMs ?? Infinity), resolve, reject });
      queue.rows += nRows;
      this.queuedRows += nRows;
      this.pump(false);
    });
  }

  /** Rows queued past their timeoutMs leave the queue now (score() rejects with SLUICE_TIMEOUT),
   *  not when their batch forms: they no longer count as waiting. */
  dropExpired(): void {
    const now = performance.now();
    for (const q of this.queues.values()) {
      q.requests = q.requests.filter((r) => {
        if (r.deadlineMs >= now) return true;
        q.rows -= r.nRows;
        this.queuedRows -= r.nRows;
        r.reject(timedOut(r, now));
        return false;
      });
    }
    for (const w of this.roomWaiters.splice(0)) w();
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.queuedRows === 0 && this.inFlight === 0 && this.arriving === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Scores everything queued, then stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pump(true); // queued batches waiting out their delay go now
    while (this.queuedRows > 0 || this.inFlight > 0 || this.arriving > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    for (const w of this.roomWaiters.splice(0)) w();
    await this.pool.destroy();
  }

  /** Whether the queue's rows are cheap enough to score on this thread. */
  private inline(q: ModelQueue): boolean {
    return q.cost !== null && predictedUs(q.cost, q.rows) <= this.inlineMaxUs;
  }

  /**
   * Starts batches while workers are free. A queue cheap enough to score inline is left for the
   * end of this turn (runInline). Otherwise a model's queue is due when it holds maxBatchRows, or
   * its oldest request has waited maxDelayMs, or `flush`: a worker just finished, and what queued
   * meanwhile has waited for it already. The due queue with the oldest request goes first, taking
   * as many whole requests as fit. Otherwise a timer waits for the first to fall due.
   */
  private pump(flush: boolean): void {
    this.scheduleInline();
    while (this.inFlight < this.threads && this.queuedRows > 0) {
      const now = performance.now();
      let next: ModelQueue | null = null;
      let dueInMs = Infinity;
      for (const q of this.queues.values()) {
        if (q.requests.length === 0 || this.inline(q)) continue;
        const waitMs = flush || this.closed || q.rows >= this.maxBatchRows ? 0 : q.requests[0].queuedAtMs + this.maxDelayMs - now;
        if (waitMs > 0) dueInMs = Math.min(dueInMs, waitMs);
        else if (next === null || q.requests[0].queuedAtMs < next.requests[0].queuedAtMs) next = q;
      }
      if (next === null) {
        if (dueInMs < Infinity && this.delayTimer === null) {
          this.delayTimer = setTimeout(() => {
            this.delayTimer = null;
            this.pump(false);
          }, Math.ceil(dueInMs));
        }
        return;
      }
      this.dispatch(next, now);
      this.scheduleInline(); // what a worker's batch left behind may now be cheap enough
    }
  }

  /** Schedules runInline for the end of this turn if a queue is cheap enough to score here. */
  private scheduleInline(): void {
    if (this.inlineMaxUs <= 0 || this.inlineScheduled) return;
    for (const q of this.queues.values()) {
      if (q.requests.length === 0 || !this.inline(q)) continue;
      this.inlineScheduled = true;
      setImmediate(() => this.runInline());
      return;
    }
  }

  /** Scores every queue still cheap enough here, each in one call; the rest go to workers. */
  private runInline(): void {
    this.inlineScheduled = false;
    for (const q of this.queues.values()) {
      if (q.requests.length === 0 || !this.inline(q)) continue;
      const now = performance.now();
      const { batch, nRows } = this.take(q, now, this.maxBatchRows);
      if (batch.length === 0) continue;
      this.opts.onBatch?.(nRows, true);
      const rows = batch.length === 1 ? batch[0].rows : gather(batch, new Float32Array(nRows * q.model.numFeatures), q.model.numFeatures);
      let out: Float32Array;
      try {
        out = q.model.predictSync!(rows, nRows);
      } catch (e) {
        for (const r of batch) r.reject(e);
        continue;
      }
      scatter(batch, out, q.model.numOutputs);
    }
    this.pump(false);
    this.notifyIdle();
  }

  /** Whole requests from the front of q, up to maxRows rows (at least one request); those past
   *  their deadline are rejected instead. */
  private take(q: ModelQueue, now: number, maxRows: number): { batch: Request[]; nRows: number } {
    const batch: Request[] = [];
    let n = 0;
    while (q.requests.length > 0 && (batch.length === 0 || n + q.requests[0].nRows <= maxRows)) {
      const r = q.requests.shift()!;
      q.rows -= r.nRows;
      this.queuedRows -= r.nRows;
      if (r.deadlineMs < now) {
        r.reject(timedOut(r, now));
        continue;
      }
      batch.push(r);
      n += r.nRows;
    }
    for (const w of this.roomWaiters.splice(0)) w();
    return { batch, nRows: n };
  }

  private dispatch(q: ModelQueue, now: number): void {
    const { batch, nRows: n } = this.take(q, now, this.maxBatchRows);
    if (batch.length === 0) return;
    this.opts.onBatch?.(n, false);
    this.inFlight++;
    this.run(q, batch, n).finally(() => {
      this.inFlight--;
      this.pump(true);
      this.notifyIdle();
    });
  }

  private async run(q: ModelQueue, batch: Request[], nRows: number): Promise<void> {
    const F = q.model.numFeatures;
    const K = q.model.numOutputs;
    const buffers = this.buffers(nRows * F * 4, nRows * K * 4);
    gather(batch, new Float32Array(buffers.rows, 0, nRows * F), F);
    const out = new Float32Array(buffers.out, 0, nRows * K);
    try {
      const task: ScoreTask = { modelPath: q.path, format: q.format, rows: buffers.rows, nRows, out: buffers.out };
      await this.pool.run(task);
      // Copied out once: the buffers go to the next batch.
      scatter(batch, out.slice(), K);
    } catch (e) {
      for (const r of batch) r.reject(e);
    }
    // A worker that threw or died no longer writes them.
    if (this.spareBuffers.length < this.threads) this.spareBuffers.push(buffers);
  }

  /** Spare buffers that hold a batch of these sizes, or new ones (sized up, to be kept). */
  private buffers(rowBytes: number, outBytes: number): BatchBuffers {
    const i = this.spareBuffers.findIndex((b) => b.rows.byteLength >= rowBytes && b.out.byteLength >= outBytes);
    if (i >= 0) return this.spareBuffers.splice(i, 1)[0];
    if (this.spareBuffers.length >= this.threads) this.spareBuffers.shift(); // too small: let one go
    const size = (bytes: number) => Math.max(4096, 2 ** Math.ceil(Math.log2(bytes)));
    return { rows: new SharedArrayBuffer(size(rowBytes)), out: new SharedArrayBuffer(size(outBytes)) };
  }
}

/** The batch's requests' rows, one after another, into `rows` (F values a row). */
function gather(batch: Request[], rows: Float32Array, F: number): Float32Array {
  let at = 0;
  for (const r of batch) {
    rows.set(r.rows, at * F);
    at += r.nRows;
  }
  return rows;
}

/** Each request gets its rows' scores (K a row): a view of `scores`, which nothing writes again. */
function scatter(batch: Request[], scores: Float32Array, K: number): void {
  let at = 0;
  for (const r of batch) {
    r.resolve(scores.subarray(at * K, (at + r.nRows) * K));
    at += r.nRows;
  }
}

/** A call of n rows, in µs. */
function predictedUs(cost: RowCost, n: number): number {
  return cost.firstUs + (n - 1) * cost.rowUs;
}

/** Times predictSync on 1 and on 64 synthetic rows (fastest of a few tries, after a warm-up);
 *  null (never inline) if it throws on them. */
function calibrate(model: Model): RowCost | null {
  try {
    return timeCalls(model);
  } catch {
    return null;
  }
}

function timeCalls(model: Model): RowCost {
  const n = 64;
  const rows = new Float32Array(n * model.numFeatures);
  let seed = 12345;
  for (let i = 0; i < rows.length; i++) rows[i] = ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 4 - 2;
  const fastestUs = (nRows: number) => {
    let best = Infinity;
    for (let t = 0; t < 5; t++) {
      const t0 = performance.now();
      model.predictSync!(rows, nRows);
      best = Math.min(best, performance.now() - t0);
    }
    return best * 1000;
  };
  fastestUs(n);
  const firstUs = fastestUs(1);
  return { firstUs, rowUs: Math.max(0, (fastestUs(n) - firstUs) / (n - 1)) };
}
