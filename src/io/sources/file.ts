// The file source (SPEC §4): JSON Lines, always bounded; a list of paths is one partition each.
// Partitions interleave one record at a time, round-robin, in path order, so the arrival order
// (and with it every watermark) does not depend on how reads or batches fall. Blank lines are
// skipped; offsets are 0-based line numbers. A partition is finished once its last line is read.
import { createReadStream, type ReadStream } from 'node:fs';
import * as path from 'node:path';
import type { FileSourceConfig } from '../../config/types';
import { appendMessage, newRawBatch, type RawBatch, type Source } from '../../decode/raw-batch';
import { SluiceError } from '../../errors';

/** Read size per file: large enough for few syscalls, small enough for many partitions. */
const READ_CHUNK_BYTES = 256 * 1024;

const NL = 0x0a;
const CR = 0x0d;

/** Lines of one file as byte ranges of the chunk they are in (a line split by a chunk edge is joined). */
class LineReader {
  private readonly stream: ReadStream;
  private readonly iterator: AsyncIterator<Buffer>;
  private chunk: Buffer = Buffer.alloc(0);
  private at = 0;
  private done = false;
  lineNumber = -1; // of the last line taken

  constructor(readonly path: string) {
    this.stream = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
    this.iterator = this.stream[Symbol.asyncIterator]();
  }

  /** The next line's bytes (without \n or \r\n), or null at the end. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const nl = this.chunk.indexOf(NL, this.at);
      if (nl >= 0) {
        const line = this.chunk.subarray(this.at, nl > this.at && this.chunk[nl - 1] === CR ? nl - 1 : nl);
        this.at = nl + 1;
        this.lineNumber++;
        return line;
      }
      if (this.done) {
        if (this.at >= this.chunk.length) return null;
        const line = this.chunk.subarray(this.at); // last line without a newline
        this.at = this.chunk.length;
        this.lineNumber++;
        return line;
      }
      let r: IteratorResult<Buffer>;
      try {
        r = await this.iterator.next();
      } catch (e) {
        throw new SluiceError('SLUICE_RUNTIME', `${this.path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
      }
      const rest = this.chunk.subarray(this.at);
      if (r.done) this.done = true;
      else this.chunk = rest.length > 0 ? Buffer.concat([rest, r.value]) : r.value;
      if (r.done) this.chunk = Buffer.from(rest);
      this.at = 0;
    }
  }

  close(): void {
    this.stream.destroy();
  }
}

/** True for lines of only spaces and tabs (and empty ones): they are skipped, not events. */
function isBlank(line: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) if (line[i] !== 0x20 && line[i] !== 0x09 && line[i] !== CR) return false;
  return true;
}

export class FileSource implements Source {
  readonly numPartitions: number;
  private readers: LineReader[] = [];

  private readonly names: string[];

  /** Records name each file relative to `baseDir` (the job file's folder), as the job file does. */
  constructor(
    private readonly config: FileSourceConfig,
    baseDir?: string,
  ) {
    this.numPartitions = config.paths.length;
    this.names = config.paths.map((p) => {
      const rel = baseDir ? path.relative(baseDir, p) : p;
      return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
    });
  }

  async *batches(maxRecords: number): AsyncIterable<RawBatch> {
    const paths = this.config.paths;
    this.readers = paths.map((p) => new LineReader(p));
    const open = paths.map((_, p) => p);
    const newBatch = () => newRawBatch(maxRecords, (p) => this.names[p]);
    let batch = newBatch();
    while (open.length > 0) {
      for (let i = 0; i < open.length; ) {
        const p = open[i];
        const reader = this.readers[p];
        let line = await reader.next();
        while (line !== null && isBlank(line)) line = await reader.next();
        if (line === null) {
          batch.finished.push({ before: batch.count, partition: p });
          open.splice(i, 1);
          continue;
        }
        const n = batch.count++;
        appendMessage(batch, n, line);
        batch.partition[n] = p;
        batch.offset[n] = reader.lineNumber;
        i++;
        if (batch.count === maxRecords) {
          yield batch;
          batch = newBatch();
        }
      }
    }
    yield batch;
  }

  async close(): Promise<void> {
    for (const r of this.readers) r.close();
  }
}
