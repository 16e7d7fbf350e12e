// Prometheus metrics, /healthz and /readyz on the job's metrics host and port (SPEC §11). Names
// start with sluice_, counters end in _total and durations are in seconds.
import * as http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SluiceError } from '../../errors';
import type { EngineMetrics } from '../../runtime/ports';

export interface MetricsServer {
  metrics: EngineMetrics;
  /** The bound port (useful with port 0 in tests). */
  port: number;
  close(): Promise<void>;
}

/** /healthz fails when the event loop was blocked this long since the last probe. */
const HEALTHY_MAX_LOOP_DELAY_MS = 5000;

export async function startMetricsServer(host: string, port: number, jobName: string): Promise<MetricsServer> {
  const registry = new Registry();
  registry.setDefaultLabels({ job: jobName });
  collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [registry] });
  const events = counter('sluice_events_in_total', 'Raw events read from the source');
  const dead = counter('sluice_dead_letters_total', 'Events sent to the dead-letter output, by reason', ['reason']);
  const late = counter('sluice_late_events_total', 'Events late for every window they belong to');
  const expired = counter('sluice_expired_assignments_total', 'Sliding-window assignments dropped because the event was late for those windows only');
  const fired = counter('sluice_windows_fired_total', 'Window result records written (first firings, revisions and retractions)');
  const revisions = counter('sluice_window_revisions_total', 'Window results re-fired within the allowed lateness (revision > 0)');
  const retractions = counter('sluice_window_retractions_total', 'Session identities retracted');
  const open = new Gauge({ name: 'sluice_open_windows', help: 'Windows open across all key partitions', registers: [registry] });
  const batchSize = new Histogram({ name: 'sluice_batch_events', help: 'Events per batch', buckets: [1, 16, 256, 1024, 4096, 16384, 65536], registers: [registry] });
  const queueDepth = new Gauge({ name: 'sluice_batches_in_flight', help: 'Batches read and not yet written', registers: [registry] });
  const latency = new Histogram({ name: 'sluice_result_latency_seconds', help: 'From reading a batch to writing the results it caused', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
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
    eventsIn: (n) => events.inc(n),
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
  };

  let isReady = false;
  // /healthz: alive and responsive. The event loop's recent delay says whether it still answers
  // in time; a loop blocked for seconds is not healthy even if it answers in the end.
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
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
      const maxDelayMs = loopDelay.max / 1e6;
      loopDelay.reset();
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
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise((r) => {
        loopDelay.disable();
        server.close(() => r());
      }),
  };
}
