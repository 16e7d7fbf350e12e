// A Kafka output (SPEC §5): one message per record, produced in batches with acks from all
// in-sync replicas. Results are keyed by the window key (or `<key>@<windowStart>` with
// keyFormat: window) and stamped windowEnd - 1, which the engine passes in each record's meta.
//
// One send is in flight at a time, so messages keep their order (concurrent kafkajs sends can
// overtake each other). write() queues records and returns at once while the queue is small;
// what queues up during a send goes out as the next one, so producing overlaps the engine's work
// and batches itself. Past MAX_QUEUED_BYTES write() waits, which stalls the engine and, through it,
// the source: back-pressure with bounded memory. flush() waits for every ack.
import type { SinkConfig } from '../../config/types';
import { SluiceError } from '../../errors';
import type { LineSink, RecordMeta } from '../../runtime/ports';
import { ResultLatency } from '../../runtime/summary';
import { KafkaClient, type OutRecord, type RecordProducer } from './client';

/** Records queued behind the send in flight before write() waits. */
const MAX_QUEUED_BYTES = 4 << 20;
/** A send carries at most this much per partition of the topic (brokers refuse record batches over
 *  message.max.bytes, 1 MB by default, and keys spread unevenly), and at most MAX_SEND_BYTES. */
const SEND_BYTES_PER_PARTITION = 512 << 10;
const MAX_SEND_BYTES = 8 << 20;

type KafkaSinkConfig = Extract<SinkConfig, { type: 'kafka' }>;

export class KafkaSink implements LineSink {
  readonly where: string;
  readonly ackLatency = new ResultLatency();
  private queue: OutRecord[] = [];
  /** meta.sinceMs of each queued record (NaN: none), for ackLatency. */
  private queueSince: number[] = [];
  private queueWarmingUp: boolean[] = [];
  private queuedBytes = 0;
  private sending: Promise<void> | null = null;
  /** Records written and records acked so far; flush() waits for the count at its call. */
  private written = 0;
  private acked = 0;
  private ackWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  private failure: unknown = null;
  private closed = false;

  private readonly sendBytes: number;

  private constructor(
    private readonly config: KafkaSinkConfig,
    private readonly producer: RecordProducer,
    partitions: number,
    private readonly onAck?: (seconds: number) => void,
  ) {
    this.where = `kafka topic ${config.topic}`;
    this.sendBytes = Math.min(MAX_SEND_BYTES, SEND_BYTES_PER_PARTITION * partitions);
  }

  /** onAck: seconds from each send to its acks (metrics). */
  static async open(config: KafkaSinkConfig, jobName: string, onAck?: (seconds: number) => void): Promise<KafkaSink> {
    if (!config.brokers) throw new SluiceError('SLUICE_CONFIG_INVALID', `kafka output ${config.topic}: no brokers given`);
    const client = new KafkaClient({ brokers: config.brokers, kafka: config.kafka, clientId: `sluice-${jobName}` });
    const { high } = await client.topicOffsets(config.topic); // a missing topic fails the start, not the first send
    const producer = await client.producer();
    await producer.warm(config.topic);
    return new KafkaSink(config, producer, high.length, onAck);
  }

  async write(lines: readonly string[], meta?: readonly RecordMeta[]): Promise<void> {
    this.throwIfFailed();
    const windowKeys = this.config.keyFormat === 'window';
    for (let i = 0; i < lines.length; i++) {
      const m = meta?.[i];
      const key = m?.key ?? null;
      this.queue.push({
        key: key !== null && windowKeys && m?.windowStartMs !== undefined ? `${key}@${m.windowStartMs}` : key,
        value: lines[i],
        timestampMs: m?.timestampMs,
      });
      this.queueSince.push(m?.sinceMs ?? NaN);
      this.queueWarmingUp.push(m?.warmingUp ?? false);
      this.queuedBytes += lines[i].length;
    }
    this.written += lines.length;
    this.pump();
    while (this.queuedBytes > MAX_QUEUED_BYTES && this.sending) await this.sending;
    this.throwIfFailed();
  }

  /** Starts sending the queue, one send at a time, unless a send is already under way. */
  private pump(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = (async () => {
      while (this.queue.length > 0 && !this.failure) {
        let n = 0;
        let bytes = 0;
        while (n < this.queue.length && (n === 0 || bytes + this.queue[n].value.length <= this.sendBytes)) bytes += this.queue[n++].value.length;
        const records = this.queue.splice(0, n);
        const since = this.queueSince.splice(0, n);
        const warmingUp = this.queueWarmingUp.splice(0, n);
        this.queuedBytes -= bytes;
        const sentAt = performance.now();
        await this.producer.send(this.config.topic, records);
        const now = performance.now();
        this.onAck?.((now - sentAt) / 1000);
        for (let i = 0; i < n; i++) if (!Number.isNaN(since[i])) this.ackLatency.record(now - since[i], warmingUp[i]);
        this.acked += n;
        this.wakeFlushes();
      }
    })()
      .catch((e) => void (this.failure ??= e))
      .finally(() => {
        this.sending = null;
        this.wakeFlushes();
      });
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
