// The Kafka source (SPEC §4, §6): one topic, read in a consumer group. Source partitions are the
// topic's partitions, each with its own watermark.
//
// Positions are sluice's own. The source remembers, per partition, the offset of the next record
// to read; whenever the group assigns partitions (the first join, a rebalance, a consumer restart
// after a broker outage) it seeks each one there, and it drops any record below it. So a record is
// read once per run, whatever the group does. The group's committed offsets only say where a run
// starts (startFrom: committed) and show lag; the engine commits them (commit()) once the outputs
// before them are acknowledged.
//
// kafkajs pushes batches (eachBatch); the engine pulls them (batches()). In between sits a queue of
// bounded size: when it is full, eachBatch waits, which stops fetching (back-pressure), and calls
// heartbeat() every second meanwhile so that the group does not evict this member.
import type { KafkaSourceConfig } from '../../config/types';
import { appendMessage, newRawBatch, type RawBatch, type RebalanceListener, type Source } from '../../decode/raw-batch';
import { SluiceError } from '../../errors';
import { logger } from '../../log';
import { KafkaClient, type FetchedBatch, type FetchedRecord, type GroupConsumer } from './client';
import { nextJoinHeld, RECORDS } from './record-batch';
import { lowerBound } from '../../util/sorted';
import { within } from '../../util/within';

const log = logger('kafka-source');

/** Bytes of record values queued ahead of the engine (and at most two batches of records); beyond
 *  that, fetching waits. */
const MAX_QUEUED_BYTES = 16 << 20;
/** How often a waiting eachBatch heartbeats: well inside any session timeout. */
const HEARTBEAT_EVERY_MS = 1000;
/** A commit is tried this often, each try bounded in time (see commit()). */
const COMMIT_ATTEMPTS = 3;
const COMMIT_TIMEOUT_MS = 10_000;
/** How long close() waits for a join under way (join()) to end, so as to leave the group. */
const CLOSE_JOIN_WAIT_MS = 30_000;
/** With no data, the engine still gets an (empty) batch this often, to notice idle partitions. */
const EMPTY_BATCH_EVERY_MS = 200;

/**
 * Fetched records of one partition: a run of one record batch's columns (record-batch.ts), whose
 * values stay in the fetched bytes until fill() copies them into a RawBatch. (kafkajs's own
 * per-message records, when they come, are packed into the same form at once, so that they die
 * young instead of waiting in the queue.)
 */
interface Chunk {
  partition: number;
  /** Record i's value is bytes[starts[i], ends[i]), values in ascending positions. */
  bytes: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
  offsets: Float64Array;
  timestampsMs: Float64Array;
  /** Next record of the chunk to hand over, and one past its last. */
  at: number;
  stop: number;
  /** performance.now() when it was fetched. */
  receivedAtMs: number;
  /** The partition reached its end offset after this chunk (bounded reads). */
  finishes: boolean;
}

export class KafkaSource implements Source {
  private readonly queue: Chunk[] = [];
  private queuedBytes = 0;
  private readonly assigned = new Set<number>();
  /** Assigned partitions whose records are taken: with a rebalance listener, once it has given
   *  their offsets (their state is restored); otherwise as soon as they are assigned. */
  private readonly ready = new Set<number>();
  private listener: RebalanceListener | null = null;
  private revoking = new Set<number>();
  /** A listener's failure (a damaged changelog): the next batch throws it. */
  private failure: unknown = null;
  private maxQueuedRecords = Infinity;
  /** Partitions assigned since the last batch, for RawBatch.assigned. */
  private newlyAssigned: number[] = [];
  queuedRecords = 0;
  /** Times the group assigned partitions to this member (1 unless it rebalanced or was evicted). */
  groupJoins = 0;
  /** From joining the group to its first assignment, ms (a restart after kill -9 waits here for
   *  the dead member's session to time out). */
  groupJoinMs: number | null = null;
  private joiningSinceMs = 0;
  /** Per partition: its end offset, as last fetched (NaN: not yet). */
  private readonly highWatermark: number[];
  private finishedAtStart: number[] = [];
  private finishedCount = 0;
  private group: GroupConsumer | null = null;
  /** The group join, once started (join(), or the first batches()). */
  private joining: Promise<GroupConsumer> | null = null;
  /** Whether the engine reads (batches() was called): until then an assignment waits, paused. */
  private attached = false;
  private pendingAssign: (() => void) | null = null;
  /** Whether the positions come from a checkpoint (the start's log line). */
  private resumed = false;
  private closed = false;
  private wakeReader: (() => void) | null = null;
  private wakeWriters: Array<() => void> = [];
  private spare: RawBatch[] = [];
  /** Per partition: the offset of the next record to take. */
  private position: number[] = [];
  /** Per partition, bounded reads: the end offset seen at start; Infinity otherwise. */
  private readonly end: number[];
  startPositions: readonly number[] = [];
  readonly endsAtOpen: readonly number[];
  readonly numPartitions: number;
  /** Offsets last committed, so an unchanged position is not committed again. */
  private committed: number[] = [];

