// `sluice check <job.yaml>` (SPEC §3): validate the job, load its model, print the plan, exit.
// Every failure is a SluiceError, so main() prints one line and exits 2.
import { checkModelInputs, describePlan } from '../config/plan';
import { loadJob } from '../config/job';
import { loadModel } from '../scoring/load-model';

/** `out` is for tests; the CLI prints to stdout. */
export async function check(file: string, overrides: string[] = [], out: Pick<NodeJS.WritableStream, 'write'> = process.stdout): Promise<void> {
  const job = await loadJob(file, overrides);
  const model = await loadModel(job.model.path, { format: job.model.type, maxBytes: job.model.maxBytes });
  checkModelInputs(job, model);
  out.write(describePlan(job, model));
}
