// Where records go: one line (JSON text) per record (LineSink, src/runtime/ports.ts).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { SinkConfig } from '../../config/types';
import { SluiceError } from '../../errors';
import type { LineSink } from '../../runtime/ports';
import { KafkaSink } from '../kafka/sink';

/** Buffer this much text before writing: fewer syscalls, bounded memory. */
const FLUSH_CHARS = 1 << 20;

export class FileSink implements LineSink {
  private chunks: string[] = [];
  private chars = 0;

  private constructor(
    readonly where: string,
    private readonly fh: fs.FileHandle,
  ) {}

  static async open(file: string): Promise<FileSink> {
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      return new FileSink(file, await fs.open(file, 'w'));
    } catch (e) {
      throw new SluiceError('SLUICE_RUNTIME', `${file}: cannot open for writing (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
    }
  }

  async write(lines: readonly string[]): Promise<void> {
    for (const l of lines) {
      this.chunks.push(l, '\n');
      this.chars += l.length + 1;
    }
    if (this.chars >= FLUSH_CHARS) await this.drain();
  }

  private async drain(): Promise<void> {
    if (this.chars === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.chars = 0;
    await this.fh.write(text);
  }

  async flush(): Promise<void> {
    await this.drain();
    await this.fh.sync();
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    await this.fh.close();
  }
}

export class StdoutSink implements LineSink {
  readonly where = 'stdout';

  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    if (!process.stdout.write(lines.join('\n') + '\n')) await new Promise((r) => process.stdout.once('drain', r));
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export async function openSink(config: SinkConfig, jobName: string): Promise<LineSink> {
  switch (config.type) {
    case 'file':
      return FileSink.open(config.path);
    case 'stdout':
      return new StdoutSink();
    case 'kafka':
      return KafkaSink.open(config, jobName);
  }
}