  private constructor(
    private readonly config: KafkaSourceConfig,
    private readonly client: KafkaClient,
    private readonly offsets: { low: number[]; high: number[]; committed: number[] },
    resumeAt: ReadonlyArray<number | null>,
  ) {
    const { low, high } = offsets;
    this.numPartitions = low.length;
    this.end = config.bounded ? high.slice() : high.map(() => Infinity);
    this.endsAtOpen = high.slice();
    this.highWatermark = low.map(() => NaN);
    this.place(resumeAt);
  }

  /** Looks the topic up (a clear error when it does not exist) and works out where to start: at
   *  `resumeAt` (a checkpoint's positions) where it has one, otherwise by startFrom. */
  static async open(config: KafkaSourceConfig, jobName: string, resumeAt: ReadonlyArray<number | null> = []): Promise<KafkaSource> {
    const client = new KafkaClient({ brokers: config.brokers, kafka: config.kafka, clientId: `sluice-${jobName}` });
    return new KafkaSource(config, client, await client.topicOffsets(config.topic, config.groupId), resumeAt);
  }

  /** A checkpoint's positions, known after open() (the state is read while the group joins).
   *  Before batches() only: that is when assigned partitions are first sought. */
  resumeAt(resumeAt: ReadonlyArray<number | null>): void {
    if (this.attached) throw new SluiceError('SLUICE_RUNTIME', 'KafkaSource.resumeAt: the source is already being read');
    this.place(resumeAt);
  }

  private place(resumeAt: ReadonlyArray<number | null>): void {
    const { low, high, committed } = this.offsets;
    this.position = low.map((lo, p) => {
      const resume = resumeAt[p];
      if (resume !== null && resume !== undefined) {
        if (resume < lo) log.warn('a checkpointed position is no longer in the topic (retention removed it): reading from the earliest', { partition: p, position: resume, earliest: lo });
        return Math.max(resume, lo);
      }
      if (this.config.startFrom === 'latest') return high[p];
      if (this.config.startFrom === 'committed' && committed[p] >= 0) return Math.min(Math.max(committed[p], lo), high[p]);
      return lo;
    });
    this.committed = this.position.slice();
    this.startPositions = this.position.slice();
    this.finishedAtStart = [];
    for (let p = 0; p < this.numPartitions; p++) if (this.position[p] >= this.end[p]) this.finishedAtStart.push(p);
    this.finishedCount = this.finishedAtStart.length;
    this.resumed = resumeAt.length > 0;
  }

  /**
   * Starts joining the group now, ahead of batches(), so that the join's wait (the group's
   * initial rebalance delay: 3 s on a broker's defaults) overlaps the rest of the job's start.
   * Partitions assigned before batches() wait, paused, and are sought then, from the positions
   * as they are by then (resumeAt). Not with a rebalance listener, which is known later.
   * Resolves once the broker holds the JoinGroup request (or the join is over): from then on
   * what remains is the broker's wait.
   */
  join(): Promise<void> {
    // Nothing to read (a bounded read at its end): no join, as in batches().
    if (this.joining || this.closed || this.finishedCount === this.numPartitions) return Promise.resolve();
    this.joiningSinceMs = performance.now();
    const held = nextJoinHeld();
    this.joining = this.client.consume(this.config.topic, this.config.groupId, {
      onAssign: (partitions, seek, control) => this.onAssign(partitions, seek, control),
      onBatch: (batch, heartbeat) => this.onBatch(batch, heartbeat),
      beforeRejoin: this.listener ? () => this.revokeAll() : undefined,
      onLost: () => this.lost(),
      onFatal: (e) => {
        this.failure ??= e;
        this.wakeReader?.();
      },
    });
    this.joining.catch(() => undefined); // batches() or close() hears of a failure
    return Promise.race([held, this.joining.then(() => undefined, () => undefined)]);
  }

