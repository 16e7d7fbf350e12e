// A Kafka broker for tests (SPEC.md §2): a real cluster when KAFKA_BROKERS is set, otherwise
// librdkafka's mock cluster run by test/kafka/mock-broker.c, compiled here on first use.
//
//   const broker = await startBroker({ orders: 4 });
//   if (!broker) return t.skip('...');          // only possible outside CI
//   ... new Kafka({ brokers: broker.brokers }) ...
//   await broker.command('down 1');             // mock only: fault injection, resolves 'ok'
//   await broker.stop();
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { repoRoot } from '../helpers/paths';

export interface TestBroker {
  brokers: string[];
  /** true for the mock cluster, which takes commands; false for a real cluster (KAFKA_BROKERS). */
  mock: boolean;
  /** Send one command line to the mock (`down <id>`, `up <id>`, `error <apiKey> <code> <count>`,
   *  `delay <id> <apiKey> <ms> <count>`: see mock-broker.c);
   *  resolves with its answer, `ok` or `error <reason>`. Rejects on a real cluster. */
  command(line: string): Promise<string>;
  /** Idempotent. */
  stop(): Promise<void>;
}

export interface BrokerOptions {
  /** Brokers in the mock cluster (ids 1..n). Default 3, so `down 1` leaves a cluster behind. */
  brokers?: number;
}

const source = path.join(repoRoot, 'test', 'kafka', 'mock-broker.c');
const binary = path.join(repoRoot, 'build', 'test', 'mock-broker');
const HOW_TO =
  'install librdkafka-dev, kcat and a C compiler (apt-get install gcc librdkafka-dev kcat), or set KAFKA_BROKERS=host:port[,host:port]';
let warned = false;

/** Starts a broker with the given topics (name -> partitions), or returns null when there is no
 *  way to get one (after one loud line on stderr). With CI=true that case throws instead. */
export async function startBroker(topics: Record<string, number>, opts: BrokerOptions = {}): Promise<TestBroker | null> {
  const env = process.env.KAFKA_BROKERS?.trim();
  if (env) return realCluster(env.split(',').map((b) => b.trim()).filter(Boolean), topics);

  const unavailable = buildHelper();
  if (unavailable) {
    const msg = `Kafka tests need a broker: ${unavailable}. To enable them, ${HOW_TO}.`;
    if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: a skipped Kafka test is a failure)`);
    if (!warned) process.stderr.write(`\n!!! KAFKA TESTS SKIPPED !!! ${msg}\n\n`);
    warned = true;
    return null;
  }
  return startMock(topics, opts.brokers ?? 3);
}

/** Compiles the helper if it is missing or older than its source. Returns why the mock cannot be
 *  had (no compiler, no librdkafka), or null when the binary is ready. Other errors throw. */
function buildHelper(): string | null {
  const mtime = (f: string) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? -1;
  if (mtime(binary) >= mtime(source)) return null;
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  // Test files run in parallel processes: compile to a private name, then rename into place.
  const tmp = `${binary}.${process.pid}.tmp`;
  const res = spawnSync('cc', ['-O2', '-o', tmp, source, '-lrdkafka'], { encoding: 'utf8' });
  if ((res.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'no C compiler (cc) on PATH';
  if (res.error) throw res.error;
  if (res.status !== 0) {
    fs.rmSync(tmp, { force: true });
    if (/rdkafka(_mock)?\.h: No such file|cannot find -lrdkafka/.test(res.stderr)) return 'librdkafka-dev is not installed';
    throw new Error(`compiling ${source} failed:\n${res.stderr}`);
  }
  fs.renameSync(tmp, binary);
  return null;
}

async function realCluster(brokers: string[], topics: Record<string, number>): Promise<TestBroker> {
  // Topics on a real cluster may not exist yet: create them (an existing topic is left as it is).
  const admin = new Kafka({ clientId: 'sluice-test-setup', brokers, logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  try {
    const wanted = Object.entries(topics).map(([topic, numPartitions]) => ({ topic, numPartitions }));
    if (wanted.length) await admin.createTopics({ topics: wanted, waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return {
    brokers,
    mock: false,
    command: async (line) => {
      throw new Error(`broker command '${line}' needs the mock cluster; KAFKA_BROKERS is set, so there is none`);
    },
    stop: async () => {},
  };
}

async function startMock(topics: Record<string, number>, count: number): Promise<TestBroker> {
  const args = [String(count), ...Object.entries(topics).map(([t, p]) => `${t}:${p}`)];
  const child: ChildProcessWithoutNullStreams = spawn(binary, args, { stdio: 'pipe' });
  // Kept for error messages only, so passing tests stay quiet.
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  child.stdin.on('error', () => {}); // EPIPE when the helper died: reported through 'exit' instead
  let exited: string | null = null;
  const waiters: Array<{ resolve(l: string): void; reject(e: Error): void }> = [];
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.on('exit', (code, signal) => {
    process.removeListener('exit', killOnExit);
    exited = `mock-broker exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`;
    for (const w of waiters.splice(0)) w.reject(new Error(exited));
  });
  child.on('error', (e) => {
    exited = `mock-broker: ${e.message}`;
    for (const w of waiters.splice(0)) w.reject(e);
  });
  readline.createInterface({ input: child.stdout }).on('line', (l) => waiters.shift()?.resolve(l));

  // Each stdout line answers the oldest waiter: the bootstrap line first, then one per command.
  const nextLine = (what: string, ms: number) =>
    new Promise<string>((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      const done = {
        resolve: (l: string) => (clearTimeout(timer), resolve(l)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(done), 1);
        reject(new Error(`mock-broker: no ${what} within ${ms} ms${stderr ? `; ${stderr.trim()}` : ''}`));
      }, ms);
      waiters.push(done);
    });

  const stop = async () => {
    if (exited || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end(); // EOF alone stops it; SIGTERM covers a helper busy elsewhere
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  let bootstrap: string;
  try {
    bootstrap = await nextLine('bootstrap address', 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  let queue: Promise<unknown> = Promise.resolve();
  return {
    brokers: bootstrap.split(','),
    mock: true,
    command: (line) => {
      if (/[\r\n]/.test(line)) return Promise.reject(new Error('broker command must be one line'));
      // One at a time, so answers cannot be paired with the wrong command.
      const run = async () => {
        const answer = nextLine(`answer to '${line}'`, 5000);
        child.stdin.write(`${line}\n`);
        return answer;
      };
      const p = queue.then(run, run);
      queue = p.catch(() => {});
      return p;
    },
    stop,
  };
}
