// A Kafka output (SPEC §5): one message per record, produced in batches with acks from all
// in-sync replicas. Records come encoded (src/records/encoded.ts) with their key, its hash and
// their timestamp: results keyed by the window key (or `<key>@<windowStart>` with keyFormat:
// window) and stamped windowEnd - 1, made where they were fired.
//
// One send is in flight at a time, so messages keep their order (concurrent kafkajs sends can
// overtake each other). write() queues records and returns at once while the queue is small;
// what queues up during a send goes out as the next one, so producing overlaps the engine's work
// and batches itself. Past MAX_QUEUED_BYTES write() waits, which stalls the engine and, through it,
// the source: back-pressure with bounded memory. flush() waits for every ack.
import type { SinkConfig } from '../../config/types';
import { SluiceError } from '../../errors';
import { RecordFlag, type EncodedRecords } from '../../records/encoded';
import type { RecordSink } from '../../runtime/ports';
import { ResultLatency } from '../../runtime/summary';
import { KafkaClient, type RecordProducer, type RecordSegment } from './client';

/** Bytes of records queued behind the send in flight before write() waits. */
const MAX_QUEUED_BYTES = 4 << 20;
/** A send carries at most this much for one partition of the topic (a partition's records make one
 *  record batch, and brokers refuse batches over message.max.bytes, 1,048,588 bytes by default,
 *  counting the batch's 61-byte header and the records' framing and keys too), and at most
 *  MAX_SEND_BYTES in all. One send per firing of 10,000 results: each send waits for the last
 *  one's acks (at 768 KiB, a firing of 9,500 results of ~330 bytes over 4 partitions took two). */
const SEND_BYTES_PER_PARTITION = 960 << 10;
const MAX_SEND_BYTES = 8 << 20;
/** A record's bytes in a batch beyond its key and value, at most: length, attributes, timestamp
 *  and offset deltas, key and value lengths, header count (varints). */
const RECORD_FRAMING_BYTES = 32;

type KafkaSinkConfig = Extract<SinkConfig, { type: 'kafka' }>;

export class KafkaSink implements RecordSink {
  readonly where: string;
  readonly ackLatency = new ResultLatency();
  /** Records written and not yet sent: whole EncodedRecords, the first from row `sentUpTo` on. */
  private queue: EncodedRecords[] = [];
  private sentUpTo = 0;
  private queuedBytes = 0;
  private sending: Promise<void> | null = null;
  /** Records written and records acked so far; flush() waits for the count at its call. */
  private written = 0;
  private acked = 0;
  private ackWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  private failure: unknown = null;
  private closed = false;

  /** Bytes per partition in the send being made up (nextSend). */
  private readonly partitionBytes: Float64Array;
  private roundRobin = 0;

  private constructor(
    private readonly config: KafkaSinkConfig,
    private readonly producer: RecordProducer,
    /** The topic's partitions at start (they can only grow: then a partition gets less). */
    private readonly partitions: number,
    private readonly onAck?: (seconds: number) => void,
  ) {
    this.where = `kafka topic ${config.topic}`;
    this.partitionBytes = new Float64Array(partitions);
  }

  /** onAck: seconds from each send to its acks (metrics). */
  static async open(config: KafkaSinkConfig, jobName: string, onAck?: (seconds: number) => void): Promise<KafkaSink> {
    if (!config.brokers) throw new SluiceError('SLUICE_CONFIG_INVALID', `kafka output ${config.topic}: no brokers given`);
    const client = new KafkaClient({ brokers: config.brokers, kafka: config.kafka, clientId: `sluice-${jobName}` });
    const { high } = await client.topicOffsets(config.topic); // a missing topic fails the start, not the first send
    const producer = await client.producer(config.compression);
    await producer.warm(config.topic);
    return new KafkaSink(config, producer, high.length, onAck);
  }

  async write(records: EncodedRecords): Promise<void> {
    this.throwIfFailed();
    if (records.count === 0) return;
    this.queue.push(records);
    this.queuedBytes += records.valueBytes;
    this.written += records.count;
    this.pump();
    while (this.queuedBytes > MAX_QUEUED_BYTES && this.sending) await this.sending;
    this.throwIfFailed();
  }

  /** The next send's records: whole records, up to SEND_BYTES_PER_PARTITION for any partition
   *  (keyed records go where their hash says; keyless ones round-robin) and MAX_SEND_BYTES in all;
   *  at least one. */
  private nextSend(): RecordSegment[] {
    const segments: RecordSegment[] = [];
    const perPartition = this.partitionBytes.fill(0);
    let bytes = 0;
    while (this.queue.length > 0) {
      const records = this.queue[0];
      const from = this.sentUpTo;
      let to = from;
      while (to < records.count) {
        const size = records.valueEnd[to] - records.valueStart(to) + records.keyEnd[to] - records.keyStart(to) + RECORD_FRAMING_BYTES;
        const p = records.hasKey(to) ? (records.keyHash[to] & 0x7fffffff) % this.partitions : this.roundRobin++ % this.partitions;
        if (bytes > 0 && (perPartition[p] + size > SEND_BYTES_PER_PARTITION || bytes + size > MAX_SEND_BYTES)) break;
        perPartition[p] += size;
        bytes += size;
        to++;
      }
      if (to > from) segments.push({ records, from, to });
      if (to < records.count) {
        this.sentUpTo = to;
        break;
      }
      this.queue.shift();
      this.sentUpTo = 0;
    }
    for (const s of segments) this.queuedBytes -= s.records.valueEnd[s.to - 1] - s.records.valueStart(s.from);
    return segments;
  }

  /** Starts sending the queue, one send at a time, unless a send is already under way. */
  private pump(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = (async () => {
      while (this.queue.length > 0 && !this.failure) {
        const segments = this.nextSend();
        const sentAt = performance.now();
        await this.producer.send(this.config.topic, segments);
        const now = performance.now();
        this.onAck?.((now - sentAt) / 1000);
        for (const s of segments) this.recordAcks(s, now);
        this.wakeFlushes();
      }
    })()
      .catch((e) => void (this.failure ??= e))
      .finally(() => {
        this.sending = null;
        this.wakeFlushes();
      });
  }

  /** Counts the segment's records as acked, and their latency, per run that shares a start. */
  private recordAcks({ records, from, to }: RecordSegment, now: number): void {
    const { sinceMs, flags } = records;
    for (let i = from; i < to; ) {
      let j = i + 1;
      while (j < to && sinceMs[j] === sinceMs[i]) j++;
      if (!Number.isNaN(sinceMs[i])) this.ackLatency.record(now - sinceMs[i], (flags[i] & RecordFlag.WarmingUp) !== 0, j - i);
      i = j;
    }
    this.acked += to - from;
  }

  private wakeFlushes(): void {
    const done = this.failure !== null;
    this.ackWaiters = this.ackWaiters.filter((w) => (done || w.upTo <= this.acked ? (w.resolve(), false) : true));
  }

  /** Waits for the acks of every record written before the call (not for later ones: under a
   *  steady load the queue never empties). */
  async flush(): Promise<void> {
    const upTo = this.written;
    if (this.acked < upTo && !this.failure) await new Promise<void>((resolve) => this.ackWaiters.push({ upTo, resolve }));
    this.throwIfFailed();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.producer.close().catch(() => undefined);
    }
  }

  private throwIfFailed(): void {
    if (this.failure) {
      const e = this.failure as Error;
      throw new SluiceError('SLUICE_KAFKA', `producing to kafka topic ${this.config.topic} failed: ${e.message}`, { cause: e });
    }
  }
}
