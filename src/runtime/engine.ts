// The main thread (SPEC §1): read raw batches, decode them, move the watermark event by event,
// route events to key partitions, run one task per partition on the pool (never two at once for
// a partition), and write the partitions' outputs back in the order a one-event-at-a-time run
// would have produced them.
import * as os from 'node:os';
import type { JobConfig } from '../config/types';
import { checkModelInputs } from '../config/plan';
import { DecodedEvents } from '../decode/decoder';
import { NativeJsonDecoder } from '../decode/native-decoder';
import type { RawBatch } from '../decode/raw-batch';
import { SluiceError } from '../errors';
import { planFeatures } from '../features/plan';
import { loadModel } from '../scoring/load-model';
import { Arena, type PartitionState } from '../state/arena';
import { EventBatch, BatchHeader } from '../state/batch';
import { TaskOutput } from '../state/output';
import { WatermarkTracker } from '../time/watermark';
import type { Checkpoint, StateStore } from '../state/store';
import { Checkpointer, PositionTracker } from './checkpoints';
import { EmitQueue } from './emit-queue';
import { Emitter, type FiredOutput } from './emitter';
import { warmUp } from './warm-up';
import { TaskTimeout, WindowPool } from './pool';
import { noMetrics, type EngineMetrics, type JobSinks, type Source } from './ports';
import type { PartitionWork, WorkerJobSpec } from './protocol';
import type { KeyNamesBuffers } from '../decode/key-names';
import { logger } from '../log';
import { SummaryBuilder, type Summary } from './summary';

const log = logger('engine');

export interface EngineOptions {
  /** Key partitions (state shards). Fixed for a job's life: state is laid out by it. */
  keyPartitions?: number;
  /** Raw records per batch. Batching never changes outputs, only speed. */
  batchSize?: number;
  /** Wall clock for idle timeouts; tests pass their own. */
  nowMs?: () => number;
  /** Tests only: fail the task of this (batch number, partition) once, part-way. */
  failTask?: { batch: number; partition: number; how: 'throw' | 'exit' };
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
  /** Set on batches a checkpoint is taken after. */
  checkpoint?: CheckpointAt;
}

interface CheckpointAt {
  /** Per key partition, its state after the batch (filled in as the batch's tasks finish; kept
   *  from reuse as a task's spare until staged). */
  states: PartitionState[];
  positions: Array<number | null>;
  watermarks: ReturnType<WatermarkTracker['snapshot']>;
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
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** Stops reading; what was read is processed and written. Open windows are not flushed. */
  stop(): void {
    this.stopped = true;
  }

