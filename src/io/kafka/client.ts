// The one module that imports kafkajs. The source and sinks see only the small interfaces below,
// so another client (kafkajs is in maintenance mode since 2023) can replace it here alone.
//
// Settings: `kafka:` blocks pass through. Client keys (clientId, ssl, sasl, connectionTimeout,
// requestTimeout, authenticationTimeout, reauthenticationThreshold, retry) go to the client,
// consumer keys (sessionTimeout, heartbeatInterval, maxBytes, ...) to the consumer, producer keys
// to the producer. Two keys are sluice's own: `maxRetries` (default unlimited) and
// `maxRetryTimeMs` (cap of the back-off, default 30 s).
// First: it swaps a kafkajs module that kafkajs's producer captures when kafkajs loads.
import { encodedMessage, encodedSendsWork, installProduceEncoder, type RecordSegment } from './produce-request';
import { CompressionTypes, Kafka, logLevel, Partitioners, type Consumer, type KafkaConfig, type LogEntry, type Message, type Producer } from 'kafkajs';
import { SluiceError } from '../../errors';
import { logger } from '../../log';
import { registerCodecs } from './codecs';
import { fastRecords, installFastRecords, RECORDS, type RecordColumns } from './record-batch';

const log = logger('kafka');

/** SPEC §9 (recovery): a killed member holds its partitions until its session times out. */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
const CLIENT_KEYS = ['clientId', 'ssl', 'sasl', 'connectionTimeout', 'requestTimeout', 'authenticationTimeout', 'reauthenticationThreshold', 'enforceRequestTimeout', 'retry'];
const CONSUMER_KEYS = ['sessionTimeout', 'rebalanceTimeout', 'heartbeatInterval', 'maxBytes', 'maxBytesPerPartition', 'minBytes', 'maxWaitTimeInMs', 'metadataMaxAge', 'readUncommitted', 'rackId', 'maxInFlightRequests'];
const PRODUCER_KEYS = ['metadataMaxAge', 'maxInFlightRequests', 'idempotent', 'timeout'];

export interface ClientSettings {
  brokers: string[];
  /** The job's `kafka:` block. */
  kafka: Record<string, unknown>;
  /** clientId when the block has none. */
  clientId: string;
}

/** One fetched record, as kafkajs hands it over; or a stand-in for a whole record batch, whose
 *  records are in `[RECORDS]` (src/io/kafka/record-batch.ts). */
export interface FetchedRecord {
  offset: string;
  timestamp: string;
  value: Buffer | null;
  [RECORDS]?: RecordColumns;
}

export interface FetchedBatch {
  partition: number;
  messages: FetchedRecord[];
  /** The partition's end offset when it was fetched. */
  highWatermark: number;
}

export interface TopicOffsets {
  /** Per partition: first offset held, and the end offset (the next one to be written). */
  low: number[];
  high: number[];
}

export interface GroupHandlers {
  /** A fetched batch. Resolve when it is taken; until then no further batch is fetched. Call
   *  heartbeat() while waiting longer than a second or so: kafkajs sends none on its own then. */
  onBatch(batch: FetchedBatch, heartbeat: () => Promise<void>): Promise<void>;
  /** The group (re)assigned this member's partitions of the topic; `seek` sets where each one's
   *  fetching starts (otherwise: the group's committed offset). */
  onAssign(partitions: number[], seek: (partition: number, offset: number) => void): void;
}

export interface GroupConsumer {
  commit(offsets: Array<{ partition: number; offset: number }>): Promise<void>;
  stop(): Promise<void>;
}

export type { RecordSegment };

export interface RecordProducer {
  /** Sends encoded records (src/records/encoded.ts), keyed records to the partition of their
   *  key's hash; resolves when every one is acknowledged by all in-sync replicas (acks -1). */
  send(topic: string, segments: RecordSegment[]): Promise<void>;
  /** Loads the topic's metadata now, so that the first results do not wait for it. */
  warm(topic: string): Promise<void>;
  close(): Promise<void>;
}

const pick = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)));

// kafkajs's errors are warnings here: it logs at ERROR what it then retries (a refused connection,
// a rebalance). What cannot be retried reaches sluice as an exception and fails the job.
const LEVEL_NAMES: Record<number, 'warn' | 'info' | 'debug'> = { [logLevel.ERROR]: 'warn', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'info', [logLevel.DEBUG]: 'debug' };

/** kafkajs logs its warnings and errors (connection failures, retries, rebalances) through ours. */
const logCreator = () => (entry: LogEntry) => {
  const { message, ...fields } = entry.log;
  log[LEVEL_NAMES[entry.level] ?? 'info'](entry.namespace ? `${entry.namespace}: ${message}` : message, fields);
};

export class KafkaClient {
  private readonly kafka: Kafka;
  /** For start-up calls: the same settings, but a few retries only, so that a wrong address
   *  fails the start instead of hanging it. */
  private readonly startup: Kafka;
  private readonly settings: Record<string, unknown>;

