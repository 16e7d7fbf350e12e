// The main thread (SPEC §1) as stages, each its own module; a batch goes through them in order:
//   read + decode  the loop below: raw batches from the source, decoded into columns
//   route          route.ts: the watermark moved event by event, events grouped by key partition
//   dispatch       dispatch.ts: one task per worker thread on the pool; partition states kept
//   emit           emitter.ts: the outputs written in the order of a one-event-at-a-time run
//   checkpoint     checkpoints.ts: at a batch boundary, in the background
import * as os from 'node:os';
import type { JobConfig } from '../config/types';
import { isShorthand } from '../config/plan';
import { DecodedEvents } from '../decode/decoder';
import { NativeJsonDecoder } from '../decode/native-decoder';
import type { RawBatch } from '../decode/raw-batch';
import { SluiceError } from '../errors';
import { planFeatures } from '../features/plan';
import type { ScoringPlan } from '../models/plan';
import { ModelRegistry } from '../models/registry';
import { Arena, type PartitionState } from '../state/arena';
import type { EventBatch } from '../state/batch';
import type { Checkpoint, StateStore } from '../state/store';
import { WatermarkTracker } from '../time/watermark';
import { Checkpointer, PositionTracker, type CheckpointAt } from './checkpoints';
import { Dispatcher, type FailTask, type TimeoutPolicy } from './dispatch';
import { EmitQueue } from './emit-queue';
import { Emitter, type Emitted, type FiredOutput } from './emitter';
import { WindowPool } from './pool';
import { noMetrics, type Changelog, type JobSinks, type EngineMetrics, type Source } from './ports';
import { PartitionOwner } from './partitions';
import { Rebalancer } from './rebalance';
import type { PartitionIdentity } from '../state/partition-log';
import type { WorkerJobSpec } from './protocol';
import { Router } from './route';
import { SummaryBuilder, type Summary } from './summary';
import { warmUp } from './warm-up';

export interface EngineOptions {
  /** Key partitions (state shards). Fixed for a job's life: state is laid out by it. */
  keyPartitions?: number;
  /** Raw records per batch. Batching never changes outputs, only speed. */
  batchSize?: number;
  /** Wall clock for idle timeouts; tests pass their own. */
  nowMs?: () => number;
  /** Tests only: fail the task of this (batch number, partition) once, part-way. */
  failTask?: FailTask;
  /** Tests only: per-event tasks run inline always, or by turns with the workers, whatever they
   *  cost and whatever the source has waiting. */
  inline?: 'always' | 'by-turns';
  /** Tests only: make the tasks of the first batch read after `afterEvents` events take `ms`
   *  longer (a slow handler). */
  slowBatch?: { afterEvents: number; ms: number };
  /** Called after each batch's records are written (progress display). */
  onProgress?: (p: Progress) => void;
}

/** Where a run is, after a batch (the live progress line). */
export interface Progress {
  events: number;
  watermarkMs: number;
  openWindows: number;
  /** Records behind the source partitions' ends (Kafka); null for other sources. */
  lagRecords: number | null;
  lateEvents: number;
  deadLetters: number;
}

/** The engine's outside world, built by src/app from the job file. */
export interface EngineIo {
  source: Source;
  sinks: JobSinks;
  metrics?: EngineMetrics;
  /** Durable state (sources that can resume): where checkpoints go, and the one to start from. */
  state?: DurableState;
  /** State per source partition through a changelog topic (SPEC §15); needs `state`. */
  changelog?: { log: Changelog; identity: PartitionIdentity };
}

export interface DurableState {
  store: StateStore;
  restored: Checkpoint | null;
  /** Time it took to open the store and load `restored`, ms. */
  restoreMs: number;
}

/** 16 key partitions: enough to keep 2-8 threads busy with uneven keys, few enough that per-task
 *  overhead stays small. */
