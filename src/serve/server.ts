// `sluice serve`'s HTTP server (SPEC §14): the Open Inference Protocol v2 REST endpoints, plus
// /metrics, /healthz and /readyz, on node:http (docs/serve.md says why not a framework). A request
// is read whole (at most maxBodyBytes), parsed by the addon straight into numbers, admitted if its
// rows fit the queue, and scored on the ScoringPool with the rows of concurrent requests.
import * as http from 'node:http';
import { SluiceError } from '../errors';
import { logger } from '../log';
import { ScoringPool } from '../scoring/scoring-pool';
import type { ServeConfig } from './config';
import { Deadlines, type Within } from './deadlines';
import { badRequest, inferAnswer, parseInferBody, readInferRequest, ServeError } from './infer';
import { serveMetrics } from './metrics';
import { ServedModels } from './models';

const log = logger('serve');
const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain';
const VERSION = (require('../../../package.json') as { version: string }).version;

export interface Server {
  port: number;
  host: string;
  /** Resolves once every model is loaded (ready answers 200 from then on). */
  loaded: Promise<void>;
  /** Stops accepting, answers every request already received, then stops the workers. */
  close(): Promise<void>;
}

export async function startServer(config: ServeConfig): Promise<Server> {
  let pool: ScoringPool | null = null;
  const { metrics, registry } = serveMetrics(() => pool?.waitingRows ?? 0);
  pool = new ScoringPool({ threads: config.workers.threads, maxBatchRows: config.batching.maxRows, maxDelayMs: config.batching.maxDelayMs, maxQueuedRows: config.batching.maxQueueRows, inlineMaxUs: config.batching.inlineMaxUs, onFull: 'error', onBatch: metrics.batch });
  let models: ServedModels | null = null;
  let inFlight = 0;
  let nextId = 0;
  const drained: Array<() => void> = [];
  // Time limits are checked by one timer, a tenth of timeoutMs apart (5 to 50 ms): a timer per
  // request was a measurable share of a small request's cost.
  const deadlines = new Deadlines(Math.min(50, Math.max(5, Math.round(config.http.timeoutMs / 10))));

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? `r${++nextId}`;
    const startedAt = performance.now();
    let model = '';
    const send = (status: number, body: string, type = JSON_TYPE) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-request-id': requestId }).end(body);
    };
    try {
      const url = req.url ?? '/';
      const p = url.split('?')[0];
      if (p === '/metrics' || p === '/healthz' || p === '/readyz' || p === '/v2' || p.startsWith('/v2/health/')) {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new ServeError(404, `${req.method} ${p}: only GET`);
        if (p === '/metrics') return send(200, await registry.metrics(), registry.contentType);
        if (p === '/healthz' || p === '/v2/health/live') return send(200, p === '/healthz' ? 'ok\n' : '{"live":true}', p === '/healthz' ? TEXT_TYPE : JSON_TYPE);
        if (p === '/readyz' || p === '/v2/health/ready') return send(models ? 200 : 503, p === '/readyz' ? (models ? 'ready\n' : 'not ready\n') : JSON.stringify({ ready: models !== null }), p === '/readyz' ? TEXT_TYPE : JSON_TYPE);
        if (p === '/v2') return send(200, JSON.stringify({ name: 'sluice', version: VERSION, extensions: [] }));
        throw new ServeError(404, `no endpoint ${p}`);
      }
      const route = modelPath(p);
      if (!models) throw new ServeError(503, 'the models are still loading');
      models.resolve(route.model, route.version);
      model = route.model; // a metrics label only once it names a model: URLs are the client's
      if (route.action === 'ready') {
        if (req.method !== 'GET') throw new ServeError(404, `${req.method} ${p}: only GET`);
        return send(200, JSON.stringify({ name: route.model, ready: true }));
      }
      if (route.action === 'metadata') {
        if (req.method !== 'GET') throw new ServeError(404, `${req.method} ${p}: only GET`);
        return send(200, JSON.stringify(models.metadata(route.model, route.version)));
      }
      if (req.method !== 'POST') throw new ServeError(404, `${req.method} ${p}: infer takes POST`);
      const deadlineMs = startedAt + config.http.timeoutMs;
      const body = await readBody(req, config.http.maxBodyBytes, deadlines.within(deadlineMs, config.http.timeoutMs));
      const doc = parseInferBody(body);
      const limit = config.batching.maxQueueRows;
      const infer = readInferRequest(doc, models.shape(route.model), { maxRows: limit, maxValues: body.length });
      if (pool!.waitingRows + infer.nRows > limit) throw new ServeError(429, `${pool!.waitingRows} rows are waiting to be scored, at most ${limit} (batching.maxQueueRows); retry later`);
      const key = (req.headers['x-sluice-key'] as string | undefined) ?? infer.key;
      const scored = models.score(route.model, route.version, infer.rows, infer.nRows, key, deadlineMs - performance.now(), requestId);
      const got = await deadlines.race(scored, deadlineMs, () => {
        pool!.dropExpired();
        return new ServeError(504, `not scored within http.timeoutMs (${config.http.timeoutMs} ms)`);
      });
      send(200, inferAnswer(route.model, got.version, infer.id, models.outputName(route.model), got.scores, infer.nRows, got.params));
      metrics.request(model, 200, (performance.now() - startedAt) / 1000);
    } catch (e) {
      const err = e instanceof ServeError ? e : new ServeError(500, `unexpected: ${(e as Error)?.message ?? String(e)}`);
      // The rest of the body is not read: the connection cannot carry another request.
      if (err.status === 413 || err.status === 408) res.setHeader('connection', 'close');
      send(err.status, JSON.stringify({ error: err.message }));
      if (model) metrics.request(model, err.status, (performance.now() - startedAt) / 1000);
      const line = `${req.method} ${req.url}: ${err.status} ${err.message}`;
      if (err.status >= 500) log.warn(line, { requestId, status: err.status });
      else log.debug(line, { requestId, status: err.status });
    }
  };

  // A request is in flight until its answer is written out, or its connection is gone (a
  // pipelined request behind an aborted one never gets its response's 'close'): counted per
  // connection, with one 'close' listener per connection rather than per request.
  const pending = new WeakMap<object, number>();
  const settle = (n: number) => {
    inFlight -= n;
    if (inFlight === 0 && n > 0) for (const d of drained.splice(0)) d();
  };
  const server = http.createServer((req, res) => {
    const socket = req.socket;
    inFlight++;
    pending.set(socket, (pending.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = pending.get(socket);
      if (left === undefined) return; // the connection closed first and settled it
      pending.set(socket, left - 1);
      settle(1);
    });
    void handle(req, res);
  });
  server.on('connection', (socket) => {
    socket.once('close', () => {
      const left = pending.get(socket) ?? 0;
      pending.delete(socket);
      settle(left);
    });
  });
  // Keep-alive connections outlive a client's pause between requests (wrk, load balancers).
  server.keepAliveTimeout = 65_000;
  // Headers that never end are Node's to cut (a body that never ends is readBody's).
  server.headersTimeout = Math.max(1000, config.http.timeoutMs);
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new SluiceError('SLUICE_RUNTIME', `sluice serve: cannot listen on ${config.http.host}:${config.http.port} (${e.code ?? e.message}); set http.port or --port to a free port`, { cause: e })));
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  log.info(`listening on http://${config.http.host}:${port}`, { host: config.http.host, port });
  const loaded = ServedModels.open(config, pool, metrics).then((m) => {
    models = m;
    log.info(`ready: ${Object.keys(config.models).join(', ')}${config.route ? ` and the route ${config.route.name}` : ''}`);
  });
  loaded.catch(() => undefined);
  return {
    port,
    host: config.http.host,
    loaded,
    close: async () => {
      const stopped = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      // Every request received is answered; each waits at most timeoutMs (its body read, then its scores).
      if (inFlight > 0) await new Promise<void>((r) => drained.push(r));
      server.closeAllConnections();
      deadlines.stop();
      await loaded.catch(() => undefined);
      await pool!.close();
      await models?.close();
      await stopped;
    },
  };
}

