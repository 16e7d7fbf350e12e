// The Node flags sluice runs with: bin/sluice.js's first line, the npm scripts, and the bench's
// runs of it (test/cli/node-flags.test.ts checks that they agree). V8 takes them only on the
// command line: not from NODE_OPTIONS, and setting them once running crashes it.
//
// --single-threaded-gc: the collector works on the thread that allocates, with no helper threads.
// On a machine whose cores are all busy (the job's threads, the broker, the load), the helpers'
// concurrent marking took a quarter of a core and delayed the threads that carry results; with
// it, a live per-event job's outside-in p99 went from 28-31 to ~21 ms, at the same throughput
// (docs/operations.md).
export const NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
