// The models of a job on the main thread (SPEC §12): every model loaded and checked at start
// (each file model takes the job's inputs; every model that scores gives as many outputs), its
// versions recorded in the state store, and reloads polled for, checked on a thread of their own and switched
// to at T = the largest event time read + 1 ms. Workers get a ScoringPlan, and each task the
// versions in force (src/models/scorer.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkModelInputs, isShorthand } from '../config/plan';
import type { FileModelSpec, JobConfig, ModelSpec } from '../config/types';
import { configError, SluiceError } from '../errors';
import { logger } from '../log';
import { loadModel } from '../scoring/load-model';
import type { Model } from '../scoring/model';
import { StateStore, type RecordedVersion } from '../state/store';
import type { CandidateCheck, CheckOutcome } from './check';
import { type PlannedModel, type PlanVersions, type ScoringPlan } from './plan';
import type { ErrorKind, ScoredSample } from './calls';
import { Breaker } from './breaker';
import { VariantTable } from './variants';
import { ensembleVersion } from './version';
import { Reloader } from './reload';
import { ModelVersions, type SourceBytes } from './versions';

const log = logger('models');

export interface ModelMetrics {
  /** sluice_model_info: 1 for the version in force, 0 for other recorded versions. */
  modelInfo(model: string, version: string, inForce: boolean): void;
  modelReload(model: string, result: 'accepted' | 'refused'): void;
  /** Rows a model failed to score, by kind (error, non-finite). */
  modelErrors(model: string, kind: ErrorKind, rows: number): void;
  /** Rows a fallback (a model, or "value") scored for a model that failed. */
  modelFallbacks(model: string, fallback: string, rows: number): void;
  /** A remote model's breaker: open (calls go to the fallback) or closed. */
  modelBreaker(model: string, open: boolean): void;
  /** Prediction cache lookups of a model (scoring.cache). */
  modelCache(model: string, hits: number, misses: number): void;
  /** Results' scores of a model (its variant's): counts per SCORE_BUCKETS bucket, then +Inf. */
  modelScores(model: string, buckets: readonly number[], sum: number): void;
}

export interface RegistryOptions {
  /** A job with state: versions are recorded in it, their bytes kept under state.dir/models. */
  store?: StateStore;
  metrics?: ModelMetrics;
}

export interface LoadedModels {
  plan: ScoringPlan;
  /** The file models' versions in force, loaded, by name (sluice check prints them). */
  files: Map<string, Model>;
}

/** The models of a job, loaded once (sluice check): nothing recorded, nothing kept. */
export async function loadModels(job: JobConfig): Promise<LoadedModels> {
  const registry = await ModelRegistry.open(job);
  await registry.close();
  return { plan: registry.plan, files: registry.files };
}

export class ModelRegistry {
  private readonly byName = new Map<string, ModelVersions>();
  private readonly breakers = new Map<string, Breaker>();
  readonly files = new Map<string, Model>();
  /** The plan as of start (workers' workerData); later versions go with each task (versions). */
  plan!: ScoringPlan;
  private revision = 0;
  private sent: PlanVersions | undefined;
  private durableWrites: Promise<void> = Promise.resolve();
  private reloader: Reloader | null = null;
  private ended: () => boolean = () => false;
  private stopped = false;
  /** A restart's models (versions recorded by an earlier life): their sources are checked once
   *  the replay is over. */
  private restarted: ModelVersions[] = [];

  private constructor(
    private readonly job: JobConfig,
    private readonly dir: string,
    private readonly opts: RegistryOptions,
  ) {}

