// The key-value store on a thread of its own (workers/kv-worker.ts). @nxtedition/rocksdb writes a
// batch on the calling thread, fsync included: a checkpoint's write held the main thread for its
// whole length (measured: 25-40 ms for a few MB, 200-400 ms for 20 MB), and every result waiting
// meanwhile with it. Here the main thread only hands the batch over (its page buffers moved, not
// copied) and awaits the answer.
import * as path from 'node:path';
import { Worker, type MessagePort } from 'node:worker_threads';
import type { KvBackend, KvStore } from './kv';

export interface KvThreadData {
  dir: string;
  backend?: KvBackend;
}

type Request =
  | { id: number; op: 'get'; key: string }
  | { id: number; op: 'entries'; prefix: string }
  | { id: number; op: 'write'; puts: Array<[string, Uint8Array]>; dels: string[] }
  | { id: number; op: 'close' };

/** A request before it gets its id (Omit does not distribute over a union). */
type Unsent = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

/** A page of entries: their keys, and their values back to back in one buffer. */
interface EntriesPage {
  keys: string[];
  ends: number[];
  data: ArrayBuffer;
}

type Reply =
  | { id: 0; op: 'opened'; backend: KvBackend }
  | { id: number; value?: Uint8Array | null; page?: EntriesPage; done?: boolean }
  | { id: number; error: { message: string; code?: string } };

/** Entries go back in pages of about this many bytes: bounded messages while a restore streams. */
const PAGE_BYTES = 8 << 20;

/** Opens the store in a new thread; resolves once it is open (or rejects with why it is not). */
export function openKvOnThread(dir: string, backend?: KvBackend): Promise<KvStore> {
  // Compiled layout: dist/src/state/kv-thread.js -> dist/workers/kv-worker.js
  const worker = new Worker(path.join(__dirname, '..', '..', 'workers', 'kv-worker.js'), { workerData: { dir, backend } satisfies KvThreadData });
  const pending = new Map<number, (reply: Reply) => void>();
  let nextId = 1;
  let failure: Error | null = null;
  const failAll = (e: Error) => {
    failure ??= e;
    for (const handle of [...pending.values()]) handle({ id: -1, error: { message: failure.message } });
    pending.clear();
  };
  return new Promise<KvStore>((resolve, reject) => {
    worker.on('error', (e) => {
      failAll(e);
      reject(e);
    });
    worker.on('exit', (code) => failAll(new Error(`the state store's thread exited (code ${code})`)));
    worker.on('message', (reply: Reply) => {
      if ('op' in reply && reply.op === 'opened') return resolve(store(reply.backend));
      if (reply.id === 0 && 'error' in reply) return reject(errorOf(reply.error));
      pending.get(reply.id)?.(reply);
    });
  });

  function call(request: Unsent, transfer: ArrayBuffer[] = [], onReply?: (reply: Reply) => boolean): Promise<Reply> {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, (reply) => {
        if ('error' in reply) {
          pending.delete(id);
          return reject(errorOf(reply.error));
        }
        if (onReply && !onReply(reply)) return; // more to come
        pending.delete(id);
        resolve(reply);
      });
      worker.postMessage({ ...request, id }, transfer);
    });
  }

  function store(backend: KvBackend): KvStore {
    return {
      backend,
      async get(key) {
        const reply = (await call({ op: 'get', key })) as { value?: Uint8Array | null };
        return reply.value ? Buffer.from(reply.value.buffer, reply.value.byteOffset, reply.value.byteLength) : undefined;
      },
      async *entries(prefix) {
        const pages: EntriesPage[] = [];
        let wake: (() => void) | null = null;
        let finished = false;
        const done = call({ op: 'entries', prefix }, [], (reply) => {
          if ('page' in reply && reply.page) pages.push(reply.page);
          wake?.();
          return 'done' in reply && reply.done === true;
        }).finally(() => {
          finished = true;
          wake?.();
        });
        done.catch(() => undefined); // surfaced below
        while (true) {
          const page = pages.shift();
          if (page) {
            for (let i = 0; i < page.keys.length; i++) yield [page.keys[i], Buffer.from(page.data, i ? page.ends[i - 1] : 0, page.ends[i] - (i ? page.ends[i - 1] : 0))];
            continue;
          }
          if (finished) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
        await done;
      },
      async write(puts, dels) {
        // Values that own their whole buffer move to the thread; the rest are copied.
        const transfer: ArrayBuffer[] = [];
        for (const [, v] of puts) if (v.byteOffset === 0 && v.buffer instanceof ArrayBuffer && v.byteLength === v.buffer.byteLength && !transfer.includes(v.buffer)) transfer.push(v.buffer);
        await call({ op: 'write', puts: puts as Array<[string, Uint8Array]>, dels: dels as string[] }, transfer);
      },
      async close() {
        if (failure) return;
        await call({ op: 'close' }).catch(() => undefined);
        await worker.terminate();
      },
    };
  }
}

function errorOf(e: { message: string; code?: string }): Error {
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}

/** The thread's side: answers requests against the store it opened. */
export function serveKv(port: MessagePort, open: Promise<KvStore>): void {
  const post = (reply: Reply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
  const fail = (id: number, e: unknown) => post({ id, error: { message: (e as Error)?.message ?? String(e), code: (e as { code?: string })?.code } });
  open.then(
    (kv) => {
      post({ id: 0, op: 'opened', backend: kv.backend });
      port.on('message', (request: Request) => void answer(kv, request).catch((e) => fail(request.id, e)));
    },
    (e) => fail(0, e),
  );

  async function answer(kv: KvStore, r: Request): Promise<void> {
    switch (r.op) {
      case 'get': {
        const value = await kv.get(r.key);
        return post({ id: r.id, value: value ?? null });
      }
      case 'write':
        await kv.write(r.puts, r.dels);
        return post({ id: r.id });
      case 'entries': {
        let keys: string[] = [];
        let values: Buffer[] = [];
        let bytes = 0;
        const flush = (done: boolean) => {
          const data = new ArrayBuffer(bytes);
          const view = new Uint8Array(data);
          const ends: number[] = [];
          let at = 0;
          for (const v of values) {
            view.set(v, at);
            ends.push((at += v.length));
          }
          post({ id: r.id, page: { keys, ends, data }, done }, [data]);
          keys = [];
          values = [];
          bytes = 0;
        };
        for await (const [k, v] of kv.entries(r.prefix)) {
          keys.push(k);
          values.push(v);
          bytes += v.length;
          if (bytes >= PAGE_BYTES) flush(false);
        }
        return flush(true);
      }
      case 'close':
        await kv.close();
        post({ id: r.id });
        port.close();
        return;
    }
  }
}
