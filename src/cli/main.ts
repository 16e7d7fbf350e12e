// The `sluice` command (SPEC §3). Exit codes: 0 ok, 1 runtime failure, 2 bad invocation or input.
import { Command, CommanderError } from 'commander';
import { exitCodeFor, isSluiceError } from '../errors';
import { setVerbose } from '../log';
// Each command's module is loaded when it runs: `sluice serve` does not carry the job engine
// (kafkajs, rocksdb, the window pool) in its heap, nor pay for loading it.

const collect = (value: string, previous: string[]) => [...previous, value];

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  setVerbose(verbose);
  let action: Promise<number> | null = null;
  const program = new Command('sluice')
    .description('Real-time ML scoring on streams')
    .option('--verbose', 'debug logs, and stack traces with errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('run')
    .description('run a job')
    .argument('<job.yaml>', 'job file')
    .option('--set <path=value>', 'override a job-file value (repeatable)', collect, [])
    .option('--quiet', 'no summary')
    .option('--summary <file>', 'also write the run summary as JSON to this file')
    .option('--reset-state', "delete the job's checkpoints (state.dir) and start over")
    .action((file: string, o: { set: string[]; quiet?: boolean; summary?: string; resetState?: boolean }) => {
      action = import('./run').then((m) => m.run(file, o.set, { quiet: o.quiet === true, summaryFile: o.summary, resetState: o.resetState === true }));
    });

  program
    .command('check')
    .description('validate a job, load its model, print the plan')
    .argument('<job.yaml>', 'job file')
    .option('--set <path=value>', 'override a job-file value (repeatable)', collect, [])
    .action((file: string, o: { set: string[] }) => {
      action = import('./check').then((m) => m.check(file, o.set)).then(() => 0);
    });

  program
    .command('schema')
    .description("print the job file's JSON Schema (schema/job.schema.json), for editors")
    .action(() => {
      action = import('./check').then((m) => (process.stdout.write(m.schemaText()), 0));
    });

  program
    .command('score')
    .description('batch-score CSV rows with a model')
    .requiredOption('--model <file>', 'XGBoost model (.json or .ubj)')
    .option('--input <csv>', 'CSV with a header row of feature names; - for stdin', '-')
    .option('--output <file>', 'where scores go; - for stdout', '-')
    .action((o: { model: string; input: string; output: string }) => {
      action = import('./score').then((m) => m.score(o)).then(() => 0);
    });

  program
    .command('serve')
    .description('serve models over HTTP (Open Inference Protocol v2)')
    .argument('[serve.yaml]', 'serve file: models, scoring, http, batching, workers')
    .option('--model <file>', 'serve a model file under its base name (repeatable)', collect, [])
    .option('--host <host>', 'listen on this host (default 127.0.0.1)')
    .option('--port <port>', 'listen on this port (default 8000)')
    .action((file: string | undefined, o: { model: string[]; host?: string; port?: string }) => {
      action = import('./serve').then((m) => m.serve(file, { models: o.model, host: o.host, port: o.port }));
    });

  program
    .command('bench')
    .description('run the benchmark suites (all when none is named)')
    .argument('[suite...]', 'suites to run')
    .option('--quick', 'a short smoke run')
    .action(async (suites: string[], o: { quick?: boolean }) => {
      // Loaded lazily: the bench pulls in peers and data generators the other commands never need.
      const { runBench } = await import('../../bench/run');
      action = runBench(suites, { quick: o.quick });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return action ? await action : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const message = isSluiceError(e) ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
    process.stderr.write(`sluice: ${message}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return exitCodeFor(e);
  }
}
