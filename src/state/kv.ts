// The key-value store under the checkpoint store (src/state/store.ts), and the only module that
// imports a RocksDB binding. Two bindings fit behind it:
//   - `@nxtedition/rocksdb` (RocksDB 9.x, maintained; abstract-level API): the default;
//   - `rocksdb` (Level's, RocksDB 6.17, deprecated upstream in December 2024; abstract-leveldown),
//     kept as a devDependency so that `npm run bench` measures both (bench/suites/state.ts).
// docs/state.md says why the fork won.
import * as fs from 'node:fs';

export type KvBackend = 'nxtedition' | 'level';
export const DEFAULT_KV_BACKEND: KvBackend = 'nxtedition';

export interface KvStore {
  readonly backend: KvBackend;
  get(key: string): Promise<Buffer | undefined>;
  /** Entries whose key starts with `prefix`, in key order. */
  entries(prefix: string): AsyncIterable<[string, Buffer]>;
  /** One atomic write batch, synced to disk before it resolves. */
  write(puts: ReadonlyArray<readonly [string, Uint8Array]>, dels: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** The key just after every key that starts with `prefix` (an iterator's exclusive end). */
const prefixEnd = (prefix: string) => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
/** Keys are ASCII; latin1 maps them to bytes one to one, both ways. */
const kb = (key: string) => Buffer.from(key, 'latin1');
const range = (prefix: string) => ({ gte: kb(prefix), lt: kb(prefixEnd(prefix)) });

export async function openKv(dir: string, backend: KvBackend = DEFAULT_KV_BACKEND): Promise<KvStore> {
  fs.mkdirSync(dir, { recursive: true });
  return backend === 'nxtedition' ? openNxtedition(dir) : openLevel(dir);
}

interface AbstractLevelDb {
  open(): Promise<void>;
  get(key: Buffer): Promise<Buffer>;
  batch(ops: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }>, options: { sync: boolean }): Promise<void>;
  iterator(options: { gte: Buffer; lt: Buffer }): AsyncIterable<[Buffer, Buffer]> & { close(): Promise<void> };
  close(): Promise<void>;
}

async function openNxtedition(dir: string): Promise<KvStore> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RocksLevel } = require('@nxtedition/rocksdb') as { RocksLevel: new (dir: string, options: object) => AbstractLevelDb };
  const db = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  // Uncompressed: window state (float64s) hardly compresses, and ZSTD on the files and the
  // write-ahead log doubled write and restore times (bench/suites/state.ts).
  await (db.open as (options: object) => Promise<void>)({ compression: false, walCompression: false });
  return {
    backend: 'nxtedition',
    async get(key) {
      try {
        return await db.get(kb(key));
      } catch (e) {
        if ((e as { code?: string }).code === 'LEVEL_NOT_FOUND') return undefined;
        throw e;
      }
    },
    async *entries(prefix) {
      for await (const [k, v] of db.iterator(range(prefix))) yield [k.toString('latin1'), v];
    },
    write: (puts, dels) => db.batch(batchOps(puts, dels), { sync: true }),
    close: () => db.close(),
  };
}

type Callback<T = void> = (err: Error | null | undefined, value?: T) => void;
interface LeveldownDb {
  open(options: object, cb: Callback): void;
  get(key: Buffer, cb: Callback<Buffer>): void;
  batch(ops: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }>, options: { sync: boolean }, cb: Callback): void;
  iterator(options: { gte: Buffer; lt: Buffer }): { next(cb: (err: Error | null, key?: Buffer, value?: Buffer) => void): void; end(cb: Callback): void };
  close(cb: Callback): void;
}

async function openLevel(dir: string): Promise<KvStore> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rocksdb = require('rocksdb') as (dir: string) => LeveldownDb;
  const db = rocksdb(dir);
  const call = <T>(f: (cb: Callback<T>) => void) => new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
  await call((cb) => db.open({ createIfMissing: true }, cb));
  return {
    backend: 'level',
    async get(key) {
      try {
        return await call<Buffer>((cb) => db.get(kb(key), cb));
      } catch (e) {
        if (/NotFound/i.test((e as Error).message)) return undefined;
        throw e;
      }
    },
    async *entries(prefix) {
      const it = db.iterator(range(prefix));
      try {
        while (true) {
          const [k, v] = await new Promise<[Buffer?, Buffer?]>((resolve, reject) => it.next((err, k, v) => (err ? reject(err) : resolve([k, v]))));
          if (k === undefined) return;
          yield [k.toString('latin1'), v!];
        }
      } finally {
        await call((cb) => it.end(cb));
      }
    },
    write: (puts, dels) => call((cb) => db.batch(batchOps(puts, dels), { sync: true }, cb)),
    close: () => call((cb) => db.close(cb)),
  };
}

function batchOps(puts: ReadonlyArray<readonly [string, Uint8Array]>, dels: readonly string[]) {
  const ops: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }> = [];
  for (const k of dels) ops.push({ type: 'del', key: kb(k) });
  for (const [k, v] of puts) ops.push({ type: 'put', key: kb(k), value: Buffer.from(v.buffer, v.byteOffset, v.byteLength) });
  return ops;
}
