// `sluice check <job.yaml>` (SPEC §3): validate the job, load its models, print the plan, exit.
// Every failure is a SluiceError, so main() prints one line and exits 2.
import { describePlan } from '../config/plan';
import { loadJob } from '../config/job';
import { jobJsonSchema } from '../config/job-schema';
import { loadModels } from '../models/registry';

/** `out` is for tests; the CLI prints to stdout. */
export async function check(file: string, overrides: string[] = [], out: Pick<NodeJS.WritableStream, 'write'> = process.stdout): Promise<void> {
  const job = await loadJob(file, overrides);
  out.write(describePlan(job, await loadModels(job)));
}

/** `sluice schema`: the job file's JSON Schema, as schema/job.schema.json holds it. */
export function schemaText(): string {
  const { version } = require('../../../package.json') as { version: string };
  return `${JSON.stringify(jobJsonSchema(version), null, 2)}\n`;
}