  constructor(readonly config: ClientSettings) {
    registerCodecs();
    installFastRecords();
    installProduceEncoder();
    const k = config.kafka;
    const maxRetries = typeof k.maxRetries === 'number' ? k.maxRetries : Number.POSITIVE_INFINITY;
    const maxRetryTime = typeof k.maxRetryTimeMs === 'number' ? k.maxRetryTimeMs : 30_000;
    this.settings = k;
    const clientConfig: KafkaConfig = {
      clientId: config.clientId,
      ...(pick(k, CLIENT_KEYS) as Partial<KafkaConfig>),
      brokers: config.brokers,
      logLevel: logLevel.WARN,
      logCreator,
      // Capped exponential back-off, without a limit unless the job sets one: a broker that is
      // down for a while must not end the job (kafkajs would give up after 5 retries).
      retry: { initialRetryTime: 300, maxRetryTime, retries: maxRetries, ...(k.retry as object | undefined) },
    };
    this.kafka = new Kafka(clientConfig);
    this.startup = new Kafka({ ...clientConfig, retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 3 } });
  }

  private where(): string {
    return this.config.brokers.join(',');
  }

  /** Partition count and offsets of a topic; a clear error when it does not exist. */
  async topicOffsets(topic: string, groupId?: string): Promise<TopicOffsets & { committed: number[] }> {
    const admin = this.startup.admin();
    try {
      await admin.connect();
      // Listed first: asking for one topic's metadata may create it on brokers that auto-create
      // topics (the mock cluster does, whatever the request says).
      if (!(await admin.listTopics()).includes(topic)) {
        throw new SluiceError('SLUICE_KAFKA', `topic "${topic}" does not exist on ${this.where()}; create it, or fix the topic name`);
      }
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const n = meta.topics[0].partitions.length;
      const low = new Array<number>(n).fill(0);
      const high = new Array<number>(n).fill(0);
      for (const o of await admin.fetchTopicOffsets(topic)) {
        low[o.partition] = Number(o.low);
        high[o.partition] = Number(o.high);
      }
      const committed = new Array<number>(n).fill(-1);
      if (groupId) {
        const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
        for (const o of t?.partitions ?? []) committed[o.partition] = Number(o.offset);
      }
      return { low, high, committed };
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      throw new SluiceError('SLUICE_KAFKA', `cannot read topic "${topic}" from ${this.where()}: ${(e as Error).message}`, { cause: e });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Joins the group, subscribed to one topic, without auto-commit: offsets are committed by the
   *  engine only once the outputs before them are acknowledged (SPEC §10). */
  async consume(topic: string, groupId: string, handlers: GroupHandlers): Promise<GroupConsumer> {
    const consumer: Consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: DEFAULT_SESSION_TIMEOUT_MS,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 100,
      ...pick(this.settings, CONSUMER_KEYS),
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = (e.payload.memberAssignment[topic] ?? []).slice().sort((a, b) => a - b);
      log.info('joined the consumer group', { groupId, topic, partitions: assigned, durationMs: e.payload.duration });
      handlers.onAssign(assigned, (partition, offset) => consumer.seek({ topic, partition, offset: String(offset) }));
    });
    consumer.on(consumer.events.CRASH, (e) => log.warn('consumer failed; restarting', { error: e.payload.error, restart: e.payload.restart }));
    // Inside fastRecords: the consumer's connections, and so its fetches, read record batches
    // into columns instead of per-record objects.
    await fastRecords.run(true, () => connect(consumer, this.where()));
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await fastRecords.run(true, () => consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale()) return;
        await handlers.onBatch({ partition: batch.partition, messages: batch.messages as FetchedRecord[], highWatermark: Number(batch.highWatermark) }, heartbeat);
      },
    }));
    return {
      commit: (offsets) => consumer.commitOffsets(offsets.map((o) => ({ topic, partition: o.partition, offset: String(o.offset) }))),
      stop: () => consumer.disconnect(),
    };
  }

  async producer(): Promise<RecordProducer> {
    // Named explicitly (kafkajs warns otherwise); keyed records go where Java clients put them.
    // Not idempotent by default: kafkajs calls it experimental, and it cannot start against the mock
    // broker (no controller). So a send retried after a lost answer may write records twice
    // (at-least-once, SPEC §10); `kafka: { idempotent: true }` turns it on.
    const settings = pick(this.settings, PRODUCER_KEYS);
    const producer: Producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, ...settings });
    await connect(producer, this.where());
    // Encoded records travel as one stand-in message (produce-request.ts), unless kafkajs writes
    // the requests itself (idempotence, SLUICE_KAFKAJS_RECORDS=1): then as one message each.
    const encoded = settings.idempotent !== true && encodedSendsWork();
    return {
      async send(topic, segments) {
        if (segments.every((s) => s.to === s.from)) return;
        const messages: Message[] = encoded ? [encodedMessage(segments) as Message] : segments.flatMap(messagesOf);
        await producer.send({ topic, messages, acks: -1, compression: CompressionTypes.None });
      },
      warm: async (topic) => void (await producer.send({ topic, messages: [] })),
      close: () => producer.disconnect(),
    };
  }
}

/** One kafkajs message per record (the keyed ones land where their hash says, as kafkajs's
 *  partitioner hashes the same key bytes). */
export function messagesOf({ records: r, from, to }: RecordSegment): Message[] {
  const messages = [];
  for (let i = from; i < to; i++) {
    const key = r.hasKey(i) ? Buffer.from(r.keys.subarray(r.keyStart(i), r.keyEnd[i])) : null;
    const value = Buffer.from(r.values.subarray(r.valueStart(i), r.valueEnd[i] - 1));
    messages.push({ key, value, timestamp: Number.isNaN(r.timestampMs[i]) ? undefined : String(r.timestampMs[i]) });
  }
  return messages;
}

async function connect(client: { connect(): Promise<void> }, where: string): Promise<void> {
  try {
    await client.connect();
  } catch (e) {
    throw new SluiceError('SLUICE_KAFKA', `cannot connect to Kafka at ${where}: ${(e as Error).message}`, { cause: e });
  }
}
