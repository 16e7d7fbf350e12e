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
import type { PartitionRecord } from '../../state/partition-log';
import type { SinkCompression } from '../../config/types';
import { logger } from '../../log';
import { registerCodecs } from './codecs';
import { installFastRecords, socketFactory, RECORDS, type RecordColumns } from './record-batch';

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
   *  fetching starts (otherwise: the group's committed offset). `pause` and `resume` stop and
   *  restart fetching partitions. */
  onAssign(partitions: number[], seek: (partition: number, offset: number) => void, control: { pause(partitions: number[]): void; resume(partitions: number[]): void }): void;
  /** The consumer crashed: the member left the group without giving its partitions up. */
  onLost?(): void;
  /** The consumer stopped for good (an error kafkajs does not retry). */
  onFatal?(error: unknown): void;
  /** Called before the member rejoins a rebalancing group (not before its first join); the group
   *  waits (up to its rebalance timeout) until it resolves. */
  beforeRejoin?(): Promise<void>;
}

export interface GroupConsumer {
  commit(offsets: Array<{ partition: number; offset: number }>): Promise<void>;
  stop(): Promise<void>;
}

/** One topic read and written partition by partition, outside any consumer group: a changelog
 *  (SPEC §15). */
export interface PartitionLog {
  readonly topic: string;
  /** Appends records to one partition, in order, LZ4-compressed; resolves once all are
   *  acknowledged (acks -1) with the offset after the last. */
  append(partition: number, records: PartitionRecord[]): Promise<number>;
  /** Per partition: first offset held, and the end offset. */
  offsets(): Promise<TopicOffsets>;
  /** Reads [from, to) of a partition, in offset order; resolves with the bytes read. */
  read(partition: number, from: number, to: number, onRecord: (offset: number, key: string, value: Buffer | null) => void): Promise<number>;
  close(): Promise<void>;
}

/** Records per produce request of a log: well under a broker's default max message size (1 MB). */
const LOG_REQUEST_BYTES = 512 << 10;
/** How long a log read waits for data it knows is there (a fetch answers at once when it has any). */
const LOG_FETCH_WAIT_MS = 100;
const LOG_FETCH_ATTEMPTS = 8;

export type { RecordSegment };

export interface RecordProducer {
  /** Sends encoded records (src/records/encoded.ts), keyed records to the partition of their
   *  key's hash; resolves when every one is acknowledged by all in-sync replicas (acks -1). */
  send(topic: string, segments: RecordSegment[]): Promise<void>;
  /** Loads the topic's metadata now, so that the first results do not wait for it. */
  warm(topic: string): Promise<void>;
  close(): Promise<void>;
}

