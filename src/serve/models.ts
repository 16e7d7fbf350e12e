// The models `sluice serve` answers for (SPEC §14 with §12): file models with their versions and
// hot reload, ensembles, remote models, and the scoring: route (a variant per key, fallbacks,
// shadow models). File models score on the ScoringPool, whose batches coalesce the rows of
// concurrent requests; versions are kept as files (src/models/versions.ts), so a request for an
// older version goes to that file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelSpec } from '../config/types';
import { configError, SluiceError } from '../errors';
import { logger } from '../log';
import { Breaker } from '../models/breaker';
import { combine, SampleClock } from '../models/calls';
import type { RemotePlan } from '../models/plan';
import { Reloader } from '../models/reload';
import { ModelCallError, RemoteModel } from '../models/remote';
import { VariantTable } from '../models/variants';
import { ensembleVersion } from '../models/version';
import { ModelVersions } from '../models/versions';
import type { ScoringPool } from '../scoring/scoring-pool';
import type { ServeConfig, ServeRoute } from './config';
import { ServeError, type InputShape } from './infer';
import type { ServeMetrics } from './metrics';

const log = logger('serve');
const utf8 = new TextEncoder();

/** What GET /v2/models/{m} answers. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: Array<{ name: string; datatype: 'FP32'; shape: number[] }>;
  outputs: Array<{ name: string; datatype: 'FP32'; shape: number[] }>;
}

export interface Scores {
  scores: Float32Array;
  version: string | null;
  /** The route's answer: the variant's model, and a fallback's name, version and why. */
  params?: Record<string, string>;
}

interface Served {
  name: string;
  spec: ModelSpec | null;
  width: number | null;
  numOutputs: number;
  featureNames?: string[];
}

export class ServedModels {
  private readonly served = new Map<string, Served>();
  private readonly files = new Map<string, ModelVersions>();
  private readonly remotes = new Map<string, RemoteModel>();
  private readonly sampled = new SampleClock();
  private reloader: Reloader | null = null;
  private table: VariantTable | null = null;
  private shadowOut: fs.WriteStream | null = null;

  private constructor(
    private readonly config: ServeConfig,
    private readonly pool: ScoringPool,
    private readonly metrics: ServeMetrics,
    private readonly dir: string,
  ) {}