export const DEFAULT_KEY_PARTITIONS = 16;
/** 32k records per batch amortizes a task's fixed cost; small enough to keep latency in ms. */
export const DEFAULT_BATCH_SIZE = 65_536;
/** Batches decoded ahead of the one being written: keeps workers fed without unbounded memory. */
const MAX_BATCHES_IN_FLIGHT = 3;
/** A live source with fewer records than this waiting gets its next batch only once the last
 *  one is written: meanwhile its records gather into one batch. A batch has a fixed cost (a task
 *  per key partition: its state copied, its outputs merged; measured ~2.5 ms), so a stream of
 *  batches of a few hundred records spent most of its time on it; gathered, a record waits at
 *  most for the batch before its own. */
const SMALL_BATCH_RECORDS = 4096;

interface BatchWork {
  raw: RawBatch;
  decoded: DecodedEvents;
  batch: EventBatch;
  startedAtMs: number;
  /** The global step of each decoded event (ascending). */
  eventSeq: Float64Array;
  outputs: Promise<FiredOutput[]>;
  /** Resolves once the model versions its tasks may use are recorded (SPEC §12). */
  modelsRecorded: Promise<void>;
  /** Set on batches a checkpoint is taken after. */
  checkpoint?: CheckpointAt;
}

/** For the message of a task past its timeout: the model file (the shorthand) or the variants. */
function timeoutPolicy(job: JobConfig): TimeoutPolicy {
  const only = job.models[job.scoring.variants[0].model];
  const shorthand = isShorthand(job) && (only.type === 'xgboost' || only.type === 'onnx');
  return {
    models: shorthand && 'source' in only ? only.source : job.scoring.variants.map((v) => v.model).join(', '),
    at: shorthand ? 'model' : 'scoring',
    onTimeout: job.scoring.onTimeout,
    fallback: job.scoring.onError !== null,
    timeoutMs: job.scoring.timeoutMs,
  };
}

/** What window workers need of a job (src/runtime/protocol.ts). */
export function workerJobSpec(job: JobConfig, scoring: ScoringPlan, jobId: string): WorkerJobSpec {
  return {
    jobId,
    mode: job.mode,
    window: job.window,
    features: job.features,
    scoring,
    records: {
      featureNames: job.features.map((f) => f.name),
      outputName: job.scoring.output,
      keyFormat: job.sink.type === 'kafka' ? job.sink.keyFormat : 'key',
      modelTimeoutMs: job.scoring.timeoutMs,
      mode: job.mode,
      eventId: job.eventId !== undefined,
    },
  };
}

export class Engine {
  private stopped = false;
  private readonly keyPartitions: number;
  private readonly batchSize: number;
  private readonly nowMs: () => number;

