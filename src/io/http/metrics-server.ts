// Prometheus metrics, /healthz and /readyz on the job's metrics host and port (SPEC §11). Names
// start with sluice_, counters end in _total and durations are in seconds.
import * as http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SCORE_BUCKETS } from '../../models/scorer';
import { SluiceError } from '../../errors';
import type { EngineMetrics } from '../../runtime/ports';

export interface MetricsServer {
  metrics: EngineMetrics;
  /** A Kafka output's produce call acknowledged: seconds from send to ack. */
  sinkAck(output: string, seconds: number): void;
  /** The bound port (useful with port 0 in tests). */
  port: number;
  close(): Promise<void>;
}

/** /healthz fails when the event loop was blocked this long since the last probe. */
const HEALTHY_MAX_LOOP_DELAY_MS = 5000;
const LAG_PROBE_MS = 100;

export async function startMetricsServer(host: string, port: number, jobName: string): Promise<MetricsServer> {
  const registry = new Registry();
  registry.setDefaultLabels({ job: jobName });
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' }); // sluice_process_*, sluice_nodejs_*
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
  const events = counter('sluice_events_in_total', 'Raw events read, by source partition', ['partition']);
  const windowed = counter('sluice_events_windowed_total', 'Clean events assigned to at least one window (events in = windowed + late + dead letters)');
  const dead = counter('sluice_dead_letters_total', 'Events sent to the dead-letter output, by reason', ['reason']);
  const late = counter('sluice_late_events_total', 'Events late for every window they belong to');
  const expired = counter('sluice_expired_assignments_total', 'Sliding-window assignments dropped because the event was late for those windows only');
  const fired = counter('sluice_windows_fired_total', 'Window result records written (first firings, revisions and retractions)');
  const revisions = counter('sluice_window_revisions_total', 'Window results re-fired within the allowed lateness (revision > 0)');
  const retractions = counter('sluice_window_retractions_total', 'Session identities retracted');
  const open = gauge('sluice_open_windows', 'Windows open across all key partitions');
  const batchSize = new Histogram({ name: 'sluice_batch_events', help: 'Events per batch', buckets: [1, 16, 256, 1024, 4096, 16384, 65536], registers: [registry] });
  const queueDepth = gauge('sluice_batches_in_flight', 'Batches read and not yet written');
  const seconds = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
  const histogram = (name: string, help: string, labelNames: string[] = []) => new Histogram({ name, help, labelNames, buckets: seconds, registers: [registry] });
  const latency = histogram('sluice_result_latency_seconds', 'From reading a batch to writing the results it caused');
  const score = histogram('sluice_score_seconds', "A window task's model calls (all the windows it fired)");
  const scoredRows = counter('sluice_scored_windows_total', 'Windows scored by the model');
  const poolQueue = gauge('sluice_pool_queue_depth', 'Window tasks waiting for a worker thread');
  const poolBusy = gauge('sluice_pool_busy_workers', 'Worker threads running a window task');
  const lag = gauge('sluice_consumer_lag_records', 'Records behind the end of each source partition (Kafka)', ['partition']);
  const checkpoint = histogram('sluice_checkpoint_duration_seconds', 'A checkpoint, from its batch boundary to its synced write');
  const checkpointPause = histogram('sluice_checkpoint_pause_seconds', 'The longest stretch a checkpoint held the pipeline');
  const checkpointBytes = gauge('sluice_checkpoint_bytes', 'Bytes written by the last checkpoint');
  const checkpoints = counter('sluice_checkpoints_total', 'Checkpoints written');
  const ack = histogram('sluice_sink_ack_seconds', "A Kafka output's produce call, from send to acks of all in-sync replicas", ['output']);
  const modelInfo = gauge('sluice_model_info', 'Model versions: 1 for the version in force, 0 for the other recorded versions', ['model', 'version']);
  const modelReloads = counter('sluice_model_reloads_total', 'New model versions checked, by result (accepted or refused)', ['model', 'result']);
  const modelErrors = counter('sluice_model_errors_total', 'Rows a model failed to score, by kind: error (the call threw) or non-finite (an output was NaN or infinite)', ['model', 'kind']);
  const modelFallbacks = counter('sluice_model_fallbacks_total', 'Rows a fallback scored for a model that failed: fallback is the fallback model, or "value"', ['model', 'fallback']);
  const modelCache = counter('sluice_model_cache_total', 'Prediction cache lookups (scoring.cache), by model and result (hit or miss)', ['model', 'result']);
  const modelScores = new BucketHistogram('sluice_model_score', "Results' scores (the first output) by the model of their variant: drift between variants shows here", 'model', SCORE_BUCKETS);
  registry.registerMetric(modelScores as unknown as Parameters<Registry['registerMetric']>[0]);
  const breakers = gauge('sluice_model_breaker_open', "A remote model's circuit breaker: 1 open (calls go to the fallback), 0 closed", ['model']);
  const assigned = gauge('sluice_assigned_partitions', 'Source partitions this process holds (with a changelog, SPEC §15)');
  const restores = counter('sluice_changelog_restores_total', 'Partitions taken on, by where their state came from: changelog, local (the local copy, or kept in memory) or none', ['from']);
  const restoreSeconds = histogram('sluice_partition_restore_seconds', 'Taking on a partition: reading and restoring its state');
  const rebalances = counter('sluice_rebalances_total', 'Consumer group rebalances this process went through');
  const conflicts = counter('sluice_key_partition_conflicts_total', 'Events of a key already seen in another source partition (input not co-partitioned)');
  const errors = counter('sluice_errors_total', 'Errors handled (task retries, failed commits) or fatal, by kind', ['kind']);
  let watermarkMs = -Infinity;
  new Gauge({
    name: 'sluice_watermark_lag_seconds',
    help: 'Wall clock minus the job watermark',
    registers: [registry],
    collect() {
      this.set(Number.isFinite(watermarkMs) ? (Date.now() - watermarkMs) / 1000 : 0);
    },
  });

  const metrics: EngineMetrics = {
    eventsIn: (partition, n) => events.inc({ partition: String(partition) }, n),
    eventsWindowed: (n) => windowed.inc(n),
    deadLetters: (reason, n) => dead.inc({ reason }, n),
    lateEvents: (n) => late.inc(n),
    expiredAssignments: (n) => expired.inc(n),
    windowsFired: (n) => fired.inc(n),
    revisions: (n) => revisions.inc(n),
    retractions: (n) => retractions.inc(n),
    openWindows: (n) => open.set(n),
    ready: (r) => {
      isReady = r;
    },
    assignedPartitions: (n) => assigned.set(n),
    partitionRestored: (from, s) => {
      restores.inc({ from });
      restoreSeconds.observe(s);
    },
    rebalance: () => rebalances.inc(),
    keyPartitionConflicts: (n) => conflicts.inc(n),
    batch: (n, inFlight) => {
      batchSize.observe(n);
      queueDepth.set(inFlight);
    },
    resultLatency: (seconds, results) => {
      if (results > 0) latency.observe(seconds);
    },
    watermark: (ms) => {
      watermarkMs = ms;
    },
    scored: (rows, s) => {
      scoredRows.inc(rows);
      if (rows > 0) score.observe(s);
    },
    pool: (queued, busy) => {
      poolQueue.set(queued);
      poolBusy.set(busy);
    },
    consumerLag: (partition, records) => lag.set({ partition: String(partition) }, records),
    checkpoint: (s, pauseS, bytes) => {
      checkpoints.inc();
      checkpoint.observe(s);
      checkpointPause.observe(pauseS);
      checkpointBytes.set(bytes);
    },
    error: (kind) => errors.inc({ kind }),
    modelInfo: (model, version, inForce) => modelInfo.set({ model, version }, inForce ? 1 : 0),
    modelReload: (model, result) => modelReloads.inc({ model, result }),
    modelErrors: (model, kind, rows) => modelErrors.inc({ model, kind }, rows),
    modelFallbacks: (model, fallback, rows) => modelFallbacks.inc({ model, fallback }, rows),
    modelBreaker: (model, open) => breakers.set({ model }, open ? 1 : 0),
    modelCache: (model, hits, misses) => {
      if (hits > 0) modelCache.inc({ model, result: 'hit' }, hits);
      if (misses > 0) modelCache.inc({ model, result: 'miss' }, misses);
    },
    modelScores: (model, buckets, sum) => modelScores.add(model, buckets, sum),
  };

  let isReady = false;
  // /healthz: alive and responsive. The event loop's recent delay says whether it still answers
  // in time; a loop blocked for seconds is not healthy even if it answers in the end.
  // A timer that should fire every LAG_PROBE_MS: how late it fires is how long the loop was held.
  // (perf_hooks' monitorEventLoopDelay does not see a loop blocked in one go: measured, a 1 s
  // block left its max at 20 ms.)
  let maxLagMs = 0;
  let lastTickMs = performance.now();
  const lagProbe = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - lastTickMs - LAG_PROBE_MS);
    lastTickMs = now;
  }, LAG_PROBE_MS);
  lagProbe.unref();
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    } else if (url === '/healthz') {
      // The probe may not have fired yet after a long block: count the time since its last tick too.
      const maxDelayMs = Math.max(maxLagMs, performance.now() - lastTickMs - LAG_PROBE_MS);
      maxLagMs = 0;
      lastTickMs = performance.now();
      const ok = maxDelayMs < HEALTHY_MAX_LOOP_DELAY_MS;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : `event loop blocked for ${maxDelayMs.toFixed(0)} ms\n`);
    } else if (url === '/readyz') {
      // Ready once the job has loaded its model and is reading (with Kafka and durable state:
      // joined and restored, too); not ready again once it stops.
      res.writeHead(isReady ? 200 : 503, { 'content-type': 'text/plain' }).end(isReady ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new SluiceError('SLUICE_RUNTIME', `metrics endpoint: cannot listen on ${host}:${port} (${e.code ?? e.message}); set metrics.port to a free port, or 0 to turn it off`, { cause: e })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    metrics,
    sinkAck: (output, s) => ack.observe({ output }, s),
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise((r) => {
        clearInterval(lagProbe);
        server.close(() => r());
      }),
  };
}