/** Group membership errors after which the consumer joins again rather than stop. */
const GROUP_ERRORS = ['INVALID_REQUEST', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS'];

/** kafkajs wraps what its join gives up on (KafkaJSNonRetriableError) without the type: the
 *  message tells INVALID_REQUEST apart then. */
const isGroupError = (e: Error & { type?: string }) => GROUP_ERRORS.includes(e.type ?? '') || /request being malformed/.test(e.message);

/** Per group id, what to do before this process's member rejoins it (GroupHandlers.beforeRejoin). */
const beforeRejoin = new Map<string, () => Promise<void>>();
let rejoinHooked = false;

/**
 * kafkajs has no hook between noticing a rebalance and rejoining (Java's onPartitionsRevoked): its
 * consumer group's joinAndSync is wrapped here, once, to wait for the member's beforeRejoin first.
 * Eager rebalancing then works as in Kafka Streams: the group completes only once every member
 * has checkpointed what it gives up.
 */
function hookRejoin(): void {
  if (rejoinHooked) return;
  rejoinHooked = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const proto = (require(require.resolve('kafkajs/src/consumer/consumerGroup')) as { prototype: { joinAndSync(): Promise<void>; groupId: string; generationId: number | null } }).prototype;
  const original = proto.joinAndSync;
  proto.joinAndSync = async function (this: typeof proto) {
    const hook = beforeRejoin.get(this.groupId);
    if (hook && this.generationId !== null && this.generationId !== undefined) await hook();
    return original.call(this);
  };
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

/** sink.compression as kafkajs names it (codecs.ts registers snappy and lz4). */
const CODECS: Record<SinkCompression, CompressionTypes> = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4 };

export class KafkaClient {
  private readonly kafka: Kafka;
  /** For start-up calls: the same settings, but a few retries only, so that a wrong address
   *  fails the start instead of hanging it. */
  private readonly startup: Kafka;
  private readonly consumers: Kafka;
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
      socketFactory: socketFactory({ fast: false }) as KafkaConfig['socketFactory'],
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
    // The group consumers' own connections, whose fetches read record batches as columns.
    this.consumers = new Kafka({ ...clientConfig, socketFactory: socketFactory({ fast: true }) as KafkaConfig['socketFactory'] });
  }

  private where(): string {
    return this.config.brokers.join(',');
  }

  /** Partition count and offsets of a topic; a clear error when it does not exist. At start-up
   *  (the default) with a few retries only; `retryForever` with the job's retries (mid-run). */
  async topicOffsets(topic: string, groupId?: string, opts: { retryForever?: boolean } = {}): Promise<TopicOffsets & { committed: number[] }> {
    const admin = (opts.retryForever ? this.kafka : this.startup).admin();
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
    if (handlers.beforeRejoin) hookRejoin();
    const consumer: Consumer = this.consumers.consumer({
      groupId,
      sessionTimeout: DEFAULT_SESSION_TIMEOUT_MS,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 100,
      ...pick(this.settings, CONSUMER_KEYS),
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = (e.payload.memberAssignment[topic] ?? []).slice().sort((a, b) => a - b);
      log.info('joined the consumer group', { groupId, topic, partitions: assigned, durationMs: e.payload.duration });
      const control = { pause: (partitions: number[]) => consumer.pause([{ topic, partitions }]), resume: (partitions: number[]) => consumer.resume([{ topic, partitions }]) };
      handlers.onAssign(assigned, (partition, offset) => consumer.seek({ topic, partition, offset: String(offset) }), control);
    });
    if (handlers.beforeRejoin) beforeRejoin.set(groupId, handlers.beforeRejoin);
    let stopping = false;
    let restarting: Promise<void> | null = null;
    consumer.on(consumer.events.CRASH, (e) => {
      const error = e.payload.error as Error & { type?: string };
      // Whatever happens next, this member has left the group: it rejoins as a new one.
      if (!stopping) handlers.onLost?.();
      if (e.payload.restart) return log.warn('consumer failed; restarting', { error });
      if (stopping) return;
      // kafkajs gives up on errors it calls fatal. A group protocol error (the mock broker answers
      // a SyncGroup racing a rebalance with INVALID_REQUEST) is not: join again. Others end the job.
      if (isGroupError(error)) {
        log.warn('consumer left the group on an error; joining again', { error: error.message });
        setTimeout(() => (restarting = runAgain().catch((err) => handlers.onFatal?.(err))), 1000);
      } else {
        handlers.onFatal?.(new SluiceError('SLUICE_KAFKA', `the consumer of topic "${topic}" stopped: ${error.message}`, { cause: error }));
      }
    });
    await connect(consumer, this.where());
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const run = () => consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale()) return;
        await handlers.onBatch({ partition: batch.partition, messages: batch.messages as FetchedRecord[], highWatermark: Number(batch.highWatermark) }, heartbeat);
      },
    });
    const runAgain = async () => {
      if (stopping) return;
      await connect(consumer, this.where());
      if (!stopping) await run();
    };
    await run();
    return {
      commit: (offsets) => consumer.commitOffsets(offsets.map((o) => ({ topic, partition: o.partition, offset: String(o.offset) }))),
      stop: async () => {
        stopping = true;
        if (beforeRejoin.get(groupId) === handlers.beforeRejoin) beforeRejoin.delete(groupId);
        await restarting; // a rejoin under way connects first; then it is disconnected too
        await consumer.disconnect();
      },
    };
  }

  /** A log over `topic` (which must exist): a producer for appends, and kafkajs's own cluster
   *  connection for reads by offset, which its consumers only do inside a group. */
  async partitionLog(topic: string): Promise<PartitionLog> {
    const producer: Producer = this.kafka.producer({ allowAutoTopicCreation: false, ...pick(this.settings, PRODUCER_KEYS) });
    await connect(producer, this.where());
    const createCluster = Object.getOwnPropertySymbols(this.kafka).find((s) => s.description === 'private:Kafka:createCluster');
    if (!createCluster) throw new SluiceError('SLUICE_KAFKA', 'this kafkajs has no cluster factory (sluice needs kafkajs 2.x)');
    const cluster = (this.kafka as unknown as Record<symbol, (o: object) => KafkajsCluster>)[createCluster]({ allowAutoTopicCreation: false });
    await connect(cluster, this.where());
    await cluster.addTargetTopic(topic);
    const self = this;
    return {
      topic,
      async append(partition, records) {
        let end = -1;
        for (let i = 0; i < records.length; ) {
          const messages: Message[] = [];
          for (let bytes = 0; i < records.length && (messages.length === 0 || bytes < LOG_REQUEST_BYTES); i++) {
            const [key, value] = records[i];
            messages.push({ key, value, partition });
            bytes += key.length + (value?.length ?? 0);
          }
          const [meta] = await producer.send({ topic, messages, acks: -1, compression: CompressionTypes.LZ4 });
          end = Number(meta.baseOffset) + messages.length;
        }
        return end;
      },
      offsets: async () => {
        const { low, high } = await self.topicOffsets(topic, undefined, { retryForever: true });
        return { low, high };
      },
      async read(partition, from, to, onRecord) {
        let bytes = 0;
        for (let at = from; at < to; ) {
          // Plain records (with their keys): this cluster's connections are not the consumers'.
          const { responses } = await fetchRetrying(async () => {
            const [leader] = Object.entries(cluster.findLeaderForPartitions(topic, [partition]));
            if (!leader) throw new SluiceError('SLUICE_KAFKA', `topic "${topic}" partition ${partition} has no leader`);
            const broker = await cluster.findBroker({ nodeId: leader[0] });
            return broker.fetch({ maxWaitTime: LOG_FETCH_WAIT_MS, minBytes: 1, maxBytes: 16 << 20, isolationLevel: 1, topics: [{ topic, partitions: [{ partition, fetchOffset: String(at), maxBytes: 8 << 20 }] }] });
          }, () => cluster.refreshMetadata());
          const messages = responses[0]?.partitions[0]?.messages ?? [];
          // Nothing at or past `at`: the rest of the range was compacted away (a real broker
          // removes old tombstones too). Records past `to` end the read as well.
          if (messages.length === 0) break;
          let past = false;
          const before = at;
          for (const m of messages) {
            const offset = Number(m.offset);
            if (offset >= to) past = true;
            if (offset < at || offset >= to) continue;
            bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0);
            onRecord(offset, m.key?.toString('utf8') ?? '', m.value);
            at = offset + 1;
          }
          if (past) break;
          // A compacted batch whose records left are all below `at`: step past it.
          if (at === before) at++;
        }
        return bytes;
      },
      async close() {
        await producer.disconnect().catch(() => undefined);
        await cluster.disconnect().catch(() => undefined);
      },
    };
  }

  /** A producer of the job's outputs; `compression`: each send's record batches (sink.compression). */
  async producer(compression: SinkCompression = 'none'): Promise<RecordProducer> {
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
        await producer.send({ topic, messages, acks: -1, compression: CODECS[compression] });
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

/** A log read's fetch, tried again (after a metadata refresh) on a connection timeout or a moved
 *  leader: a restore must not fail on what a consumer would retry. */
async function fetchRetrying<T>(fetch: () => Promise<T>, refresh: () => Promise<void>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch();
    } catch (e) {
      if (attempt >= LOG_FETCH_ATTEMPTS || e instanceof SluiceError) throw e;
      log.warn(`a changelog fetch failed (attempt ${attempt} of ${LOG_FETCH_ATTEMPTS}); trying again`, { error: (e as Error).message });
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      await refresh().catch(() => undefined);
    }
  }
}

/** What partitionLog uses of kafkajs's (internal) cluster. */
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(o: { nodeId: string }): Promise<{
    fetch(request: object): Promise<{ responses: Array<{ partitions: Array<{ messages: Array<{ offset: string; key: Buffer | null; value: Buffer | null }> }> }> }>;
  }>;
}

async function connect(client: { connect(): Promise<void> }, where: string): Promise<void> {
  try {
    await client.connect();
  } catch (e) {
    throw new SluiceError('SLUICE_KAFKA', `cannot connect to Kafka at ${where}: ${(e as Error).message}`, { cause: e });
  }
}
