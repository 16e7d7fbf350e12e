// Fault-injection points for the recovery tests: SLUICE_FAULTS="<point>:<n>[,...]" kills the
// process with SIGKILL the n-th time it passes <point>. Nothing sets it outside tests.
//   after-sink-flush    outputs acknowledged, checkpoint not yet written
//   after-state-write   checkpoint written, offsets not yet committed
//   after-commit        offsets committed
export type FaultPoint = 'after-sink-flush' | 'after-state-write' | 'after-commit';

const armed = new Map<string, number>();
for (const item of (process.env.SLUICE_FAULTS ?? '').split(',')) {
  const [point, n] = item.trim().split(':');
  if (point) armed.set(point, Number(n) || 1);
}

export function faultPoint(point: FaultPoint): void {
  if (armed.size === 0) return;
  const left = armed.get(point);
  if (left === undefined) return;
  if (left > 1) armed.set(point, left - 1);
  else process.kill(process.pid, 'SIGKILL');
}
