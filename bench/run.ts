// The bench runner behind `sluice bench [suite ...]`: runs the chosen suites one after another,
// prints each one's table and notes, and writes bench/results/<suite>.json. It never judges
// timings; a suite that throws is reported and the others still run.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BenchContext, BenchRow, ratioOf, SuiteResult } from './harness';
import { suites as registeredSuites } from './suites';

export interface RunBenchOptions {
  /** Fewer repetitions and smaller inputs; also on when SLUICE_BENCH_QUICK=1. */
  quick?: boolean;
  /** Where tables and notes go (default stdout). */
  out?: NodeJS.WritableStream;
  /** Where errors go (default stderr). */
  err?: NodeJS.WritableStream;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  arch: string;
}

/** What bench/results/<suite>.json holds. */
export interface SuiteReport {
  suite: string;
  machine: MachineInfo;
  startedAt: string;
  durationMs: number;
  quick: boolean;
  rows: Array<BenchRow & { ratio: number | null }>;
  notes: string[];
}

/** Exit codes: 0 all suites ran, 1 a suite failed, 2 bad suite names. */
export async function runBench(suiteNames: string[], opts: RunBenchOptions = {}): Promise<number> {
  const out = opts.out ?? process.stdout;
  const err = opts.err ?? process.stderr;
  const quick = opts.quick === true || process.env.SLUICE_BENCH_QUICK === '1';

  const known = registeredSuites.map((s) => s.name);
  const unknown = suiteNames.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    err.write(
      `sluice bench: unknown suite${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}; ` +
        `known suites: ${known.join(', ')}\n`,
    );
    return 2;
  }
  // Registration order, each suite once, however the names were given.
  const chosen =
    suiteNames.length === 0 ? registeredSuites : registeredSuites.filter((s) => suiteNames.includes(s.name));

  const rootDir = findRootDir();
  const cacheDir = path.join(rootDir, 'bench', '.cache');
  const resultsDir = path.join(rootDir, 'bench', 'results');
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.mkdirSync(resultsDir, { recursive: true });

  const machine = machineInfo();
  out.write(
    `sluice bench${quick ? ' (quick)' : ''}: ${machine.cpuModel}, ${machine.cores} cores, ` +
      `${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, node ${machine.node} ${machine.platform}-${machine.arch}\n`,
  );

  const failed: string[] = [];
  for (const suite of chosen) {
    out.write(`\n== ${suite.name}: ${suite.description}\n\n`);
    const bar = new ProgressBar(suite.name);
    const ctx: BenchContext = {
      rootDir,
      cacheDir,
      quick,
      progress: (label, done, total) => bar.draw(label, done, total),
    };
    const startedAt = new Date();
    const t0 = performance.now();
    let result: SuiteResult;
    try {
      result = await suite.run(ctx);
    } catch (e) {
      bar.clear();
      err.write(`sluice bench: suite '${suite.name}' failed: ${describeError(e)}\n`);
      out.write(`  failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
      failed.push(suite.name);
      continue;
    }
    bar.clear();
    const durationMs = performance.now() - t0;

    const report: SuiteReport = {
      suite: suite.name,
      machine,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(durationMs),
      quick,
      rows: result.rows.map((row) => ({ ...row, ratio: ratioOf(row) })),
      notes: result.notes,
    };
    out.write(formatTable(report.rows));
    for (const note of result.notes) out.write(`  - ${note}\n`);
    const file = path.join(resultsDir, `${suite.name}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    out.write(`\n  ${(durationMs / 1000).toFixed(1)} s; written to ${path.relative(process.cwd(), file) || file}\n`);
  }
  if (failed.length > 0) {
    out.write(`\n${failed.length} of ${chosen.length} suites failed: ${failed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
  };
}

/** The directory holding sluice's package.json, looked up from here so dist/ and sources both work. */
function findRootDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'sluice') return dir;
    } catch {
      // no package.json here, keep climbing
    }
    if (path.dirname(dir) === dir) throw new Error(`sluice bench: no sluice package.json above ${__dirname}`);
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    // A SluiceError's message already says what to fix; other errors need their stack to be found.
    return 'code' in e && typeof e.code === 'string' && e.code.startsWith('SLUICE_')
      ? `${e.code}: ${e.message}`
      : (e.stack ?? e.message);
  }
  return String(e);
}

// ---- table -------------------------------------------------------------------------------------

function formatTable(rows: Array<BenchRow & { ratio: number | null }>): string {
  if (rows.length === 0) return '  (no rows)\n';
  const header = ['case', 'metric', 'sluice', 'peer', 'ratio'];
  const body = rows.map((r) => [
    r.case,
    r.metric,
    formatNumber(r.ours),
    r.peer === null ? `- (${r.peerName || 'no peer'})` : `${formatNumber(r.peer)} (${r.peerName})`,
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`,
  ]);
  const rightAligned = [false, false, true, true, true];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const line = (cells: string[]) =>
    '  ' +
    cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ').trimEnd() +
    '\n';
  const rule = '  ' + widths.map((w) => '-'.repeat(w)).join('-|-') + '\n';
  return line(header) + rule + body.map(line).join('') + (rows.some((r) => r.ratio !== null) ? ratioLegend : '');
}

const ratioLegend = '  (ratio > 1× means sluice is better)\n';

/** Whole numbers with thousands separators from 1,000 up; 4 significant digits below. */
function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x === 0 || Number.isInteger(x)) return String(x);
  return Number(x.toPrecision(4)).toString();
}

// ---- progress ----------------------------------------------------------------------------------

/** One line redrawn in place on stderr, at most every 100 ms; silent when stderr is not a terminal. */
class ProgressBar {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDrawMs = 0;
  private drawn = false;

  constructor(private readonly suite: string) {}

  draw(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    const nowMs = performance.now();
    if (done < total && nowMs - this.lastDrawMs < 100) return;
    this.lastDrawMs = nowMs;
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const columns = process.stderr.columns || 80;
    const prefix = `${this.suite}: ${label} `;
    const suffix = ` ${done}/${total}`;
    const barWidth = Math.max(10, Math.min(40, columns - prefix.length - suffix.length - 3));
    const filled = Math.round(fraction * barWidth);
    const text = `${prefix}[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${suffix}`;
    process.stderr.write(`\r\x1b[2K${text.slice(0, columns - 1)}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) process.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }
}
