// The prediction cache (SPEC §12 scoring.cache): a model's outputs by its exact float32 input row,
// least recently used first out, each entry good for ttlMs. One per worker thread: a row scored
// on another thread is a miss here. It pays for remote models, and for rows that repeat.

export interface CacheConfig {
  maxEntries: number;
  ttlMs: number;
}

export class PredictionCache {
  /** By key: the outputs and when they expire. Map order is use order: the first is the LRU. */
  private readonly entries = new Map<string, { outputs: Float32Array; expiresAtMs: number }>();
  hits = 0;
  misses = 0;

  constructor(private readonly config: CacheConfig) {}

  /** The key of a row of model `model` at `version`: its bytes, exactly. */
  static key(model: number, version: string | null, row: Float32Array): string {
    return `${model}\u0000${version}\u0000${Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('latin1')}`;
  }

  get(key: string, nowMs: number): Float32Array | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.expiresAtMs <= nowMs) {
      if (e) this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hits++;
    return e.outputs;
  }

  set(key: string, outputs: Float32Array, nowMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { outputs, expiresAtMs: nowMs + this.config.ttlMs });
    if (this.entries.size > this.config.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The hits and misses since the last take (metrics). */
  take(): { hits: number; misses: number } {
    const out = { hits: this.hits, misses: this.misses };
    this.hits = 0;
    this.misses = 0;
    return out;
  }
}
