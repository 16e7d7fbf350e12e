// The shape every bench suite reports in; bench/run.ts prints it as a table and writes
// bench/results/<suite>.json. Suites measure our code and a peer in the same run and never assert.

export interface BenchRow {
  /** What was measured, e.g. "depth 6 x 100 trees, 10,000 rows". */
  case: string;
  /** The figure, e.g. "rows/s", "values/s", "ppm at q=0.999", "bytes". */
  metric: string;
  ours: number;
  /** The peer's figure on the same input in the same run; null when there is no peer for this row. */
  peer: number | null;
  peerName: string;
  /** true when a bigger figure is better (throughput), false when smaller is (error, bytes, latency). */
  higherIsBetter: boolean;
}

export interface SuiteResult {
  suite: string;
  rows: BenchRow[];
  /** Anything the reader needs to trust the figures: parity checks, run counts, skipped peers. */
  notes: string[];
}

export interface BenchContext {
  /** The repository root, for files a suite reads or builds (bench/peers, bench/models). */
  rootDir: string;
  /** Directory for generated inputs (models, data) that are too big to commit; reused across runs. */
  cacheDir: string;
  /** Reports progress of a long run (drawn as a bar on a TTY, nothing otherwise). */
  progress(label: string, done: number, total: number): void;
  /** True for a short smoke run (CI, `--quick`): fewer repetitions, smaller inputs. */
  quick: boolean;
}

export interface Suite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<SuiteResult>;
}

/** Ratio in the direction where > 1 means sluice is better. */
export function ratioOf(row: BenchRow): number | null {
  if (row.peer === null || row.peer === 0 || row.ours === 0) return null;
  return row.higherIsBetter ? row.ours / row.peer : row.peer / row.ours;
}