  constructor(
    private readonly job: JobConfig,
    private readonly io: EngineIo,
    private readonly opts: EngineOptions = {},
  ) {
    this.keyPartitions = opts.keyPartitions ?? DEFAULT_KEY_PARTITIONS;
    // Per-event mode scores each source batch as it comes, cut at scoring.maxBatchRows (SPEC §13).
    const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.batchSize = job.mode === 'per-event' ? Math.min(batchSize, job.scoring.maxBatchRows) : batchSize;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** Stops reading; what was read is processed and written. Open windows are not flushed. */
  stop(): void {
    this.stopped = true;
  }

  async run(): Promise<Summary> {
    const job = this.job;
    const startedAt = performance.now();
    const durable = this.io.state;
    const restored = durable?.restored ?? null;
    const metrics = this.io.metrics ?? noMetrics;
    const models = await ModelRegistry.open(job, { store: durable?.store, metrics });
    const scoring = models.plan;
    const plan = planFeatures(job.features, job.window.type === 'session');
    const spec = workerJobSpec(job, scoring, `${job.name}:${process.pid}:${startedAt}`);
    const { source, sinks } = this.io;
    const threads = job.workers.threads > 0 ? job.workers.threads : Math.max(1, os.availableParallelism() - 1);
    const pool = new WindowPool(threads, spec, job.scoring.timeoutMs, job.workers.inlineMaxUs, this.opts.inline);
    pool.onRetry = () => metrics.error('task-retry');
    // The decoder also interns keys: key ids, names and key partitions come from it.
    const decoder = new NativeJsonDecoder(
      { keyPath: job.source.key, timestampPath: job.source.timestamp, fieldPaths: plan.fieldPaths, transforms: plan.transforms, eventIdPath: job.eventId, maxEventBytes: job.source.maxMessageBytes },
      this.keyPartitions,
    );
    // With a changelog, key partitions are the source partitions, each with its own state and
    // watermark (SPEC §15); idleTimeoutMs does not apply.
    const changelog = this.io.changelog && durable ? this.io.changelog : null;
    const P = changelog ? source.numPartitions : this.keyPartitions;
    if (restored && restored.states.length !== P) throw new SluiceError('SLUICE_STATE', `the checkpoint has ${restored.states.length} key partitions, the job ${P}`);
    if (restored) decoder.restoreKeys(restored.keys);
    const elu = performance.eventLoopUtilization();
    const tracker = new WatermarkTracker(source.numPartitions, job.watermark.maxOutOfOrdernessMs, changelog ? 0 : job.watermark.idleTimeoutMs, this.nowMs());
    if (restored) tracker.restore(restored.maxEventTimeMs, restored.watermarkMs);
    const summary = new SummaryBuilder();
    summary.startedAtMs = startedAt;

    // The stages, in the order a batch goes through them.
    const owner = changelog ? new PartitionOwner(changelog.log, durable!.store, changelog.identity, plan.slotWords, { intern: (name) => decoder.internKey(name), name: (id) => decoder.keyName(id) }, metrics) : null;
    const router = new Router(tracker, owner ? { by: 'source', keyIn: (id, p) => owner.keyIn(id, p) } : { by: 'key', partitionOf: (id) => decoder.partitionOf(id) }, P, this.nowMs);
    const states = restored ? restored.states : Array.from({ length: P }, () => Arena.create(plan.slotWords));
    const dispatcher = new Dispatcher(pool, states, timeoutPolicy(job), summary, metrics, (s) => models.noteSamples(s), this.opts.failTask);
    const emitter = new Emitter(sinks, summary, metrics, () => decoder.keyNames);
    // Checkpoints every checkpointIntervalMs, and at the end or on stop (durable state only).
    const positions = durable ? new PositionTracker(source.startPositions ?? [], source.numPartitions) : null;
    const checkpointer = durable ? new Checkpointer(owner ?? durable.store, source, restored?.id ?? null, durable.restoreMs, metrics) : null;
    const checkpointEveryMs = job.state.checkpointIntervalMs;
    let lastCheckpointAtMs = this.nowMs();

    let batchNumber = 0;
    let eventsRead = 0;
    let slowDone = false;
    // Memory of written batches, reused for the next ones: less allocation, far less GC.
    const spareBatches: SharedArrayBuffer[] = [];
    const spareDecoded: DecodedEvents[] = [];
    const recycle = (work: BatchWork) => {
      source.release?.(work.raw);
      if (spareBatches.length < MAX_BATCHES_IN_FLIGHT) spareBatches.push(work.batch.buffer);
      if (spareDecoded.length < MAX_BATCHES_IN_FLIGHT) spareDecoded.push(work.decoded);
    };
    const eventsPerPartition = new Float64Array(source.numPartitions);
    /** A written batch's figures: metrics, the summary, the progress line. */
    const account = (work: BatchWork, emitted: Emitted, latencyMs: number) => {
      const { raw, decoded } = work;
      const open = dispatcher.totalOpenWindows;
      summary.peakOpenWindows = Math.max(summary.peakOpenWindows, open);
      summary.peakStateBytes = Math.max(summary.peakStateBytes, dispatcher.totalStateBytes);
      metrics.openWindows(open);
      metrics.resultLatency(latencyMs / 1000, emitted.results + emitted.retractions);
      metrics.revisions(emitted.revisions);
      metrics.retractions(emitted.retractions);
      eventsPerPartition.fill(0);
      for (let i = 0; i < raw.count; i++) eventsPerPartition[raw.partition[i]]++;
      for (let p = 0; p < eventsPerPartition.length; p++) if (eventsPerPartition[p] > 0) metrics.eventsIn(p, eventsPerPartition[p]);
      metrics.eventsWindowed(decoded.count - emitted.late);
      for (const b of models.breakerStates()) metrics.modelBreaker(b.model, b.open);
      const lag = source.lag?.();
      for (const { partition, records } of lag ?? []) metrics.consumerLag(partition, records);
      summary.events += raw.count;
      this.opts.onProgress?.({
        events: summary.events,
        watermarkMs: tracker.current,
        openWindows: open,
        lagRecords: lag ? lag.reduce((n, l) => n + l.records, 0) : null,
        lateEvents: summary.lateEvents,
        deadLetters: summary.deadLetters,
      });
    };

    const emit = async (work: BatchWork) => {
      const outputs = await work.outputs;
      await work.modelsRecorded;
      const emitted = await emitter.emit(work, outputs);
      const latencyMs = performance.now() - work.startedAtMs; // read to written
      // The boundary: everything written so far is before it. Staging, acknowledgements, the
      // write and the commit follow in the background (src/runtime/checkpoints.ts).
      const at = work.checkpoint;
      if (checkpointer && at) checkpoint(at, () => dispatcher.unpin(at.states));
      recycle(work);
      account(work, emitted, latencyMs);
    };

    /** Takes a checkpoint at `at` in the background; `done` once it is staged. */
    const checkpoint = (at: CheckpointAt, done: () => void) => {
      const keysFrom = (from: number) => decoder.keysFrom(from);
      checkpointer!.takeAfter(at, sinks, async (sinkBytes) => {
        try {
          if (owner) return owner.stage(at.states, at.positions, at.watermarks.maxEventTimeMs);
          return await durable!.store.stage(at.states, plan.slotWords, keysFrom, { positions: at.positions, ...at.watermarks, sinkBytes }, models.checkpointEntries());
        } finally {
          done();
        }
      });
    };

    /** Routes the batch, then starts its tasks. */
    const submit = (raw: RawBatch, decoded: DecodedEvents, finalStep: boolean, checkpointAfter: boolean, live: boolean) => {
      const startedAtMs = raw.receivedAtMs ?? performance.now();
      const { batch, eventSeq } = router.route(raw, decoded, finalStep, spareBatches.pop());
      const number = batchNumber++;
      positions?.note(raw.count, raw.partition, raw.offset);
      metrics.batch(raw.count, inFlight.pending.length + 1);
      const load = pool.load;
      metrics.pool(load.queued, load.busy);
      metrics.watermark(tracker.current);
      const checkpoint = checkpointAfter && positions ? { states: new Array<PartitionState>(P), positions: positions.current, watermarks: tracker.snapshot() } : undefined;
      const slow = this.opts.slowBatch;
      const delayMs = slow && !slowDone && decoded.count > 0 && eventsRead - decoded.count >= slow.afterEvents ? ((slowDone = true), slow.ms) : undefined;
      // The batch's keys are all in the table as it is now (later batches only add to it).
      // The versions as of now: a version accepted later takes over after every event routed so far.
      const outputs = dispatcher.dispatch(batch, number, decoder.keyNames.buffers, models.versions, { pinTo: checkpoint?.states, delayMs, live });
      inFlight.push({ raw, decoded, batch, startedAtMs, eventSeq, outputs, modelsRecorded: models.durable, checkpoint });
    };

    // Declared after emit and submit, which use it only once the loop below runs.
    const inFlight = new EmitQueue<BatchWork>(emit);
    // Rebalances of a changelog job: the pipeline pauses between batches while partitions move.
    const rebalancer = owner
      ? new Rebalancer(owner, dispatcher, tracker, positions!, metrics, async () => {
          await inFlight.below(1);
          await checkpointer!.idle();
          checkpointer!.throwIfFailed();
        }, async () => {
          checkpoint({ states: dispatcher.current.slice(), positions: positions!.current, watermarks: tracker.snapshot() }, () => undefined);
          await checkpointer!.idle();
          checkpointer!.throwIfFailed();
        }, () => Arena.create(plan.slotWords))
      : null;
    if (rebalancer) source.listen?.(rebalancer);
    let failure: unknown = null;
    let endedAtMs = 0;
    try {
      await warmUp(pool, plan.slotWords, plan.fieldPaths.length);
      const ends = source.endsAtOpen;
      if (models.polls) pool.startChecker();
      models.startPolling((c) => pool.checkCandidate(c), () => tracker.maxEventTimeMs, () => !positions || !ends || positions.reached(ends), () => tracker.current === Infinity);
      // Ready once the model is loaded, the state restored and the sinks open (all done by now)
      // and the source reads: a consumer group has assigned it partitions (with a changelog:
      // while it holds them, restored).
      let ready = false;
      const checkReady = () => {
        const now = source.joined ?? true;
        if (now !== ready) metrics.ready((ready = now));
      };
      checkReady();
      /** A live source with little waiting (SMALL_BATCH_RECORDS); a bounded one has plenty. */
      const keepingUp = () => (source.queuedRecords ?? Infinity) < SMALL_BATCH_RECORDS;
      for await (const raw of source.batches(this.batchSize)) {
        await rebalancer?.between();
        checkReady();
        if (raw.count > 0) summary.firstRecordAtMs ??= raw.receivedAtMs ?? performance.now();
        // A live source keeping up: its batch's tasks may run on this thread (WindowPool.run).
        const live = keepingUp();
        const decoded = spareDecoded.pop() ?? new DecodedEvents(raw.count, plan.fieldPaths.length);
        decoder.decode(raw, decoded);
        eventsRead += raw.count;
        checkpointer?.throwIfFailed();
        // One checkpoint at a time: while one is being written, the next waits for a later batch.
        const checkpointNow = checkpointer !== null && !checkpointer.busy && this.nowMs() - lastCheckpointAtMs >= checkpointEveryMs;
        if (checkpointNow) lastCheckpointAtMs = this.nowMs();
        submit(raw, decoded, false, checkpointNow, live);
        await inFlight.below(keepingUp() ? 1 : MAX_BATCHES_IN_FLIGHT);
        // Let finished tasks hand their partitions on before the next batch is read and decoded.
        await new Promise((resolve) => setImmediate(resolve));
        if (this.stopped) break;
      }
      // A bounded source ends with the watermark at +Infinity: every window fires and is purged.
      // Then (or after stop()) a last checkpoint holds what was processed.
      // No switch after this: the end fires every window, whatever its end.
      await models.stop();
      const ending = !this.stopped && tracker.current !== Infinity;
      if (ending || checkpointer) {
        const empty: RawBatch = { count: 0, values: [], partition: new Int32Array(0), offset: new Float64Array(0), recordTimestampMs: new Float64Array(0), topicOf: () => '', finished: [] };
        await checkpointer?.idle();
        submit(empty, new DecodedEvents(0, plan.fieldPaths.length), ending, checkpointer !== null, false);
      }
      await inFlight.below(1);
      await checkpointer?.idle();
      checkpointer?.throwIfFailed();
      endedAtMs = performance.now();
    } catch (e) {
      failure = e;
      metrics.error('fatal');
    } finally {
      metrics.ready(false);
      await Promise.allSettled(inFlight.pending.map((w) => w.outputs));
      await checkpointer?.idle();
      await source.close();
      await pool.close();
      await models.close();
      for (const s of [sinks.results, sinks.late, sinks.deadLetters, sinks.shadow]) await s?.close().catch(() => undefined);
    }
    if (failure) throw failure instanceof SluiceError ? failure : new SluiceError('SLUICE_RUNTIME', (failure as Error).message ?? String(failure), { cause: failure });
    const mainBusyMs = performance.eventLoopUtilization(elu).active;
    summary.checkpoints = checkpointer ? { ...checkpointer.stats(), ...(rebalancer ? { partitions: rebalancer.stats() } : {}) } : null;
    summary.groupJoinMs = source.groupJoinMs ?? null;
    return summary.finish(performance.now() - startedAt, endedAtMs, { results: sinks.results.where, late: sinks.late.where, deadLetters: sinks.deadLetters.where, shadow: sinks.shadow?.where }, pool.retries, threads, mainBusyMs, job.mode, sinks.results.ackLatency);
  }
}
