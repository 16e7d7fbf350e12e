// A Kafka output (SPEC §5): one message per record, produced in batches with acks from all
// in-sync replicas. Results are keyed by the window key (or `<key>@<windowStart>` with
// keyFormat: window) and stamped windowEnd - 1, which the engine passes in each record's meta.
//
// write() sends at once and returns while a few sends are unacknowledged, so producing overlaps
// the next batch's work; past that it waits, which stalls the engine and, through it, the source
// (back-pressure with bounded memory). flush() waits for every ack.
import type { SinkConfig } from '../../config/types';
import { SluiceError } from '../../errors';
import type { LineSink, RecordMeta } from '../../runtime/ports';
import { KafkaClient, type OutRecord, type RecordProducer } from './client';

/** Unacknowledged sends (each one write() call) before write() waits. */
const MAX_SENDS_IN_FLIGHT = 4;

type KafkaSinkConfig = Extract<SinkConfig, { type: 'kafka' }>;

export class KafkaSink implements LineSink {
  readonly where: string;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;

  private constructor(
    private readonly config: KafkaSinkConfig,
    private readonly producer: RecordProducer,
  ) {
    this.where = `kafka topic ${config.topic}`;
  }

  static async open(config: KafkaSinkConfig, jobName: string): Promise<KafkaSink> {
    if (!config.brokers) throw new SluiceError('SLUICE_CONFIG_INVALID', `kafka output ${config.topic}: no brokers given`);
    const client = new KafkaClient({ brokers: config.brokers, kafka: config.kafka, clientId: `sluice-${jobName}` });
    await client.topicOffsets(config.topic); // a missing topic fails the start, not the first send
    return new KafkaSink(config, await client.producer());
  }

  async write(lines: readonly string[], meta?: readonly RecordMeta[]): Promise<void> {
    this.throwIfFailed();
    if (lines.length === 0) return;
    const windowKeys = this.config.keyFormat === 'window';
    const records: OutRecord[] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const m = meta?.[i];
      const key = m?.key ?? null;
      records[i] = {
        key: key !== null && windowKeys && m?.windowStartMs !== undefined ? `${key}@${m.windowStartMs}` : key,
        value: lines[i],
        timestampMs: m?.timestampMs,
      };
    }
    const send: Promise<void> = this.producer.send(this.config.topic, records).then(
      () => void this.inFlight.delete(send),
      (e) => {
        this.inFlight.delete(send);
        this.failure ??= e;
      },
    );
    this.inFlight.add(send);
    while (this.inFlight.size >= MAX_SENDS_IN_FLIGHT) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  async close(): Promise<void> {
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