  async *batches(maxRecords: number): AsyncIterable<RawBatch> {
    const topic = this.config.topic;
    this.maxQueuedRecords = 2 * maxRecords;
    this.attached = true;
    log.info('starting', { topic, groupId: this.config.groupId, startFrom: this.resumed ? 'checkpoint' : this.config.startFrom, bounded: this.config.bounded, position: this.position, end: this.config.bounded ? this.end : undefined });
    if (this.finishedCount === this.numPartitions) {
      // A bounded read with nothing to read: no need to join the group (close() ends a join()).
      const batch = newRawBatch(0, () => topic);
      batch.finished = this.finishedAtStart.map((partition) => ({ before: 0, partition }));
      yield batch;
      return;
    }
    const pending = this.pendingAssign;
    this.pendingAssign = null;
    pending?.();
    this.join();
    this.group = await this.joining!;
    let first = true;
    while (!this.closed) {
      if (this.failure) throw this.failure;
      if (this.queue.length === 0) {
        if (this.finishedCount === this.numPartitions && !first) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, EMPTY_BATCH_EVERY_MS);
          this.wakeReader = () => (clearTimeout(timer), resolve());
        });
        this.wakeReader = null;
        // The rest of the fetch that woke us is being handed over partition by partition: let it
        // all arrive, so that it makes one batch rather than one per partition.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const batch = this.spare.pop() ?? newRawBatch(maxRecords, () => topic);
      batch.count = 0;
      batch.finished = first ? this.finishedAtStart.map((partition) => ({ before: 0, partition })) : [];
      first = false;
      batch.assigned = this.newlyAssigned.length ? this.newlyAssigned.splice(0) : undefined;
      this.fill(batch, maxRecords);
      for (const wake of this.wakeWriters.splice(0)) wake();
      yield batch;
    }
  }

  /** Moves queued records into the batch, in the order they were fetched. */
  private fill(batch: RawBatch, maxRecords: number): void {
    batch.receivedAtMs = this.queue.length > 0 ? this.queue[0].receivedAtMs : undefined;
    (batch.arrivalStarts ??= []).length = 0;
    (batch.arrivalMs ??= []).length = 0;
    while (this.queue.length > 0 && batch.count < maxRecords) {
      const chunk = this.queue[0];
      batch.arrivalStarts.push(batch.count);
      batch.arrivalMs.push(chunk.receivedAtMs);
      const take = Math.min(chunk.stop - chunk.at, maxRecords - batch.count);
      const from = chunk.starts[chunk.at];
      const to = chunk.ends[chunk.at + take - 1];
      const n0 = batch.count;
      // One copy of the span from the first value to the last (record headers between values
      // included), then the per-record columns shifted to the batch's buffer.
      appendMessage(batch, n0, chunk.bytes.subarray(from, to));
      const shift = batch.starts![n0] - from;
      for (let k = 0; k < take; k++) {
        const i = chunk.at + k;
        const n = n0 + k;
        batch.starts![n] = chunk.starts[i] + shift;
        batch.ends![n] = chunk.ends[i] + shift;
        batch.partition[n] = chunk.partition;
        batch.offset[n] = chunk.offsets[i];
        batch.recordTimestampMs[n] = chunk.timestampsMs[i];
      }
      batch.count += take;
      chunk.at += take;
      this.queuedBytes -= to - from;
      this.queuedRecords -= take;
      if (chunk.at < chunk.stop) {
        this.queuedBytes -= chunk.starts[chunk.at] - to; // the headers up to the next value
        break;
      }
      this.queue.shift();
      if (chunk.finishes) batch.finished.push({ before: batch.count, partition: chunk.partition });
    }
  }

  /** The engine hears of rebalances (state per partition, SPEC §15). Before the first batch. */
  listen(listener: RebalanceListener): void {
    if (this.joining) throw new SluiceError('SLUICE_RUNTIME', 'KafkaSource.listen: the group join has started (join()); a rebalance listener comes first');
    this.listener = listener;
  }

  private onAssign(partitions: number[], seek: (partition: number, offset: number) => void, control: { pause(partitions: number[]): void; resume(partitions: number[]): void }): void {
    if (!this.attached) {
      // Joined early (join()): the engine is not reading yet, nor are the positions final.
      this.groupJoinMs ??= performance.now() - this.joiningSinceMs;
      control.pause(partitions);
      this.pendingAssign = () => this.onAssign(partitions, seek, control);
      return;
    }
    // A partition taken away keeps holding the watermark back until it turns idle (idleTimeoutMs),
    // as one that is silent does: after a short rebalance it comes back, and its events are not late.
    this.groupJoins++;
    if (this.listener) this.dropQueued(); // records of an earlier assignment: read again from the positions given
    const now = new Set(partitions);
    const revoked = [...this.assigned].filter((p) => !now.has(p));
    this.assigned.clear();
    this.ready.clear();
    for (const p of partitions) this.assigned.add(p);
    if (revoked.length) log.info('partitions revoked', { partitions: revoked });
    const start = (offsets: ReadonlyMap<number, number | null>) => {
      this.groupJoinMs ??= performance.now() - this.joiningSinceMs;
      this.newlyAssigned.push(...partitions);
      for (const p of partitions) {
        this.position[p] = offsets.get(p) ?? this.position[p];
        this.ready.add(p);
        if (Number.isFinite(this.end[p]) && this.position[p] >= this.end[p]) continue;
        seek(p, this.position[p]);
      }
    };
    if (!this.listener) {
      start(new Map());
      // kafkajs keeps a partition paused across rebalances: one paused while the engine was not
      // reading yet (above) may come back in a later assignment.
      control.resume(partitions);
      return;
    }
    // Not read until their state is restored: then from the offsets it holds.
    control.pause(partitions);
    const generation = this.groupJoins;
    this.listener.assign(partitions).then(
      (offsets) => {
        if (generation !== this.groupJoins || this.closed) return; // another rebalance came first
        start(offsets);
        control.resume(partitions);
        this.wakeReader?.();
      },
      (e) => {
        this.failure ??= e;
        this.wakeReader?.();
      },
    );
  }

  /** The consumer crashed out of the group: as a revoke, without a checkpoint (the partitions
   *  may be another's by now). */
  private lost(): void {
    this.pendingAssign = null; // that consumer group is gone: kafkajs joins a new one
    if (!this.listener) return;
    this.groupJoins++;
    this.assigned.clear();
    this.ready.clear();
    this.dropQueued();
    this.listener.lost();
  }

  private dropQueued(): void {
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.queuedRecords = 0;
    for (const wake of this.wakeWriters.splice(0)) wake();
  }

  /** Before rejoining a rebalancing group: nothing is read any more, what is queued is dropped
   *  (the engine goes on from its own positions), and the listener checkpoints and lets go. */
  private async revokeAll(): Promise<void> {
    this.groupJoins++; // an assignment still being restored is stale now
    // Still committed by the checkpoint the listener takes (the broker may refuse it now: then
    // the changelog's manifest is where the next owner starts).
    this.revoking = new Set(this.ready);
    this.assigned.clear();
    this.ready.clear();
    this.dropQueued();
    try {
      await this.listener!.revoke();
    } catch (e) {
      this.failure ??= e;
      this.wakeReader?.();
    } finally {
      this.revoking.clear();
    }
  }

  private async onBatch(batch: FetchedBatch, heartbeat: () => Promise<void>): Promise<void> {
    const p = batch.partition;
    // A batch fetched before a rebalance, for a partition that is no longer ours (or not yet).
    if (!this.ready.has(p) || this.closed) return;
    this.highWatermark[p] = batch.highWatermark;
    const from = this.position[p];
    const end = this.end[p];
    if (from >= end) return;
    // None below the position, none past the end of a bounded read.
    const chunks = chunksOf(batch.messages, from, end, p);
    if (chunks.length === 0) return;
    let bytes = 0;
    let records = 0;
    for (const c of chunks) {
      bytes += c.ends[c.stop - 1] - c.starts[c.at];
      records += c.stop - c.at;
    }
    while (this.queuedRecords > 0 && (this.queuedBytes + bytes > MAX_QUEUED_BYTES || this.queuedRecords + records > this.maxQueuedRecords) && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, HEARTBEAT_EVERY_MS);
        this.wakeWriters.push(() => (clearTimeout(timer), resolve()));
      });
      // Throws when the group is rebalancing: kafkajs then rejoins and fetches again from the
      // positions set in onAssign. Nothing of this batch was taken.
      await heartbeat();
      if (!this.ready.has(p)) return;
    }
    if (this.closed) return;
    const last = chunks[chunks.length - 1];
    const next = last.offsets[last.stop - 1] + 1;
    this.position[p] = next;
    const finishes = next >= end;
    if (finishes) this.finishedCount++;
    const receivedAtMs = performance.now();
    for (const c of chunks) this.queue.push({ ...c, receivedAtMs, finishes: finishes && c === last });
    this.queuedBytes += bytes;
    this.queuedRecords += records;
    this.wakeReader?.();
  }

  /** Reading: assigned partitions (with a listener: all restored), or a bounded read that is done. */
  get joined(): boolean {
    if (this.finishedCount === this.numPartitions) return true;
    if (this.listener) return this.ready.size > 0 && this.ready.size === this.assigned.size;
    return this.groupJoinMs !== null;
  }

  lag(): Array<{ partition: number; records: number }> {
    const out = [];
    for (const p of this.assigned) if (!Number.isNaN(this.highWatermark[p])) out.push({ partition: p, records: Math.max(0, this.highWatermark[p] - this.position[p]) });
    return out;
  }

  release(batch: RawBatch): void {
    if (this.spare.length < 4) this.spare.push(batch);
  }

  async commit(positions: ReadonlyArray<{ partition: number; offset: number }>): Promise<boolean> {
    // Never for a partition this member no longer has: its new owner commits it (kafkajs #1046).
    const due = positions.filter((o) => (this.ready.has(o.partition) || this.revoking.has(o.partition)) && o.offset > this.committed[o.partition]);
    if (due.length === 0 || !this.group) return true;
    for (let attempt = 1; attempt <= COMMIT_ATTEMPTS; attempt++) {
      try {
        // kafkajs retries without end while brokers are away: bounded here, so a stop still ends.
        await within(this.group.commit(due), COMMIT_TIMEOUT_MS, () => new Error(`no answer in ${COMMIT_TIMEOUT_MS} ms`));
        for (const o of due) this.committed[o.partition] = o.offset;
        return true;
      } catch (e) {
        // Not fatal: a rebalance or a coordinator move fails a commit now and then, and the next
        // commit covers these offsets too. During a rebalance, trying again is no use: the next
        // owner of a partition starts from its checkpoint anyway (SPEC §15).
        const rebalancing = /rebalanc/i.test(String((e as Error).message));
        log[rebalancing ? 'info' : 'warn'](`offset commit failed (attempt ${attempt} of ${COMMIT_ATTEMPTS})`, { error: e, offsets: due });
        if (rebalancing) return false;
        if (attempt < COMMIT_ATTEMPTS) await new Promise((r) => setTimeout(r, 500));
      }
    }
    return false;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.wakeWriters.splice(0)) wake();
    this.wakeReader?.();
    // A join under way (join() before a failed start) is waited out, for a while: kafkajs cannot
    // stop mid-join, and it retries a join without end while brokers are away.
    let group = this.group;
    if (!group && this.joining) {
      // The join's own failure is null here: a rejection is the wait running out.
      const joined = await within(this.joining.catch(() => null), CLOSE_JOIN_WAIT_MS, () => new Error('join still under way')).catch(() => undefined);
      if (joined === undefined) log.warn(`the consumer group join did not end within ${CLOSE_JOIN_WAIT_MS} ms; stopping without leaving the group (the broker drops this member when its session times out)`);
      group = joined ?? null;
    }
    await group?.stop().catch((e) => log.warn('leaving the consumer group failed', { error: e }));
  }
}