  /** Loads every model (a bad file fails here, with its name), then polls those with reload. */
  static async open(config: ServeConfig, pool: ScoringPool, metrics: ServeMetrics): Promise<ServedModels> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sluice-serve-'));
    const m = new ServedModels(config, pool, metrics, dir);
    try {
      for (const name of Object.keys(config.models)) await m.visit(name);
      if (config.route) m.openRoute(config.route);
      if (config.shadowPath !== null && config.shadowPath !== '-') await checkWritable(config.file, config.shadowPath);
    } catch (e) {
      await m.close();
      throw e;
    }
    // An accepted version is loaded everywhere before requests switch to it: they do not wait
    // for it. (A refused one is never loaded here.)
    const prepare = (mv: ModelVersions, read: { path: string }) => pool.warm(read.path, mv.spec.type).catch(() => undefined);
    m.reloader = new Reloader({ prepare, accept: (mv, read, took) => m.accept(mv, read, took), refused: (mv) => metrics.modelReload(mv.name, 'refused') }, (c) => pool.check(c));
    m.reloader.start(m.files.values(), [], () => true);
    return m;
  }

  /** The model (or route) served under `name`, at `version` (a 404 if there is no such). */
  resolve(name: string, version?: string): Served {
    const s = this.served.get(name);
    if (!s) throw new ServeError(404, `no model named ${JSON.stringify(name)}; the models are ${[...this.served.keys()].join(', ')}`);
    if (version !== undefined && !this.versionsOf(name).includes(version)) throw new ServeError(404, `model ${name} has no version ${JSON.stringify(version)}; it has ${this.versionsOf(name).join(', ') || 'none yet'}`);
    return s;
  }

  shape(name: string): InputShape {
    const s = this.resolve(name);
    return { width: s.width, featureNames: s.featureNames };
  }

  metadata(name: string, version?: string): ModelMetadata {
    const s = this.resolve(name, version);
    const spec = s.spec;
    const platform = spec === null ? 'sluice-variants' : spec.type === 'xgboost' ? 'xgboost_json' : spec.type === 'onnx' ? 'onnxruntime_onnx' : spec.type;
    const output = this.outputName(name);
    return {
      name,
      versions: this.versionsOf(name),
      platform,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, s.width ?? -1] }],
      outputs: [{ name: output, datatype: 'FP32', shape: [-1, s.numOutputs] }],
    };
  }

  outputName(name: string): string {
    const route = this.config.route;
    if (route && name === route.name) return this.config.outputs[route.variants[0].model];
    return this.config.outputs[name];
  }

  /** The versions a model answers for, oldest first; the last is in force. */
  versionsOf(name: string): string[] {
    const mv = this.files.get(name);
    if (mv) return mv.versions.map((v) => v.version);
    const v = this.versionInForce(name);
    return v === null ? [] : [v];
  }

  private versionInForce(name: string): string | null {
    const route = this.config.route;
    if (route && name === route.name) return null; // each answer names its variant's version
    const spec = this.config.models[name];
    if (spec.type === 'ensemble') {
      const members = spec.members.map((m) => this.versionInForce(m));
      return members.some((v) => v === null) ? null : ensembleVersion(members as string[]);
    }
    if (spec.type === 'remote') return this.remotes.get(name)!.version;
    return this.files.get(name)!.inForce.version;
  }

  /** Scores a request's rows with `name` (a model, or the route by `key`). */
  async score(name: string, version: string | undefined, rows: Float32Array, nRows: number, key: string | undefined, timeoutMs: number, requestId: string): Promise<Scores> {
    const route = this.config.route;
    if (route && name === route.name) return this.scoreRoute(route, rows, nRows, key, timeoutMs, requestId);
    return this.scoreModel(name, version, rows, nRows, timeoutMs);
  }

  private async scoreModel(name: string, version: string | undefined, rows: Float32Array, nRows: number, timeoutMs: number): Promise<Scores> {
    const spec = this.config.models[name];
    let scores: Float32Array;
    if (spec.type === 'ensemble') {
      if (version !== undefined && version !== this.versionInForce(name)) throw new ServeError(404, `ensemble ${name} answers for its version in force only (${this.versionInForce(name)})`);
      const outs = await Promise.all(spec.members.map((m) => this.scoreModel(m, undefined, rows, nRows, timeoutMs)));
      scores = combine(spec, outs.map((o) => o.scores));
      return { scores, version: ensembleVersion(outs.map((o) => o.version ?? 'null')) };
    }
    if (spec.type === 'remote') {
      const remote = this.remotes.get(name)!;
      try {
        scores = await remote.predict(rows, nRows, nRows === 0 ? 0 : rows.length / nRows);
      } catch (e) {
        throw modelFailure(name, e);
      }
      return { scores: finite(name, scores, nRows), version: remote.version };
    }
    const mv = this.files.get(name)!;
    const v = version === undefined ? mv.inForce : mv.versions.find((x) => x.version === version)!;
    try {
      scores = await this.pool.score(rows, nRows, { model: v.path, format: spec.type, timeoutMs, handOver: true });
    } catch (e) {
      throw modelFailure(name, e);
    }
    this.sample(mv, v.version, rows, nRows);
    return { scores: finite(name, scores, nRows), version: v.version };
  }

  /** The route: the key's variant scores; if it fails, the fallback; shadow models after. */
  private async scoreRoute(route: ServeRoute, rows: Float32Array, nRows: number, key: string | undefined, timeoutMs: number, requestId: string): Promise<Scores> {
    const variant = route.variants[this.table!.ofKey(utf8.encode(key ?? ''))].model;
    let got: Scores;
    try {
      got = await this.scoreModel(variant, undefined, rows, nRows, timeoutMs);
      got.params = { model: variant };
    } catch (e) {
      if (!(e instanceof ServeError) || e.status !== 500 || route.onError === null) throw e;
      got = await this.fallBack(route, variant, rows, nRows, timeoutMs, e.message);
    }
    if (route.shadow.length > 0) void this.shadows(route, rows, nRows, key, requestId);
    return got;
  }

  private async fallBack(route: ServeRoute, variant: string, rows: Float32Array, nRows: number, timeoutMs: number, why: string): Promise<Scores> {
    const fallback = route.onError!.fallback;
    const version = this.versionInForce(variant);
    if (typeof fallback === 'object') {
      const k = fallback.value.length;
      const scores = new Float32Array(nRows * k);
      for (let i = 0; i < nRows; i++) scores.set(fallback.value, i * k);
      this.metrics.modelFallback(variant, 'value', nRows);
      return { scores, version, params: { model: variant, fallback: 'value', error: why } };
    }
    const got = await this.scoreModel(fallback, undefined, rows, nRows, timeoutMs);
    this.metrics.modelFallback(variant, fallback, nRows);
    return { scores: got.scores, version, params: { model: variant, fallback, ...(got.version === null ? {} : { fallbackVersion: got.version }), error: why } };
  }

  /** Every shadow model scores the rows too; one record per model and request, errors counted. */
  private async shadows(route: ServeRoute, rows: Float32Array, nRows: number, key: string | undefined, requestId: string): Promise<void> {
    for (const name of route.shadow) {
      try {
        const got = await this.scoreModel(name, undefined, rows, nRows, this.config.http.timeoutMs);
        const record = { requestId, ...(key === undefined ? {} : { key }), model: name, modelVersion: got.version, [this.config.outputs[name]]: Array.from(got.scores) };
        this.shadowStream().write(JSON.stringify(record) + '\n');
      } catch (e) {
        this.metrics.modelError(name, (e as Error).message.includes('non-finite') ? 'non-finite' : 'error', nRows);
      }
    }
  }

  private shadowStream(): NodeJS.WritableStream {
    if (this.config.shadowPath === '-') return process.stdout;
    if (!this.shadowOut) {
      const out = fs.createWriteStream(this.config.shadowPath!, { flags: 'a' });
      // A write that fails (disk full) loses shadow records, never the server; the next one reopens.
      out.on('error', (e) => {
        log.error(`shadow output ${this.config.shadowPath}: ${e.message}; shadow records are lost until it can be written again`);
        if (this.shadowOut === out) this.shadowOut = null;
      });
      this.shadowOut = out;
    }
    return this.shadowOut;
  }

  /** Rows a file model's version scored, now and then: the rows its next version is checked on. */
  private sample(mv: ModelVersions, version: string, rows: Float32Array, nRows: number): void {
    if (mv.spec.reload === undefined || !this.sampled.due(mv.name, version, nRows)) return;
    mv.noteRows({ model: mv.name, version, width: mv.shape.numFeatures, rows: rows.subarray(0, nRows * mv.shape.numFeatures) });
  }

  private async visit(name: string): Promise<Served> {
    const known = this.served.get(name);
    if (known) return known;
    const spec = this.config.models[name];
    let s: Served;
    if (spec.type === 'ensemble') {
      const members = [];
      for (const m of spec.members) members.push(await this.visit(m));
      const widths = new Set(members.map((m) => m.width).filter((w) => w !== null));
      const outputs = new Set(members.map((m) => m.numOutputs));
      if (widths.size > 1) throw configError(`${this.config.file}: models.${name}.members: the members take ${members.map((m) => `${m.name} ${m.width ?? 'any'}`).join(', ')} inputs; an ensemble's members take as many each`);
      if (outputs.size > 1) throw configError(`${this.config.file}: models.${name}.members: the members give ${members.map((m) => `${m.name} ${m.numOutputs}`).join(', ')} outputs; an ensemble combines members with as many outputs each`);
      s = { name, spec, width: widths.size === 0 ? null : [...widths][0]!, numOutputs: members[0].numOutputs, featureNames: members.find((m) => m.featureNames)?.featureNames };
    } else if (spec.type === 'remote') {
      const plan: RemotePlan = { name, kind: 'remote', url: spec.url, headers: spec.headers ?? {}, timeoutMs: spec.timeoutMs, retries: spec.retries, backoffMs: spec.backoffMs, maxBatchRows: spec.maxBatchRows, numOutputs: spec.outputs, inputFeature: [], breaker: { ...spec.breaker, state: Breaker.create() } };
      this.remotes.set(name, new RemoteModel(plan));
      s = { name, spec, width: null, numOutputs: spec.outputs };
    } else {
      const mv = new ModelVersions(name, spec, `models.${name}`, this.dir);
      const read = (await mv.readSource())!; // a first read has no validators: never "not modified"
      // Loaded on this thread and every worker (warm), then its shape; a bad file names the source.
      const shape = await this.pool
        .warm(read.path, spec.type)
        .then(() => this.pool.model(read.path))
        .catch((e: Error) => {
          throw new SluiceError('SLUICE_MODEL_INVALID', `${this.config.file}: models.${name}: ${e.message.split(read.path).join(spec.source)}`);
        });
      mv.setShape(shape, Array.from({ length: shape.numFeatures }, (_, i) => i));
      mv.versions.push({ version: read.version, path: read.path, fromMs: -Infinity });
      this.files.set(name, mv);
      this.metrics.modelInfo(name, read.version, true);
      log.info(`model ${name}: version ${read.version} loaded from ${spec.source} (${shape.numFeatures} inputs, ${shape.numOutputs} outputs)`, { model: name, version: read.version });
      s = { name, spec, width: shape.numFeatures, numOutputs: shape.numOutputs, featureNames: shape.featureNames };
    }
    this.served.set(name, s);
    return s;
  }

  private openRoute(route: ServeRoute): void {
    const at = `${this.config.file}: scoring`;
    const models = route.variants.map((v) => this.served.get(v.model)!);
    const widths = new Set(models.map((m) => m.width).filter((w) => w !== null));
    if (widths.size > 1) throw configError(`${at}.variants: the variants take ${models.map((m) => `${m.name} ${m.width}`).join(', ')} inputs; a request goes to any of them, so each takes as many`);
    const outputs = new Set([...models, ...route.shadow.map((n) => this.served.get(n)!)].map((m) => m.numOutputs));
    if (outputs.size > 1) throw configError(`${at}: the variants and shadow models give different numbers of outputs; every one gives as many`);
    this.table = new VariantTable(route.variants.map((v) => v.weight));
    this.served.set(route.name, { name: route.name, spec: null, width: widths.size === 0 ? null : [...widths][0]!, numOutputs: models[0].numOutputs, featureNames: models.find((m) => m.featureNames)?.featureNames });
  }

  private accept(mv: ModelVersions, read: { version: string; path: string }, took: { readMs: number; checkMs: number }): void {
    this.metrics.modelInfo(mv.name, mv.inForce.version, false);
    mv.accept({ version: read.version, path: read.path, fromMs: Date.now() });
    this.metrics.modelInfo(mv.name, read.version, true);
    this.metrics.modelReload(mv.name, 'accepted');
    log.info(`model ${mv.name}: version ${read.version} accepted; requests from now on are scored by it (read in ${took.readMs} ms, checked in ${took.checkMs} ms)`, { model: mv.name, version: read.version, ...took });
  }

  async close(): Promise<void> {
    await this.reloader?.stop();
    if (this.shadowOut) await new Promise<void>((r) => this.shadowOut!.end(() => r()));
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

/** A model call that failed: 500 (the route's fallback takes it); a full queue or a timeout keep theirs. */
function modelFailure(name: string, e: unknown): Error {
  if (e instanceof ServeError) return e;
  if (e instanceof SluiceError && e.code === 'SLUICE_OVERLOADED') return new ServeError(429, e.message);
  if (e instanceof SluiceError && e.code === 'SLUICE_TIMEOUT') return new ServeError(504, e.message);
  const why = e instanceof ModelCallError ? e.message : String((e as Error)?.message ?? e).split('\n')[0];
  return new ServeError(500, `model ${name} failed: ${why}`);
}

/** The shadow output can be appended to (it is opened at the first shadow record). */
async function checkWritable(file: string, at: string): Promise<void> {
  try {
    await (await fs.promises.open(at, 'a')).close();
  } catch (e) {
    throw configError(`${file}: shadow.path: cannot write ${at} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** A non-finite output is a model failure (SPEC §12). */
function finite(name: string, scores: Float32Array, nRows: number): Float32Array {
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new ServeError(500, `model ${name} gave a non-finite output (${scores[i]}) for row ${Math.floor(i / (scores.length / nRows))}`);
  }
  return scores;
}