  async run(): Promise<Summary> {
    const job = this.job;
    const startedAt = performance.now();
    const model = await loadModel(job.model.path, { format: job.model.type, maxBytes: job.model.maxBytes });
    const inputFeature = checkModelInputs(job, model);
    const plan = planFeatures(job.features, job.window.type === 'session');
    const spec: WorkerJobSpec = {
      jobId: `${job.name}:${process.pid}:${startedAt}`,
      window: job.window,
      features: job.features,
      model: { type: job.model.type, path: job.model.path, inputFeature, numOutputs: model.numOutputs },
      records: {
        featureNames: job.features.map((f) => f.name),
        outputName: job.model.output,
        keyFormat: job.sink.type === 'kafka' ? job.sink.keyFormat : 'key',
        modelTimeoutMs: job.model.timeoutMs,
      },
    };
    const { source, sinks } = this.io;
    const metrics = this.io.metrics ?? noMetrics;
    const threads = job.workers.threads > 0 ? job.workers.threads : Math.max(1, os.availableParallelism() - 1);
    const pool = new WindowPool(threads, spec, job.model.timeoutMs);
    pool.onRetry = () => metrics.error('task-retry');
    // The decoder also interns keys: key ids, names and key partitions come from it.
    const decoder = new NativeJsonDecoder(
      { keyPath: job.source.key, timestampPath: job.source.timestamp, fieldPaths: plan.fieldPaths, maxEventBytes: job.source.maxMessageBytes },
      this.keyPartitions,
    );
    const P = this.keyPartitions;
    const durable = this.io.state;
    const restored = durable?.restored ?? null;
    if (restored && restored.states.length !== P) throw new SluiceError('SLUICE_STATE', `the checkpoint has ${restored.states.length} key partitions, the job ${P}`);
    const states: PartitionState[] = restored ? restored.states : Array.from({ length: P }, () => Arena.create(plan.slotWords));
    const spares: Array<PartitionState | undefined> = new Array(P);
    const openWindows = new Float64Array(P);
    const stateBytes = new Float64Array(P);
    const elu = performance.eventLoopUtilization();
    const nextTimerMs = new Float64Array(P).fill(Infinity);
    for (let p = 0; p < P; p++) ({ liveSlots: openWindows[p], nextTimerMs: nextTimerMs[p] } = Arena.peek(states[p]));
    if (restored) decoder.restoreKeys(restored.keys);
    // States a checkpoint still has to stage: not to be reused as a task's spare (count per state).
    const pinned = new Map<PartitionState, number>();
    const unpin = (list: PartitionState[]) => list.forEach((s) => (pinned.get(s)! > 1 ? pinned.set(s, pinned.get(s)! - 1) : pinned.delete(s)));
    // Key partitions go to the pool in groups, one task per worker thread per batch; partition p is
    // always in group p % groups.length, so its tasks still run one at a time, in order.
    const groups: number[][] = Array.from({ length: Math.min(P, threads) }, () => []);
    for (let p = 0; p < P; p++) groups[p % groups.length].push(p);
    const chains: Array<Promise<unknown>> = groups.map(() => Promise.resolve());
    const tracker = new WatermarkTracker(source.numPartitions, job.watermark.maxOutOfOrdernessMs, job.watermark.idleTimeoutMs, this.nowMs());
    if (restored) tracker.restore(restored.maxEventTimeMs, restored.watermarkMs);
    const summary = new SummaryBuilder();
    summary.startedAtMs = startedAt;
    // Checkpoints every checkpointIntervalMs, and at the end or on stop (durable state only).
    const positions = durable ? new PositionTracker(source.startPositions ?? [], source.numPartitions) : null;
    const checkpointer = durable ? new Checkpointer(durable.store, source, restored?.id ?? null, durable.restoreMs, metrics) : null;
    const checkpointEveryMs = job.state.checkpointIntervalMs;
    const eventsPerPartition = new Float64Array(source.numPartitions);
    let lastCheckpointAtMs = this.nowMs();
    let seq = 0;
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

    /** A pooled task; past model.timeoutMs, onTimeout decides: fail the job, or run it again
     *  without the model and dead-letter its windows. */
    const runTask = async (batch: SharedArrayBuffer, keys: KeyNamesBuffers, parts: PartitionWork[]) => {
      try {
        return await pool.run({ batch, keys, parts });
      } catch (e) {
        if (!(e instanceof TaskTimeout)) throw e;
        metrics.error('model-timeout');
        const what = `model ${job.model.path}: ${e.message} (model.timeoutMs): its model call hung or is too slow`;
        if (job.model.onTimeout === 'fail') throw new SluiceError('SLUICE_RUNTIME', `${what}; raise model.timeoutMs, or set model.onTimeout: dead-letter to go on without those windows' scores`);
        log.warn(`${what}; its windows go to the dead letters unscored (model.onTimeout: dead-letter)`);
        return pool.run({ batch, keys, parts: parts.map((p) => ({ ...p, noScore: true, delayMs: undefined })) });
      }
    };

    const dispatch = (batch: EventBatch, number: number, checkpoint?: CheckpointAt): Promise<FiredOutput[]> => {
      const watermarkAfterMs = batch.watermarkAfterMs;
      // The batch's keys are all in the table as it is now (later batches only add to it).
      const keys = decoder.keyNames.buffers;
      const slow = this.opts.slowBatch;
      const delayMs = slow && !slowDone && batch.header[BatchHeader.NumEvents] > 0 && eventsRead - batch.header[BatchHeader.NumEvents] >= slow.afterEvents ? ((slowDone = true), slow.ms) : undefined;
      const tasks: Array<Promise<FiredOutput[]>> = [];
      for (let g = 0; g < groups.length; g++) {
        // A group's task waits for its previous one; only then are its partitions' next timers
        // known, so the check whether a partition without events has windows to fire is made in
        // the chain.
        const run = chains[g].then(async (): Promise<FiredOutput[]> => {
          const parts: PartitionWork[] = [];
          for (const p of groups[g]) {
            const events = batch.partitionStart[p + 1] - batch.partitionStart[p];
            if (events === 0 && !(nextTimerMs[p] <= watermarkAfterMs)) continue;
            const fail = this.opts.failTask && this.opts.failTask.batch === number && this.opts.failTask.partition === p ? this.opts.failTask.how : undefined;
            parts.push({ partition: p, state: states[p], spare: spares[p], failMidTask: fail, delayMs });
          }
          const results = parts.length > 0 ? await runTask(batch.buffer, keys, parts) : [];
          const outs = results.map((r, i) => {
            const p = parts[i].partition;
            // Nothing reads the old state any more (unless a checkpoint has yet to stage it): the next
            // task copies into it. Copying into fresh memory instead would leave a partition's worth
            // of SharedArrayBuffers for the garbage collector per task, and it frees them far too
            // late (measured: RSS grew without bound).
            spares[p] = pinned.has(states[p]) ? undefined : states[p];
            states[p] = r.state;
            summary.workerBusyMs += r.busyMs;
            metrics.scored(r.scoredRows, r.scoreMs / 1000);
            openWindows[p] = r.openWindows;
            stateBytes[p] = r.stateBytes;
            nextTimerMs[p] = r.nextTimerMs;
            summary.lateEvents += r.counters.lateEvents;
            summary.expiredAssignments += r.counters.expiredAssignments;
            metrics.lateEvents(r.counters.lateEvents);
            metrics.expiredAssignments(r.counters.expiredAssignments);
            return { out: new TaskOutput(r.output), records: r.records, unscored: r.unscored === true };
          });
          // The group's partitions as of this batch: what a checkpoint after it holds.
          if (checkpoint) for (const p of groups[g]) pinned.set((checkpoint.states[p] = states[p]), (pinned.get(states[p]) ?? 0) + 1);
          return outs;
        });
        chains[g] = run.catch(() => undefined);
        tasks.push(run);
      }
      return Promise.all(tasks).then((outs) => outs.flat());
    };

    const emitter = new Emitter(sinks, summary, metrics, () => decoder.keyNames);
    const emit = async (work: BatchWork) => {
      const { raw, decoded } = work;
      const emitted = await emitter.emit(work, await work.outputs);
      const latencyMs = performance.now() - work.startedAtMs; // read to written
      if (checkpointer && work.checkpoint) {
        // The boundary: everything written so far is before it. Staging, acknowledgements, the
        // write and the commit follow in the background (src/runtime/checkpoints.ts).
        const acked = [sinks.results.flush(), sinks.late.flush(), sinks.deadLetters.flush()];
        const sinkBytes: Record<string, number> = {};
        for (const name of ['results', 'late', 'deadLetters'] as const) if (sinks[name].bytes !== undefined) sinkBytes[name] = sinks[name].bytes!;
        const { states: snapshot, positions: at, watermarks } = work.checkpoint;
        const stage = () => durable!.store.stage(snapshot, plan.slotWords, (from) => decoder.keysFrom(from), { positions: at, ...watermarks, sinkBytes }).finally(() => unpin(snapshot));
        void checkpointer.take(stage, acked, at).catch(() => undefined);
      }
      recycle(work);
      const open = openWindows.reduce((a, b) => a + b, 0);
      summary.peakOpenWindows = Math.max(summary.peakOpenWindows, open);
      metrics.openWindows(open);
      summary.peakStateBytes = Math.max(summary.peakStateBytes, stateBytes.reduce((a, b) => a + b, 0));
      metrics.resultLatency(latencyMs / 1000, emitted.results + emitted.retractions);
      metrics.revisions(emitted.revisions);
      metrics.retractions(emitted.retractions);
      eventsPerPartition.fill(0);
      for (let i = 0; i < raw.count; i++) eventsPerPartition[raw.partition[i]]++;
      for (let p = 0; p < eventsPerPartition.length; p++) if (eventsPerPartition[p] > 0) metrics.eventsIn(p, eventsPerPartition[p]);
      metrics.eventsWindowed(decoded.count - emitted.late);
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

    /** Builds the batch's steps and routed events, then starts its tasks. */
    const submit = (raw: RawBatch, decoded: DecodedEvents, finalStep: boolean, checkpointAfter: boolean) => {
      const startedAtMs = raw.receivedAtMs ?? performance.now();
      const watermarkBeforeMs = tracker.current;
      const firstSeq = seq;
      const steps: number[] = [];
      const eventSeq = new Float64Array(decoded.count);
      const finishes = raw.finished.slice().sort((a, b) => a.before - b.before);
      let fi = 0;
      const virtualStep = (w: number) => {
        if (w > (steps.length ? steps[steps.length - 1] : watermarkBeforeMs)) {
          steps.push(w);
          seq++;
        }
      };
      for (const p of raw.assigned ?? []) tracker.touch(p, this.nowMs());
      virtualStep(tracker.checkIdle(this.nowMs()));
      const now = this.nowMs();
      for (let j = 0; j < decoded.count; j++) {
        const at = decoded.rawIndex[j];
        while (fi < finishes.length && finishes[fi].before <= at) virtualStep(tracker.finish(finishes[fi++].partition));
        steps.push(tracker.observe(raw.partition[at], decoded.timestampMs[j], now));
        eventSeq[j] = seq++;
      }
      while (fi < finishes.length) virtualStep(tracker.finish(finishes[fi++].partition));
      if (finalStep) virtualStep(Infinity);
      // Route: events grouped by key partition, arrival order kept within each.
      const F = decoded.numFields;
      const counts = new Int32Array(P + 1);
      for (let j = 0; j < decoded.count; j++) counts[decoder.partitionOf(decoded.keyId[j]) + 1]++;
      const batch = EventBatch.allocate(decoded.count, F, P, steps.length, spareBatches.pop());
      for (let p = 0; p < P; p++) counts[p + 1] += counts[p];
      batch.partitionStart.set(counts);
      const fill = counts.slice(0, P);
      const { seq: seqCol, timestampMs, keyId, ref, fields } = batch;
      for (let j = 0; j < decoded.count; j++) {
        const i = fill[decoder.partitionOf(decoded.keyId[j])]++;
        seqCol[i] = eventSeq[j];
        timestampMs[i] = decoded.timestampMs[j];
        keyId[i] = decoded.keyId[j];
        ref[i] = j;
        for (let f = 0; f < F; f++) fields[i * F + f] = decoded.fields[j * F + f];
      }
      batch.watermark.set(steps);
      batch.header[BatchHeader.FirstSeq] = firstSeq;
      batch.header[BatchHeader.WatermarkBeforeMs] = watermarkBeforeMs;
      batch.header[BatchHeader.WatermarkAfterMs] = steps.length ? steps[steps.length - 1] : watermarkBeforeMs;
      const number = batchNumber++;
      positions?.note(raw.count, raw.partition, raw.offset);
      metrics.batch(raw.count, inFlight.pending.length + 1);
      const load = pool.load;
      metrics.pool(load.queued, load.busy);
      metrics.watermark(tracker.current);
      const checkpoint = checkpointAfter && positions ? { states: new Array<PartitionState>(P), positions: positions.current, watermarks: tracker.snapshot() } : undefined;
      inFlight.push({ raw, decoded, batch, startedAtMs, eventSeq, outputs: dispatch(batch, number, checkpoint), checkpoint });
    };

    // Declared after emit and submit, which use it only once the loop below runs.
    const inFlight = new EmitQueue<BatchWork>(emit);
    let failure: unknown = null;
    let endedAtMs = 0;
    try {
      await warmUp(pool, plan.slotWords, plan.fieldPaths.length);
      // Ready once the model is loaded, the state restored and the sinks open (all done by now)
      // and the source reads: a consumer group has assigned it partitions.
      let ready = false;
      const checkReady = () => {
        if (!ready && (source.joined ?? true)) metrics.ready((ready = true));
      };
      checkReady();
      for await (const raw of source.batches(this.batchSize)) {
        checkReady();
        if (raw.count > 0) summary.firstRecordAtMs ??= raw.receivedAtMs ?? performance.now();
        const decoded = spareDecoded.pop() ?? new DecodedEvents(raw.count, plan.fieldPaths.length);
        decoder.decode(raw, decoded);
        eventsRead += raw.count;
        checkpointer?.throwIfFailed();
        // One checkpoint at a time: while one is being written, the next waits for a later batch.
        const checkpointNow = checkpointer !== null && !checkpointer.busy && this.nowMs() - lastCheckpointAtMs >= checkpointEveryMs;
        if (checkpointNow) lastCheckpointAtMs = this.nowMs();
        submit(raw, decoded, false, checkpointNow);
        await inFlight.below((source.queuedRecords ?? Infinity) < SMALL_BATCH_RECORDS ? 1 : MAX_BATCHES_IN_FLIGHT);
        // Let finished tasks hand their partitions on before the next batch is read and decoded.
        await new Promise((resolve) => setImmediate(resolve));
        if (this.stopped) break;
      }
      // A bounded source ends with the watermark at +Infinity: every window fires and is purged.
      // Then (or after stop()) a last checkpoint holds what was processed.
      const ending = !this.stopped && tracker.current !== Infinity;
      if (ending || checkpointer) {
        const empty: RawBatch = { count: 0, values: [], partition: new Int32Array(0), offset: new Float64Array(0), recordTimestampMs: new Float64Array(0), topicOf: () => '', finished: [] };
        await checkpointer?.idle();
        submit(empty, new DecodedEvents(0, plan.fieldPaths.length), ending, checkpointer !== null);
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
      for (const s of [sinks.results, sinks.late, sinks.deadLetters]) await s.close().catch(() => undefined);
    }
    if (failure) throw failure instanceof SluiceError ? failure : new SluiceError('SLUICE_RUNTIME', (failure as Error).message ?? String(failure), { cause: failure });
    const mainBusyMs = performance.eventLoopUtilization(elu).active;
    summary.checkpoints = checkpointer?.stats() ?? null;
    summary.groupJoinMs = source.groupJoinMs ?? null;
    return summary.finish(performance.now() - startedAt, endedAtMs, { results: sinks.results.where, late: sinks.late.where, deadLetters: sinks.deadLetters.where }, pool.retries, threads, mainBusyMs, sinks.results.ackLatency);
  }
}