/** /v2/models/{m}[/versions/{v}][/ready|/infer] */
function modelPath(p: string): { model: string; version?: string; action: 'metadata' | 'ready' | 'infer' } {
  const parts = p.split('/');
  // ['', 'v2', 'models', m, ...]
  if (parts[1] !== 'v2' || parts[2] !== 'models' || parts.length < 4 || parts[3] === '') throw new ServeError(404, `no endpoint ${p}`);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw badRequest(`${p}: bad percent-encoding`);
    }
  };
  const model = decode(parts[3]);
  let i = 4;
  let version: string | undefined;
  if (parts[i] === 'versions') {
    if (parts.length <= i + 1 || parts[i + 1] === '') throw new ServeError(404, `no endpoint ${p}`);
    version = decode(parts[i + 1]);
    i += 2;
  }
  const rest = parts.slice(i).join('/');
  if (rest === '') return { model, version, action: 'metadata' };
  if (rest === 'ready' || rest === 'infer') return { model, version, action: rest };
  throw new ServeError(404, `no endpoint ${p}`);
}

/** The whole body; over `max` bytes (declared or sent) is a 413 as soon as it is known; a body not
 *  in by the deadline is a 408 (a client that stalls holds nothing for long). */
function readBody(req: http.IncomingMessage, max: number, within: Within): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > max) return Promise.reject(new ServeError(413, `the body is ${declared} bytes, over http.maxBodyBytes (${max})`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const stop = (e: ServeError) => {
      cancel();
      req.removeAllListeners('data');
      req.pause();
      reject(e);
    };
    const cancel = within.start(() => stop(new ServeError(408, `the body did not arrive within http.timeoutMs (${within.timeoutMs} ms)`)));
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > max) return stop(new ServeError(413, `the body is over http.maxBodyBytes (${max} bytes)`));
      chunks.push(c);
    });
    req.on('end', () => {
      cancel();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bytes));
    });
    req.on('error', (e) => stop(badRequest(`the body could not be read: ${e.message}`)));
  });
}
