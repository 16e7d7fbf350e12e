// The file source (SPEC §4): JSON Lines, always bounded; a list of paths is one partition each.
// Partitions interleave one record at a time, round-robin, in path order, so the arrival order
// (and with it every watermark) does not depend on how reads or batches fall. Blank lines are
// skipped; offsets are 0-based line numbers. A partition is finished once its last line is read.
import { createReadStream, type ReadStream } from 'node:fs';
import * as path from 'node:path';
import type { FileSourceConfig } from '../../config/types';
import type { RawBatch, Source } from '../../decode/raw-batch';
import { SluiceError } from '../../errors';

/** Read size per file: large enough for few syscalls, small enough for many partitions. */
const READ_CHUNK_BYTES = 256 * 1024;

class LineReader {
  private readonly stream: ReadStream;
  private readonly iterator: AsyncIterator<Buffer>;
  private lines: string[] = [];
  private at = 0;
  private tail = '';
  private done = false;
  lineNumber = -1; // of the last line taken

  constructor(readonly path: string) {
    this.stream = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
    this.iterator = this.stream[Symbol.asyncIterator]();
  }

  /** The next line and its number, or null at the end. */
  async next(): Promise<string | null> {
    while (this.at >= this.lines.length) {
      if (this.done) return null;
      let r: IteratorResult<Buffer>;
      try {
        r = await this.iterator.next();
      } catch (e) {
        throw new SluiceError('SLUICE_RUNTIME', `${this.path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
      }
      if (r.done) {
        this.done = true;
        this.lines = this.tail === '' ? [] : [this.tail];
        this.tail = '';
      } else {
        const text = this.tail + r.value.toString('utf8');
        const parts = text.split('\n');
        this.tail = parts.pop() ?? '';
        this.lines = parts;
      }
      this.at = 0;
    }
    this.lineNumber++;
    const line = this.lines[this.at++];
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  }

  close(): void {
    this.stream.destroy();
  }
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
    const newBatch = (): RawBatch => ({
      count: 0,
      values: [],
      partition: new Int32Array(maxRecords),
      offset: new Float64Array(maxRecords),
      recordTimestampMs: new Float64Array(maxRecords).fill(NaN),
      topicOf: (p) => this.names[p],
      finished: [],
    });
    let batch = newBatch();
    while (open.length > 0) {
      for (let i = 0; i < open.length; ) {
        const p = open[i];
        const reader = this.readers[p];
        let line = await reader.next();
        while (line !== null && line.trim() === '') line = await reader.next();
        if (line === null) {
          batch.finished.push({ before: batch.count, partition: p });
          open.splice(i, 1);
          continue;
        }
        const n = batch.count++;
        batch.values.push(line);
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
