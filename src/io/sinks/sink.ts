// Where records go (RecordSink, src/runtime/ports.ts): files and stdout take the records' values
// region as it comes, one line per record, in whole buffers.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { SinkConfig } from '../../config/types';
import { SluiceError } from '../../errors';
import type { EncodedRecords } from '../../records/encoded';
import type { RecordSink } from '../../runtime/ports';
import { KafkaSink } from '../kafka/sink';

/** Buffer this many bytes before writing: fewer syscalls, bounded memory. */
const FLUSH_BYTES = 1 << 20;

export class FileSink implements RecordSink {
  private chunks: Uint8Array[] = [];
  private pending = 0;
  /** Bytes handed to the file so far; each write goes at its own position, in order. */
  private length: number;
  private writing: Promise<unknown> = Promise.resolve();
  private failure: unknown = null;

  private constructor(
    readonly where: string,
    private readonly fh: fs.FileHandle,
    resumeAt: number,
  ) {
    this.length = resumeAt;
  }

  /** Opens the file empty, or, resuming from a checkpoint, cut back to `resumeAt` bytes (what
   *  the checkpoint had acknowledged: anything after it is written again). */
  static async open(file: string, resumeAt = 0): Promise<FileSink> {
    let fh: fs.FileHandle;
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      fh = await fs.open(file, resumeAt > 0 ? 'r+' : 'w');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' && resumeAt > 0 ? `missing, but the checkpoint says it had ${resumeAt} bytes` : `cannot open for writing (${code ?? String(e)})`;
      throw new SluiceError(resumeAt > 0 ? 'SLUICE_STATE' : 'SLUICE_RUNTIME', `${file}: ${why}`, { cause: e });
    }
    if (resumeAt > 0) {
      const { size } = await fh.stat();
      if (size < resumeAt) {
        await fh.close();
        throw new SluiceError('SLUICE_STATE', `${file}: has ${size} bytes, but the checkpoint says ${resumeAt} were written and synced: it was cut or replaced; move it away or start over with --reset-state`);
      }
      await fh.truncate(resumeAt);
      await fh.sync();
    }
    return new FileSink(file, fh, resumeAt);
  }

  /** Bytes written so far (as of the last flush() call, which hands buffered lines over). */
  get bytes(): number {
    return this.length;
  }

  async write(records: EncodedRecords): Promise<void> {
    const bytes = records.valueBytes;
    if (bytes === 0) return;
    this.chunks.push(records.values.subarray(0, bytes));
    this.pending += bytes;
    if (this.pending >= FLUSH_BYTES) await this.drain();
  }

  /** Hands the buffered records to the file (synchronously accounted; written in order). */
  private drain(): Promise<unknown> {
    if (this.pending > 0) {
      const chunks = this.chunks;
      this.chunks = [];
      const at = this.length;
      this.length += this.pending;
      this.pending = 0;
      this.writing = this.writing.then(() => (this.failure ? undefined : writeAllAt(this.fh, chunks, at))).catch((e) => void (this.failure ??= e));
    }
    return this.writing.then(() => this.throwIfFailed());
  }

  /** Everything written before the call is on disk and fsynced when it resolves. */
  async flush(): Promise<void> {
    await this.drain();
    await this.fh.sync();
  }

  private throwIfFailed(): void {
    if (this.failure) throw new SluiceError('SLUICE_RUNTIME', `${this.where}: write failed (${(this.failure as NodeJS.ErrnoException).code ?? String(this.failure)})`, { cause: this.failure });
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain().catch(() => undefined);
    await this.fh.close();
  }
}

/** writev, again for what a short write left (a full disk returns an error instead). */
async function writeAllAt(fh: fs.FileHandle, chunks: Uint8Array[], at: number): Promise<void> {
  while (chunks.length > 0) {
    let { bytesWritten } = await fh.writev(chunks, at);
    at += bytesWritten;
    while (chunks.length > 0 && bytesWritten >= chunks[0].length) bytesWritten -= chunks.shift()!.length;
    if (bytesWritten > 0) chunks[0] = chunks[0].subarray(bytesWritten);
  }
}

export class StdoutSink implements RecordSink {
  readonly where = 'stdout';

  async write(records: EncodedRecords): Promise<void> {
    if (records.count === 0) return;
    if (!process.stdout.write(records.values.subarray(0, records.valueBytes))) await new Promise((r) => process.stdout.once('drain', r));
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** `resumeAt`: a file sink's length in the checkpoint being restored; `onAck`: Kafka sends' ack
 *  times (metrics). */
export async function openSink(config: SinkConfig, jobName: string, resumeAt = 0, onAck?: (seconds: number) => void): Promise<RecordSink> {
  switch (config.type) {
    case 'file':
      return FileSink.open(config.path, resumeAt);
    case 'stdout':
      return new StdoutSink();
    case 'kafka':
      return KafkaSink.open(config, jobName, onAck);
  }
}
