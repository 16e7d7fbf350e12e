// Typed readers for the job file. Each reads one value at a path and either returns it typed or
// throws one SLUICE_CONFIG_INVALID line: `<file>: <path>: expected <what>, got <value>`.
import { configError, type SluiceError } from '../errors';

export type Raw = Record<string, unknown>;

export const isMapping = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Absent means not given: a missing key, or YAML's empty value (`key:` → null). */
const isAbsent = (v: unknown) => v === undefined || v === null;

/** JSON-ish rendering of a value for messages: strings quoted, long structures cut. */
export function render(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null) return String(v);
  if (typeof v === 'object') {
    let s: string;
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = Array.isArray(v) ? '[...]' : '{...}';
    }
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  }
  return typeof v;
}

/** The known key closest to `key` when one is close enough to be a typo (case, one or two letters). */
export function closest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const cand of known) {
    const d = editDistance(k, cand.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [cand, d];
  }
  const limit = Math.min(key.length, best?.length ?? 0) <= 4 ? 1 : 2;
  return bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** A field path in an event: names separated by dots (user.id). */
export const FIELD_PATH = /^[^.]+(\.[^.]+)*$/;
export const FIELD_PATH_WHAT = 'a field path (names separated by dots)';

export const joinPath = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

export type IntKind = 'integer' | 'positive' | 'nonNegative';
const intWhat: Record<IntKind, string> = {
  integer: 'an integer',
  positive: 'a positive integer',
  nonNegative: 'a non-negative integer',
};
const intWhatFor = (kind: IntKind, max?: number) =>
  max === undefined ? intWhat[kind] : `an integer from ${kind === 'positive' ? 1 : 0} to ${max}`;

/** Error factory for one file; knows which paths came from `--set` so messages can say so. */
export class Reader {
  constructor(
    readonly file: string,
    private readonly overridden: readonly string[] = [],
  ) {}

  fail(path: string, message: string): SluiceError {
    const where = path === '' ? '' : `${path}: `;
    return configError(`${this.file}: ${where}${message}${this.fromSet(path)}`);
  }

  expected(path: string, what: string, got: unknown): SluiceError {
    return this.fail(path, `expected ${what}, got ${render(got)}`);
  }

  missing(path: string, what: string): SluiceError {
    return this.fail(path, `missing; expected ${what}`);
  }

  private fromSet(path: string): string {
    const hit = this.overridden.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
    return hit ? ' (from --set)' : '';
  }

  /** A mapping whose keys must all be in `known` (`kafka:` blocks are never read through here). */
  /** `listed` narrows the keys the message offers, e.g. to those of the section's chosen type. */
  section(value: unknown, path: string, known: readonly string[], listed: readonly string[] = known): Section {
    if (!isMapping(value)) throw this.expected(path, 'a mapping', value);
    for (const key of Object.keys(value)) {
      if (known.includes(key) || value[key] === undefined) continue;
      const hint = closest(key, listed);
      throw this.fail(joinPath(path, key), `unknown key; expected one of ${listed.join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    return new Section(this, path, value);
  }

  int(v: unknown, path: string, kind: IntKind, max?: number): number {
    const what = intWhatFor(kind, max);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw this.expected(path, what, v);
    if ((kind === 'positive' && v <= 0) || (kind === 'nonNegative' && v < 0) || (max !== undefined && v > max)) {
      throw this.expected(path, what, v);
    }
    return v;
  }

  /** A finite number within [min, max]; `exclusiveMin` makes the lower bound open. */
  num(v: unknown, path: string, what: string, range: { min?: number; max?: number; exclusiveMin?: boolean } = {}): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.expected(path, what, v);
    const { min, max, exclusiveMin } = range;
    if (min !== undefined && (exclusiveMin ? v <= min : v < min)) throw this.expected(path, what, v);
    if (max !== undefined && v > max) throw this.expected(path, what, v);
    return v;
  }

  str(v: unknown, path: string, what = 'a non-empty string', pattern?: RegExp): string {
    if (typeof v !== 'string' || v === '' || (pattern && !pattern.test(v))) throw this.expected(path, what, v);
    return v;
  }

  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') throw this.expected(path, 'true or false', v);
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, choices: readonly T[]): T {
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
      throw this.expected(path, `one of ${choices.join(', ')}`, v);
    }
    return v as T;
  }

  /** A non-empty list; `item` reads each element at `path[i]`. */
  list<T>(v: unknown, path: string, what: string, item: (x: unknown, path: string) => T): T[] {
    if (!Array.isArray(v) || v.length === 0) throw this.expected(path, what, v);
    return v.map((x, i) => item(x, joinPath(path, i)));
  }
}

/** One mapping of the job file with readers that take a key and an optional default. */
export class Section {
  constructor(
    readonly r: Reader,
    readonly path: string,
    readonly raw: Raw,
  ) {}

  at(key: string): string {
    return joinPath(this.path, key);
  }

  has(key: string): boolean {
    return !isAbsent(this.raw[key]);
  }

  get(key: string): unknown {
    return this.raw[key];
  }

  /** Rejects `key` when it does not apply here, e.g. `slideMs` on a tumbling window. */
  only(key: string, applies: boolean, why: string): void {
    if (!applies && this.raw[key] !== undefined) throw this.r.fail(this.at(key), why);
  }

  private read<T>(key: string, what: string, dflt: T | undefined, read: (v: unknown, path: string) => T): T {
    const v = this.raw[key];
    if (isAbsent(v)) {
      if (dflt !== undefined) return dflt;
      throw v === null ? this.r.expected(this.at(key), what, v) : this.r.missing(this.at(key), what);
    }
    return read(v, this.at(key));
  }

  int(key: string, kind: IntKind, dflt?: number, max?: number): number {
    return this.read(key, intWhatFor(kind, max), dflt, (v, p) => this.r.int(v, p, kind, max));
  }

  num(key: string, what: string, range: { min?: number; max?: number; exclusiveMin?: boolean }, dflt?: number): number {
    return this.read(key, what, dflt, (v, p) => this.r.num(v, p, what, range));
  }

  str(key: string, dflt?: string, what = 'a non-empty string', pattern?: RegExp): string {
    return this.read(key, what, dflt, (v, p) => this.r.str(v, p, what, pattern));
  }

  bool(key: string, dflt?: boolean): boolean {
    return this.read(key, 'true or false', dflt, (v, p) => this.r.bool(v, p));
  }

  oneOf<T extends string>(key: string, choices: readonly T[], dflt?: T): T {
    return this.read(key, `one of ${choices.join(', ')}`, dflt, (v, p) => this.r.oneOf(v, p, choices));
  }

  /** A pass-through mapping (`kafka:`), copied without looking inside. */
  passThrough(key: string): Raw {
    return this.read(key, 'a mapping', {}, (v, p) => {
      if (!isMapping(v)) throw this.r.expected(p, 'a mapping', v);
      return { ...v };
    });
  }

  /** A nested section; an absent one reads as empty so its defaults apply. */
  section(key: string, known: readonly string[], listed?: readonly string[]): Section {
    const v = this.raw[key];
    return this.r.section(isAbsent(v) ? {} : v, this.at(key), known, listed);
  }
}
