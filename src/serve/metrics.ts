// `sluice serve`'s Prometheus metrics (SPEC §14): requests by model and status, latency, batch
// rows, rows waiting, and §12's model metrics. Served on the server's own port (src/serve/server.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BucketHistogram } from '../io/http/metrics-server';

export interface ServeMetrics {
  request(model: string, status: number, seconds: number): void;
  modelInfo(model: string, version: string, inForce: boolean): void;
  modelReload(model: string, result: 'accepted' | 'refused'): void;
  modelError(model: string, kind: 'error' | 'non-finite', rows: number): void;
  modelFallback(model: string, fallback: string, rows: number): void;
  batch(rows: number, inline: boolean): void;
}

export function serveMetrics(waitingRows: () => number): { metrics: ServeMetrics; registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  const requests = new Counter({ name: 'sluice_serve_requests_total', help: 'Infer requests answered, by model and HTTP status', labelNames: ['model', 'status'], registers: [registry] });
  const latency = new BucketHistogram('sluice_serve_request_seconds', 'Infer requests answered 200, from arrival to the answer written, by model', 'model', [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);
  registry.registerMetric(latency as unknown as Parameters<Registry['registerMetric']>[0]);
  const batchRows = new Histogram({ name: 'sluice_serve_batch_rows', help: 'Rows per model call (requests coalesced), on the main thread or a worker', labelNames: ['on'], buckets: [1, 4, 16, 64, 256, 1024, 4096], registers: [registry] });
  const onMain = batchRows.labels({ on: 'main' });
  const onWorker = batchRows.labels({ on: 'worker' });
  new Gauge({
    name: 'sluice_serve_queue_rows',
    help: 'Rows waiting for a worker (not yet being scored)',
    registers: [registry],
    collect() {
      this.set(waitingRows());
    },
  });
  const info = new Gauge({ name: 'sluice_model_info', help: 'Model versions: 1 for the version in force, 0 for earlier ones', labelNames: ['model', 'version'], registers: [registry] });
  const reloads = new Counter({ name: 'sluice_model_reloads_total', help: 'New model versions checked, by result (accepted or refused)', labelNames: ['model', 'result'], registers: [registry] });
  const errors = new Counter({ name: 'sluice_model_errors_total', help: 'Rows a model failed to score, by kind', labelNames: ['model', 'kind'], registers: [registry] });
  const fallbacks = new Counter({ name: 'sluice_model_fallbacks_total', help: 'Rows a fallback scored for a model that failed', labelNames: ['model', 'fallback'], registers: [registry] });
  // Labelled children kept per (model, status): prom-client hashes the labels on every call.
  const children = new Map<string, { inc(): void }>();
  return {
    registry,
    metrics: {
      request: (model, status, seconds) => {
        const key = `${status} ${model}`;
        let c = children.get(key);
        if (!c) children.set(key, (c = requests.labels({ model, status: String(status) })));
        c.inc();
        if (status === 200) latency.observe(model, seconds);
      },
      modelInfo: (model, version, inForce) => info.set({ model, version }, inForce ? 1 : 0),
      modelReload: (model, result) => reloads.inc({ model, result }),
      modelError: (model, kind, rows) => errors.inc({ model, kind }, rows),
      modelFallback: (model, fallback, rows) => fallbacks.inc({ model, fallback }, rows),
      batch: (rows, inline) => (inline ? onMain : onWorker).observe(rows),
    },
  };
}