/**
 * A histogram fed with bucket counts (workers count their tasks' scores; the main thread only
 * adds the counts up), in Prometheus' histogram form: cumulative _bucket{le}, _sum and _count.
 */
export class BucketHistogram {
  readonly type = 'histogram';
  private readonly series = new Map<string, { counts: number[]; sum: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly bounds: readonly number[],
  ) {}

  /** Counts per bucket (bounds, then +Inf), not cumulative. */
  add(labelValue: string, counts: readonly number[], sum: number): void {
    const s = this.seriesOf(labelValue);
    counts.forEach((n, i) => (s.counts[i] += n));
    s.sum += sum;
  }

  /** One value (a few ns: prom-client's observe hashes its labels every call). */
  observe(labelValue: string, value: number): void {
    const s = this.seriesOf(labelValue);
    let b = 0;
    while (b < this.bounds.length && value > this.bounds[b]) b++;
    s.counts[b]++;
    s.sum += value;
  }

  private seriesOf(labelValue: string): { counts: number[]; sum: number } {
    let s = this.series.get(labelValue);
    if (!s) this.series.set(labelValue, (s = { counts: new Array(this.bounds.length + 1).fill(0), sum: 0 }));
    return s;
  }

  get(): { name: string; help: string; type: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> } {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [v, s] of this.series) {
      let cumulative = 0;
      s.counts.forEach((n, i) => {
        cumulative += n;
        values.push({ metricName: `${this.name}_bucket`, labels: { [this.label]: v, le: i < this.bounds.length ? this.bounds[i] : '+Inf' }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: v }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: v }, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, values };
  }
}
