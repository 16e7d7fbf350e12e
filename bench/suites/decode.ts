// The decode step, single thread: NativeJsonDecoder (the addon's scanner + key table) against
// JsonDecoder (JSON.parse + a Map), on the same 1,000,000 generator events in the same run, as
// text (file lines, the generator) and as bytes (Kafka values). Also checks both give the same
// clean events and key table, and counts messages that went through the native decoder's JS fallback.

import type { DecodedEvents } from '../../src/decode/decoder';
import type { NativeJsonDecoder as NativeDecoderClass } from '../../src/decode/native-decoder';
import { messageText, type RawBatch } from '../../src/decode/raw-batch';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';

/** The engine's default batch size (src/runtime/engine.ts DEFAULT_BATCH_SIZE). */
const BATCH = 32_768;
const FULL = { runs: 5, events: 1_000_000 };
const QUICK = { runs: 1, events: 100_000 };

export const decodeSuite: Suite = {
  name: 'decode',
  description: 'Decode to columns, single thread: NativeJsonDecoder vs JsonDecoder (JSON.parse), example events',
  run,
};

interface Decoder {
  decode(raw: RawBatch, out: DecodedEvents): void;
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const { runs, events } = ctx.quick ? QUICK : FULL;
  // Imported here, not at the top, so a missing addon fails this suite only, not the runner.
  const { DecodedEvents, JsonDecoder } = await import('../../src/decode/decoder');
  const { DEFAULT_MAX_MESSAGE_BYTES } = await import('../../src/config/defaults');
  const { KeyTable } = await import('../../src/decode/key-table');
  const { NativeJsonDecoder } = await import('../../src/decode/native-decoder');
  const { GeneratorSource } = await import('../../src/io/sources/generator');

  ctx.progress('generating events', 0, 1);
  const source = new GeneratorSource({ type: 'generator', key: 'card', timestamp: 'ts', format: 'json', maxMessageBytes: 1 << 20, events, keys: 10_000, seed: 42, eventTimeStepMs: 0.05, outOfOrderMs: 2000, partitions: 1, startTimeMs: 1_700_000_000_000, fraudShare: 0.01 });
  // The generator hands over one byte buffer per batch; the strings a JS producer would have are
  // made from it, so both forms hold the same events.
  const byteBatches: RawBatch[] = [];
  for await (const b of source.batches(BATCH)) byteBatches.push({ ...b, data: b.data!.slice(0, b.ends![b.count - 1]), starts: b.starts!.slice(), ends: b.ends!.slice() });
  const textBatches: RawBatch[] = byteBatches.map((b) => ({ ...b, data: undefined, starts: undefined, ends: undefined, values: Array.from({ length: b.count }, (_, i) => messageText(b, i)) }));
  const bytes = byteBatches.reduce((n, b) => n + b.ends![b.count - 1], 0);

  const spec = { keyPath: 'card', timestampPath: 'ts', fieldPaths: ['amount'], maxEventBytes: DEFAULT_MAX_MESSAGE_BYTES };
  const PARTITIONS = 64;
  const out = new DecodedEvents(BATCH, spec.fieldPaths.length);
  // One pass over every batch with a fresh decoder (keys interned from scratch, as in a job); the
  // checksum folds every output column in, so the work cannot be skipped and the two can be compared.
  const pass = (make: () => Decoder, batches: RawBatch[]) => {
    const decoder = make();
    let checksum = 0;
    let clean = 0;
    const t0 = performance.now();
    for (const b of batches) {
      decoder.decode(b, out);
      clean += out.count;
      for (let i = 0; i < out.count; i++) checksum += out.keyId[i] + out.timestampMs[i] * 1e-9 + out.fields[i];
    }
    return { ms: performance.now() - t0, checksum, clean, decoder };
  };
  const measure = (label: string, make: () => Decoder, batches: RawBatch[], step: number, steps: number) => {
    ctx.progress(label, step, steps);
    const first = pass(make, batches); // warm-up
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) ms.push(pass(make, batches).ms);
    return { ms, first };
  };

  const native = () => new NativeJsonDecoder(spec, PARTITIONS);
  const js = () => new JsonDecoder(spec, new KeyTable(PARTITIONS));
  const cases = [
    { label: 'string values (file lines, generator)', batches: textBatches },
    { label: 'Uint8Array values (Kafka)', batches: byteBatches },
  ];
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  let step = 0;
  for (const c of cases) {
    const ours = measure(`${c.label}: native`, native, c.batches, step++, cases.length * 2);
    const peer = measure(`${c.label}: JSON.parse`, js, c.batches, step++, cases.length * 2);
    const caseName = `${events.toLocaleString('en-US')} example events, ${c.label}`;
    const o = median(ours.ms) / 1000;
    const p = median(peer.ms) / 1000;
    rows.push({ case: caseName, metric: 'events/s', ours: events / o, peer: events / p, peerName: 'JsonDecoder (JSON.parse)', higherIsBetter: true });
    rows.push({ case: caseName, metric: 'MB/s', ours: bytes / 1e6 / o, peer: bytes / 1e6 / p, peerName: 'JsonDecoder (JSON.parse)', higherIsBetter: true });
    const nat = ours.first.decoder as NativeDecoderClass;
    const same = ours.first.checksum === peer.first.checksum && ours.first.clean === peer.first.clean;
    notes.push(
      `${c.label}: median ms native ${spread(ours.ms)}, JSON.parse ${spread(peer.ms)}; ` +
        `${ours.first.clean.toLocaleString('en-US')} clean events, ${nat.size.toLocaleString('en-US')} keys, ` +
        `${nat.jsFallbacks} via the JS fallback; outputs ${same ? 'identical' : 'DIFFER'} (checksum of key ids, times, amounts)`,
    );
  }
  ctx.progress('done', step, step);
  notes.push(
    `${events.toLocaleString('en-US')} generator events (seed 42, 10,000 keys), ${(bytes / 1e6).toFixed(1)} MB of JSON, ` +
      `batches of ${BATCH.toLocaleString('en-US')}; each run decodes every batch with a fresh decoder (keys interned from scratch), ` +
      `1 warm-up then ${runs} timed run${runs > 1 ? 's' : ''}; figures are medians. Native string values include packing them into one UTF-8 buffer.`,
  );
  return { suite: 'decode', rows, notes };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function spread(ms: number[]): string {
  const m = median(ms).toFixed(1);
  return ms.length < 2 ? m : `${m} (${Math.min(...ms).toFixed(1)}-${Math.max(...ms).toFixed(1)})`;
}
