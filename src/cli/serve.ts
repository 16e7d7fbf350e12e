// `sluice serve [serve.yaml] [--model PATH ...] [--host H] [--port P]` (SPEC §14): serve until
// SIGTERM or SIGINT, then answer every request already received and exit 0.
import { logger } from '../log';
import { loadServeConfig, type ServeFlags } from '../serve/config';
import { startServer } from '../serve/server';

const log = logger('serve');

export async function serve(file: string | undefined, flags: ServeFlags): Promise<number> {
  const config = await loadServeConfig(file, flags);
  const server = await startServer(config);
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const onSignal = (signal: string) => {
    log.info(`${signal}: no new connections; answering the requests already received`);
    stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    // A model that fails to load stops the server (exit 2, with the model's name and file).
    await Promise.race([server.loaded.then(() => stopped), stopped]);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await server.close();
  }
  log.info('stopped');
  return 0;
}
