// One file model's versions over a job's life (SPEC §12): the ones recorded, the one in force,
// the rows it scored last, and the check a candidate version passes before it takes over.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_DOWNLOAD_TIMEOUT_MS } from '../config/defaults';
import { isUrl } from '../config/models';
import type { FileModelSpec } from '../config/types';
import { modelError, overMaxBytes } from '../errors';
import type { ModelRows } from '../state/store';
import type { CandidateCheck, CheckOutcome } from './check';
import { download, type Validators } from './download';
import type { VersionRef } from './plan';
import { bytesVersion } from './version';
import { SAMPLE_ROWS, type ScoredSample } from './calls';

/** The shape every version of a model must keep. */
export interface ModelShape {
  numFeatures: number;
  numOutputs: number;
  featureNames?: string[];
  /** Per model input, the job feature it takes (src/config/plan.ts checkModelInputs). */
  inputFeature: number[];
}

/** A source's bytes as read, with their version and where the copy that workers load went. */
export interface SourceBytes {
  version: string;
  file: string;
  path: string;
}

/** A candidate's fate; `waiting`: it cannot be checked before the version in force scored a row. */
export type Candidate = { refused: string } | { accepted: SourceBytes; readMs: number; checkMs: number } | { waiting: string };

const extensionOf = (type: FileModelSpec['type']) => (type === 'onnx' ? '.onnx' : '.model');

export class ModelVersions {
  readonly versions: VersionRef[] = [];
  /** The last (size, mtime) seen of the source: unchanged, a poll reads nothing. */
  private seen = '';
  /** The last refused source version: not tried again until the source changes again. */
  private refusedVersion = '';
  /** Set by setShape, once the first version is loaded. */
  shape!: ModelShape;
  private ring = new Float32Array(0);
  /** A URL's ETag and Last-Modified, as last read. */
  private validators: Validators = {};
  private ringRows = 0;
  private ringNext = 0;

  constructor(
    readonly name: string,
    readonly spec: FileModelSpec,
    /** Where the job file sets the model: `model` (the shorthand) or `models.<name>`. */
    private readonly setting: string,
    /** Where versions' bytes are kept (state.dir/models, or a temporary directory). */
    private readonly dir: string,
  ) {}

  setShape(model: Omit<ModelShape, 'inputFeature'>, inputFeature: number[]): void {
    this.shape = { numFeatures: model.numFeatures, numOutputs: model.numOutputs, featureNames: model.featureNames, inputFeature };
    this.ring = new Float32Array(SAMPLE_ROWS * inputFeature.length);
  }

  /** A checked version takes over; the rows kept were the old version's. */
  accept(v: VersionRef): void {
    this.versions.push(v);
    this.ringRows = 0;
    this.ringNext = 0;
  }

  get inForce(): VersionRef {
    return this.versions[this.versions.length - 1];
  }

  /**
   * Reads the source (size-checked) and keeps a copy of its bytes, named by their version; null
   * when a URL answered that the version last read is unchanged.
   */
  async readSource(): Promise<SourceBytes | null> {
    const bytes = isUrl(this.spec.source) ? await this.downloadSource() : await this.readFile();
    return bytes && this.keep(bytes);
  }

  private async readFile(): Promise<Buffer> {
    const { source, maxBytes } = this.spec;
    try {
      const st = await fs.promises.stat(source);
      this.seen = `${st.size}:${st.mtimeMs}`;
      if (st.size > maxBytes) throw overMaxBytes(source, `${st.size.toLocaleString('en-US')} bytes`, maxBytes, `${this.setting}.maxBytes`);
      return await fs.promises.readFile(source);
    } catch (e) {
      if ((e as { code?: string }).code === 'SLUICE_MODEL_INVALID') throw e;
      throw modelError(source, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, e);
    }
  }

  private async downloadSource(): Promise<Buffer | null> {
    const { source, maxBytes, headers, downloadTimeoutMs } = this.spec;
    const got = await download({ url: source, headers: headers ?? {}, maxBytes, maxBytesAt: `${this.setting}.maxBytes`, timeoutMs: downloadTimeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS }, this.validators);
    if (got.notModified) return null;
    this.validators = got.validators;
    return got.bytes;
  }