  static async open(job: JobConfig, opts: RegistryOptions = {}): Promise<ModelRegistry> {
    const dir = opts.store?.modelsDir ?? (await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sluice-models-')));
    const registry = new ModelRegistry(job, dir, opts);
    try {
      await registry.load();
    } catch (e) {
      await registry.close();
      throw e;
    }
    return registry;
  }

  /** Resolves once every accepted version is recorded: results it scored may then be written. */
  get durable(): Promise<void> {
    return this.durableWrites;
  }

  /** The versions of every file model, for the next tasks; undefined until a model reloads. */
  get versions(): PlanVersions | undefined {
    if (this.revision === 0) return undefined;
    if (this.sent?.revision !== this.revision) {
      this.sent = { revision: this.revision, versions: this.plan.models.map((m) => (m.kind === 'file' ? this.byName.get(m.name)!.versions.slice() : [])) };
    }
    return this.sent;
  }

  private async load(): Promise<void> {
    const { job, opts } = this;
    const store = opts.store;
    const recorded = store ? await store.modelVersions() : [];
    const rows = store ? await store.modelRows() : new Map();
    const planned: PlannedModel[] = [];
    const index = new Map<string, number>();
    const outputs = new Map<string, number>();
    // Members before the ensembles that read them: a depth-first walk from every model.
    const visit = async (name: string): Promise<number> => {
      const known = index.get(name);
      if (known !== undefined) return known;
      const spec: ModelSpec = job.models[name];
      let model: PlannedModel;
      if (spec.type === 'ensemble') {
        const members: number[] = [];
        for (const m of spec.members) members.push(await visit(m));
        const widths = new Set(spec.members.map((m) => outputs.get(m)));
        if (widths.size > 1) throw configError(`${job.file}: models.${name}.members: the members give ${spec.members.map((m) => `${m} ${outputs.get(m)}`).join(', ')} outputs; an ensemble combines members with as many outputs each`);
        outputs.set(name, outputs.get(spec.members[0])!);
        model = { name, kind: 'ensemble', members, combine: spec.combine, weights: spec.weights, threshold: spec.threshold };
      } else if (spec.type === 'remote') {
        // Not contacted at start (SPEC §12): it takes scoring.inputs in order, and answers `outputs`.
        outputs.set(name, spec.outputs);
        const inputFeature = job.scoring.inputs.map((f) => job.features.findIndex((x) => x.name === f));
        const { url, timeoutMs, retries, backoffMs, maxBatchRows } = spec;
        model = { name, kind: 'remote', url, headers: spec.headers ?? {}, timeoutMs, retries, backoffMs, maxBatchRows, numOutputs: spec.outputs, inputFeature, breaker: { ...spec.breaker, state: Breaker.create() } };
        this.breakers.set(name, new Breaker(model.breaker.state, spec.breaker.failures, spec.breaker.openMs));
      } else {
        const mine = recorded.filter((v) => v.model === name);
        const mv = mine.length > 0 ? await this.restoreFile(name, spec, mine) : await this.loadFile(name, spec);
        if (mine.length > 0) {
          mv.restoreRows(rows.get(name));
          this.restarted.push(mv);
        }
        outputs.set(name, mv.shape.numOutputs);
        model = { name, kind: 'file', type: spec.type, inputFeature: mv.shape.inputFeature, versions: mv.versions };
      }
      index.set(name, planned.length);
      planned.push(model);
      return planned.length - 1;
    };
    for (const name of Object.keys(job.models)) await visit(name);
    const variants = job.scoring.variants;
    const widths = new Set(variants.map((v) => outputs.get(v.model)));
    if (widths.size > 1) throw configError(`${job.file}: scoring.variants: the variants give ${variants.map((v) => `${v.model} ${outputs.get(v.model)}`).join(', ')} outputs; results have one shape, so every variant needs as many`);
    const variantWeights = variants.map((v) => v.weight);
    new VariantTable(variantWeights); // throws on weights the config check let through
    const numOutputs = outputs.get(variants[0].model)!;
    const { shadow, onError } = job.scoring;
    const sameShape = (name: string, at: string, role: string) => {
      if (outputs.get(name) !== numOutputs) throw configError(`${job.file}: ${at}: ${name} gives ${outputs.get(name)} outputs, the variants ${numOutputs}; ${role} needs as many`);
    };
    shadow.forEach((name, i) => sameShape(name, `scoring.shadow[${i}]`, 'a shadow model'));
    const fallback = onError?.fallback;
    if (typeof fallback === 'string') sameShape(fallback, 'scoring.onError.fallback', 'a fallback model');
    if (typeof fallback === 'object' && fallback.value.length !== numOutputs) {
      throw configError(`${job.file}: scoring.onError.fallback.value: ${fallback.value.length} values for ${numOutputs} outputs; give ${numOutputs === 1 ? 'one number' : `a list of ${numOutputs}`}`);
    }
    this.plan = {
      // Workers get the versions as of now with the plan, at start: a copy, which later switches
      // leave alone.
      models: planned.map((m) => (m.kind === 'file' ? { ...m, versions: m.versions.slice() } : m)),
      variantModel: variants.map((v) => index.get(v.model)!),
      variantWeights,
      numOutputs,
      shadow: shadow.map((name) => index.get(name)!),
      onError: fallback === undefined ? null : typeof fallback === 'string' ? { model: index.get(fallback)! } : { value: fallback.value },
      inputFeature: job.scoring.inputs.map((f) => job.features.findIndex((x) => x.name === f)),
      cache: job.scoring.cache,
    };
    await this.durableWrites;
    for (const mv of this.byName.values()) mv.versions.forEach((v, i) => opts.metrics?.modelInfo(mv.name, v.version, i === mv.versions.length - 1));
    for (const [name, version] of this.ensembleVersions()) opts.metrics?.modelInfo(name, version, true);
  }

  /** A model's first start: its source is read, loaded and recorded as the version at -Infinity. */
  private async loadFile(name: string, spec: FileModelSpec): Promise<ModelVersions> {
    const mv = this.versionsOf(name, spec);
    const read = (await mv.readSource())!; // a first read has no validators: never "not modified"
    const loaded = await loadModel(read.path, { format: spec.type }).catch((e) => {
      throw namedBySource(e, read.path, spec.source);
    });
    mv.setShape(loaded, checkModelInputs(this.job, loaded, name));
    mv.versions.push({ version: read.version, path: read.path, fromMs: -Infinity });
    this.files.set(name, loaded);
    this.byName.set(name, mv);
    this.record(mv, read, -Infinity);
    return mv;
  }

  /** A restore: every recorded version of the model, the last in force. */
  private async restoreFile(name: string, spec: FileModelSpec, recorded: RecordedVersion[]): Promise<ModelVersions> {
    const mv = this.versionsOf(name, spec);
    for (const r of recorded) {
      const at = mv.recordedPath(r.file);
      if (!fs.existsSync(at)) throw new SluiceError('SLUICE_STATE', `${at}: version ${r.version} of model ${name}, recorded in the state, is missing; move the state dir away or start over with \`sluice run --reset-state\``);
      mv.versions.push({ version: r.version, path: at, fromMs: r.fromMs ?? -Infinity });
    }
    const loaded = await loadModel(mv.inForce.path, { format: spec.type });
    mv.setShape(loaded, checkModelInputs(this.job, loaded, name));
    this.files.set(name, loaded);
    this.byName.set(name, mv);
    return mv;
  }

  /** A model's versions, their messages naming where the job file sets it. */
  private versionsOf(name: string, spec: FileModelSpec): ModelVersions {
    return new ModelVersions(name, spec, isShorthand(this.job) ? 'model' : `models.${name}`, this.dir);
  }

  private record(mv: ModelVersions, read: SourceBytes, fromMs: number): void {
    const store = this.opts.store;
    if (!store) return;
    const v: RecordedVersion = { model: mv.name, version: read.version, fromMs: Number.isFinite(fromMs) ? fromMs : null, file: read.file };
    this.durableWrites = this.durableWrites.then(() => store.recordModelVersion(v));
  }

  /** Rows the workers saw each version score: the check rows of the next reload. */
  noteSamples(samples: readonly ScoredSample[] | undefined): void {
    for (const s of samples ?? []) this.byName.get(s.model)?.noteRows(s);
  }

  /** The models' rows, for a checkpoint (StateStore.stage's extra entries). */
  checkpointEntries(): Array<[string, Uint8Array]> {
    const rows = new Map([...this.byName].map(([name, mv]) => [name, mv.rows()] as const).filter(([, r]) => r.rows.length > 0));
    return StateStore.modelRowsEntries(rows);
  }

  /** Some model's source will be checked while the job runs (it reloads, or a restart checks it). */
  get polls(): boolean {
    return this.restarted.length > 0 || [...this.byName.values()].some((mv) => mv.spec.reload !== undefined);
  }

  /** Polls every model with `reload` (src/models/reload.ts); an accepted version takes over at
   *  maxEventTimeMs() + 1. `replayed()`: a restart's replay is over (see Reloader.start). */
  startPolling(check: (c: CandidateCheck) => Promise<CheckOutcome>, maxEventTimeMs: () => number, replayed: () => boolean, ended: () => boolean = () => false): void {
    this.ended = ended;
    const metrics = this.opts.metrics;
    this.reloader = new Reloader(
      {
        accept: (mv, read, took) => this.switchTo(mv, read, maxEventTimeMs() + 1, took),
        refused: (mv) => metrics?.modelReload(mv.name, 'refused'),
      },
      check,
    );
    this.reloader.start(this.byName.values(), this.restarted, replayed);
  }

  /** An accepted version takes over at `fromMs` (T): recorded, counted, logged. */
  private switchTo(mv: ModelVersions, read: SourceBytes, fromMs: number, took: { readMs: number; checkMs: number }): void {
    // Once the watermark is at +Infinity every window has fired with the versions in force.
    if (this.stopped || this.ended()) return;
    const metrics = this.opts.metrics;
    const before = this.ensembleVersions();
    metrics?.modelInfo(mv.name, mv.inForce.version, false);
    mv.accept({ version: read.version, path: read.path, fromMs });
    this.revision++;
    this.record(mv, read, fromMs);
    metrics?.modelInfo(mv.name, read.version, true);
    metrics?.modelReload(mv.name, 'accepted');
    for (const [name, v] of this.ensembleVersions()) {
      if (before.get(name) === v) continue;
      metrics?.modelInfo(name, before.get(name)!, false);
      metrics?.modelInfo(name, v, true);
    }
    log.info(`model ${mv.name}: version ${read.version} accepted; it scores every window ending after ${Number.isFinite(fromMs) ? new Date(fromMs).toISOString() : 'the start'} (T = ${fromMs}; read and kept in ${took.readMs} ms, checked in ${took.checkMs} ms)`, { model: mv.name, version: read.version, T: fromMs, ...took });
  }

  /** Each ensemble's version in force (not of those with remote members: workers see those). */
  private ensembleVersions(): Map<string, string> {
    const out = new Map<string, string>();
    this.plan.models.forEach((m, i) => {
      const v = m.kind === 'ensemble' && !this.hasRemote(i) ? this.versionInForce(i) : null;
      if (v !== null) out.set(m.name, v);
    });
    return out;
  }

  private hasRemote(index: number): boolean {
    const m = this.plan.models[index];
    return m.kind === 'remote' || (m.kind === 'ensemble' && m.members.some((i) => this.hasRemote(i)));
  }

  /** The version in force of a model by index (a file model's last, an ensemble's from its
   *  members'; a remote model's is its server's, which workers see: null here). */
  versionInForce(index: number): string | null {
    const m = this.plan.models[index];
    if (m.kind === 'file') return this.byName.get(m.name)!.inForce.version;
    if (m.kind === 'remote') return null;
    return ensembleVersion(m.members.map((i) => String(this.versionInForce(i))));
  }

  /** Each remote model's breaker: open or not (metrics). */
  breakerStates(): Array<{ model: string; open: boolean }> {
    return [...this.breakers].map(([model, b]) => ({ model, open: b.open }));
  }

  /** Stops polling; a check still running is waited for, and its version not taken. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.reloader?.stop();
    await this.durableWrites;
  }

  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    if (!this.opts.store) await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

/** A load error about the kept copy, told about the source the user named. */
function namedBySource(e: unknown, copy: string, source: string): unknown {
  if (e instanceof Error) e.message = e.message.split(copy).join(source);
  return e;
}