type ChunkColumns = Omit<Chunk, 'receivedAtMs' | 'finishes'>;

/** The records in [from, end) of the fetched messages: per stand-in (a whole record batch's
 *  columns), a run of its columns, not copied; kafkajs's plain records, when they come, packed. */
function chunksOf(messages: FetchedRecord[], from: number, end: number, partition: number): ChunkColumns[] {
  const chunks: ChunkColumns[] = [];
  const plain: FetchedRecord[] = [];
  for (const m of messages) {
    const cols = m[RECORDS];
    if (!cols) {
      const offset = Number(m.offset);
      if (offset >= from && offset < end) plain.push(m);
      continue;
    }
    if (plain.length) chunks.push(packPlain(plain.splice(0), partition));
    // Offsets ascend within a batch.
    const at = lowerBound(cols.offsets, from);
    const stop = lowerBound(cols.offsets, end);
    if (stop > at) chunks.push({ partition, bytes: cols.bytes, starts: cols.valueStarts, ends: cols.valueEnds, offsets: cols.offsets, timestampsMs: cols.timestampsMs, at, stop });
  }
  if (plain.length) chunks.push(packPlain(plain, partition));
  return chunks;
}

/** kafkajs's per-message records, copied into one chunk. */
function packPlain(records: FetchedRecord[], partition: number): ChunkColumns {
  const n = records.length;
  let bytes = 0;
  for (const m of records) bytes += m.value?.length ?? 0;
  const data = new Uint8Array(bytes);
  const starts = new Int32Array(n);
  const ends = new Int32Array(n);
  const offsets = new Float64Array(n);
  const timestampsMs = new Float64Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const m = records[i];
    starts[i] = at;
    if (m.value) data.set(m.value, at);
    at += m.value?.length ?? 0;
    ends[i] = at;
    offsets[i] = Number(m.offset);
    timestampsMs[i] = Number(m.timestamp);
  }
  return { partition, bytes: data, starts, ends, offsets, timestampsMs, at: 0, stop: n };
}