  private async keep(bytes: Buffer): Promise<SourceBytes> {
    const version = bytesVersion(bytes);
    const file = `${this.name}/${version}${extensionOf(this.spec.type)}`;
    const at = path.join(this.dir, file);
    if (!fs.existsSync(at)) {
      // Written whole, synced, then renamed: a crash never leaves half a version under its name.
      await fs.promises.mkdir(path.dirname(at), { recursive: true });
      const tmp = `${at}.${process.pid}.tmp`;
      const handle = await fs.promises.open(tmp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(tmp, at);
    }
    return { version, file, path: at };
  }

  /** The source may have changed since it was last read (a file: by size and mtime; a URL's
   *  conditional GET tells). */
  async sourceChanged(): Promise<boolean> {
    if (isUrl(this.spec.source)) return true;
    const st = await fs.promises.stat(this.spec.source).catch(() => null);
    const now = st ? `${st.size}:${st.mtimeMs}` : 'missing';
    if (now === this.seen) return false;
    this.seen = now;
    return true;
  }

  /** The path of a recorded version's bytes (a restore). */
  recordedPath(file: string): string {
    return path.join(this.dir, file);
  }

  /** Rows a worker saw a version score: kept if it is the version in force. */
  noteRows(sample: ScoredSample): void {
    if (sample.version !== this.inForce?.version || sample.width !== this.shape.inputFeature.length) return;
    const width = sample.width;
    const n = sample.rows.length / width;
    for (let i = Math.max(0, n - SAMPLE_ROWS); i < n; i++) {
      this.ring.set(sample.rows.subarray(i * width, (i + 1) * width), this.ringNext * width);
      this.ringNext = (this.ringNext + 1) % SAMPLE_ROWS;
      this.ringRows = Math.min(SAMPLE_ROWS, this.ringRows + 1);
    }
  }

  /** The rows kept, oldest first (the checkpoint's copy, and a candidate's check). */
  rows(): ModelRows {
    const width = this.shape.inputFeature.length;
    const out = new Float32Array(this.ringRows * width);
    const first = this.ringRows < SAMPLE_ROWS ? 0 : this.ringNext;
    for (let i = 0; i < this.ringRows; i++) {
      const at = ((first + i) % SAMPLE_ROWS) * width;
      out.set(this.ring.subarray(at, at + width), i * width);
    }
    return { version: this.inForce.version, width, rows: out };
  }

  /** Rows restored from a checkpoint: kept if the version in force scored them. */
  restoreRows(rows: ModelRows | undefined): void {
    if (!rows || rows.version !== this.inForce.version) return;
    this.noteRows({ model: this.name, version: rows.version, width: rows.width, rows: rows.rows });
  }

  /**
   * Tries the source as a new version: unchanged or refused before, nothing; else it is checked
   * (by `check`, on a thread of its own while the job runs) against the version in force's shape and rows.
   * A refused candidate's copy is deleted.
   */
  async tryCandidate(check: (c: CandidateCheck) => Promise<CheckOutcome>): Promise<Candidate | null> {
    let read: SourceBytes | null;
    const startedAt = performance.now();
    try {
      read = await this.readSource();
    } catch (e) {
      return { refused: (e as Error).message };
    }
    if (read === null) return null;
    if (read.version === this.inForce.version || read.version === this.refusedVersion) return null;
    const { rows, width } = this.rows();
    if (rows.length === 0) {
      this.undecided(); // tried again at the next poll
      return { waiting: `${this.spec.source}: version ${read.version} waits: the version in force has scored no rows yet to check it on` };
    }
    const readMs = performance.now() - startedAt;
    // A load error names the copy it loaded; the user knows the source.
    let outcome: CheckOutcome;
    try {
      outcome = await check({ path: read.path, type: this.spec.type, rows, width });
    } catch (e) {
      this.undecided();
      throw e;
    }
    const why = this.refusal(outcome, rows.length / width);
    if (why === null) return { accepted: read, readMs, checkMs: performance.now() - startedAt - readMs };
    this.refusedVersion = read.version;
    if (!this.versions.some((v) => v.version === read.version)) await fs.promises.rm(read.path, { force: true });
    return { refused: `${this.spec.source}: version ${read.version} ${why.split(`${read.path}: `).join('')}` };
  }

  /** The source was read but its candidate not decided: the next poll reads it again in full (a
   *  URL's conditional GET would otherwise answer 304 for it). */
  private undecided(): void {
    this.seen = '';
    this.validators = {};
  }

  /** Why a checked candidate may not take over, or null. */
  private refusal(outcome: CheckOutcome, rows: number): string | null {
    if (!outcome.loaded) return `does not load: ${outcome.why}`;
    const s = this.shape;
    if (outcome.numFeatures !== s.numFeatures) return `takes ${outcome.numFeatures} inputs; the version in force takes ${s.numFeatures}`;
    const names = (n?: string[]) => (n && n.length > 0 ? n : null);
    const now = names(s.featureNames);
    const next = names(outcome.featureNames);
    if (now && next && now.join('\u0000') !== next.join('\u0000')) return `has the feature names ${next.join(', ')}; the version in force has ${now.join(', ')}`;
    if (outcome.numOutputs !== s.numOutputs) return `gives ${outcome.numOutputs} outputs per row; the version in force gives ${s.numOutputs}`;
    if (outcome.firstNonFinite !== null) return `gives a non-finite output for row ${outcome.firstNonFinite} of the ${rows} rows the version in force scored last`;
    return null;
  }
}
