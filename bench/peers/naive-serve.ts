// The serve suite's peer: what a hand-written scoring endpoint does. node:http on one thread,
// JSON.parse of each body, a Float32Array of its rows, predictSync, the Open Inference Protocol
// answer. Nothing is batched across requests. Same flags as `sluice serve`:
//   node dist/bench/peers/naive-serve.js --model <file.json> --host 127.0.0.1 --port <P>
// SIGTERM: stop listening, let open requests finish, exit 0.
import * as http from 'node:http';
import * as path from 'node:path';
import { loadModel } from '../../src/scoring/load-model';

interface InferInput {
  name?: string;
  shape?: number[];
  datatype?: string;
  data?: Array<number | null>;
}

async function main(): Promise<void> {
  const args = flags(process.argv.slice(2));
  const modelPath = args.get('--model');
  if (modelPath === undefined) throw new Error('naive-serve: --model <file> is required');
  const host = args.get('--host') ?? '127.0.0.1';
  const port = Number(args.get('--port') ?? 8000);
  const name = path.basename(modelPath).replace(/\.[^.]*$/, '');
  const inferPath = `/v2/models/${name}/infer`;
  let model: Awaited<ReturnType<typeof loadModel>> | null = null;

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/v2/health/ready' || req.url === '/v2/health/live')) {
      return answer(res, model !== null || req.url === '/v2/health/live' ? 200 : 503, model ? '{}' : '{"error":"loading"}');
    }
    if (req.method !== 'POST' || req.url !== inferPath) return answer(res, 404, JSON.stringify({ error: `no route ${req.method} ${req.url}` }));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (model === null) return answer(res, 503, '{"error":"model not loaded"}');
      let input: InferInput;
      try {
        input = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { inputs: InferInput[] }).inputs[0];
      } catch (e) {
        return answer(res, 400, JSON.stringify({ error: `bad request: ${(e as Error).message}` }));
      }
      const F = model.numFeatures;
      const data = input?.data;
      const nRows = input?.shape?.[0] ?? -1;
      if (!Array.isArray(data) || input.shape?.[1] !== F || data.length !== nRows * F) {
        return answer(res, 400, JSON.stringify({ error: `expected one input of shape [N,${F}] with N*${F} values` }));
      }
      const rows = new Float32Array(data.length);
      for (let i = 0; i < data.length; i++) rows[i] = data[i] ?? NaN; // null is a missing value
      const scores = model.predictSync!(rows, nRows);
      const body = { model_name: name, model_version: '1', outputs: [{ name: 'score', datatype: 'FP32', shape: [nRows, model.numOutputs], data: Array.from(scores) }] };
      answer(res, 200, JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  model = await loadModel(modelPath);
  if (model.predictSync === undefined) throw new Error(`${modelPath}: the naive server needs an XGBoost model (predictSync)`);

  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}

function answer(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function flags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < argv.length; i += 2) out.set(argv[i], argv[i + 1]);
  return out;
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
