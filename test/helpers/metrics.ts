// Reading a /metrics scrape in tests, and the checks every real run's metrics must pass against
// its own summary and outputs (SPEC §11).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './paths';
import type { Summary } from '../../src/runtime/summary';

/** Samples by name: each with its labels (the job label left out) and value. */
export function parseMetrics(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  const out = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) if (k !== 'job') labels[k] = v;
    const list = out.get(m[1]) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1], list);
  }
  return out;
}

/** The sum of a metric over its label sets (0 when absent). */
export const total = (metrics: ReturnType<typeof parseMetrics>, name: string, where: Record<string, string> = {}) =>
  (metrics.get(name) ?? []).filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

/** A finished run's counters against its summary and outputs, and against each other. */
export function checkRunMetrics(text: string, summary: Summary, outputs: { results: string[]; deadLetters: string[] }): void {
  const m = parseMetrics(text);
  const eventsIn = total(m, 'sluice_events_in_total');
  assert.equal(eventsIn, summary.events, 'events in = the summary');
  const dead = total(m, 'sluice_dead_letters_total');
  assert.equal(dead, summary.deadLetters);
  assert.equal(total(m, 'sluice_late_events_total'), summary.lateEvents);
  assert.equal(eventsIn, total(m, 'sluice_events_windowed_total') + summary.lateEvents + dead, 'events in = windowed + late + dead letters');
  for (const reason of new Set(outputs.deadLetters.map((l) => JSON.parse(l).reason as string))) {
    assert.equal(total(m, 'sluice_dead_letters_total', { reason }), outputs.deadLetters.filter((l) => JSON.parse(l).reason === reason).length, `dead letters: ${reason}`);
  }
  const records = outputs.results.map((l) => JSON.parse(l) as { revision: number; retracted?: boolean });
  assert.equal(total(m, 'sluice_windows_fired_total'), records.length, 'windows fired = result records');
  assert.equal(total(m, 'sluice_window_revisions_total'), records.filter((r) => r.revision > 0 && !r.retracted).length, 'revisions = records with revision > 0');
  assert.ok(total(m, 'sluice_scored_windows_total') >= summary.windowsFired, 'every fired window was scored');
  assert.ok(total(m, 'sluice_score_seconds_count') > 0);
  assert.ok(total(m, 'sluice_batch_events_count') > 0);
}

/** The metrics docs/grafana/sluice.json queries, by the name their # TYPE line has (histogram
 *  series without _bucket, _count, _sum). */
export function dashboardMetrics(): string[] {
  const dashboard = JSON.parse(fs.readFileSync(path.join(repoRoot, 'docs', 'grafana', 'sluice.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const names = new Set<string>();
  for (const p of dashboard.panels) for (const t of p.targets) for (const [name] of t.expr.matchAll(/sluice_[a-z_]+/g)) names.add(name.replace(/_(bucket|count|sum)$/, ''));
  return [...names].sort();
}
