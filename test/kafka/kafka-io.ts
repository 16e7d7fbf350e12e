// Putting test input into topics and reading outputs back. Producing goes through kafkajs (or kcat
// for compressed topics, so that another client's encoding is what sluice decodes); reading goes
// through kcat, which reads a topic to its end without a consumer group (the mock broker's first
// group join alone takes 3 s).
import { spawn, spawnSync } from 'node:child_process';
import { Kafka, logLevel, type Producer } from 'kafkajs';

export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  timestampMs: number;
  value: string;
}

/** The kcat binary, or a clear failure (Debian: apt-get install kcat). */
function kcatBin(): string {
  const r = spawnSync('kcat', ['-V'], { encoding: 'utf8' });
  if (r.error) throw new Error(`the Kafka tests need kcat to read topics: apt-get install kcat (${r.error.message})`);
  return 'kcat';
}

export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'sluice-test', brokers, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
}

/** Sends lines to explicit partitions, in order per partition, in batches (the mock slows down
 *  badly with many tiny record batches). */
export async function produceLines(brokers: string[], topic: string, byPartition: Record<number, string[]>, batch = 500): Promise<void> {
  const producer: Producer = testKafka(brokers).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (const [p, lines] of Object.entries(byPartition)) {
      for (let i = 0; i < lines.length; i += batch) {
        const messages = lines.slice(i, i + batch).map((value) => ({ value, partition: Number(p) }));
        await producer.send({ topic, acks: -1, messages });
      }
    }
  } finally {
    await producer.disconnect();
  }
}

/** Produces lines to one partition with kcat, compressed with `codec` (snappy, lz4, zstd, gzip). */
export async function kcatProduce(brokers: string[], topic: string, partition: number, lines: string[], codec: string): Promise<void> {
  const child = spawn(kcatBin(), ['-P', '-b', brokers.join(','), '-t', topic, '-p', String(partition), '-z', codec, '-X', 'linger.ms=20', '-X', 'batch.num.messages=1000'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.stdin.end(lines.join('\n') + '\n');
  const code = await exited;
  if (code !== 0) throw new Error(`kcat -P -z ${codec} exited with ${code}: ${stderr}`);
}

/** Every record of the topic, partition by partition in offset order. */
export function readTopic(brokers: string[], topic: string): ReadRecord[] {
  // Fields split by \x1f, records by \x1e: JSON values contain neither unescaped.
  const r = spawnSync(kcatBin(), ['-C', '-b', brokers.join(','), '-t', topic, '-e', '-q', '-o', 'beginning', '-f', '%p\x1f%o\x1f%k\x1f%T\x1f%s\x1e', '-Z'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`kcat -C ${topic} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  const out: ReadRecord[] = [];
  for (const rec of r.stdout.split('\x1e')) {
    if (rec === '' || rec === '\n') continue;
    const [p, o, k, ts, value] = rec.replace(/^\n/, '').split('\x1f');
    out.push({ partition: Number(p), offset: Number(o), key: k === '' ? null : k, timestampMs: Number(ts), value });
  }
  out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  return out;
}

/** Committed offsets of a group on a topic (-1: none). */
export async function committedOffsets(brokers: string[], groupId: string, topic: string): Promise<number[]> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return t.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
  } finally {
    await admin.disconnect();
  }
}

export async function endOffsets(brokers: string[], topic: string): Promise<number[]> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition).map((p) => Number(p.high));
  } finally {
    await admin.disconnect();
  }
}
