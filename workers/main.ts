// `rotator worker` entry point: read settings once, fail fast, run until SIGINT/SIGTERM.
import { loadConfig } from '../src/config/load';
import { logger } from '../src/kernel/log';
import { dataConverterFromEnv } from '../src/client/temporal';
import { createRotatorWorker } from './worker';

export async function runWorker(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  const rotator = await createRotatorWorker({ config, dataConverter: dataConverterFromEnv() });
  logger.info({ taskQueue: config.temporal.task_queue, address: config.temporal.address }, 'worker started');
  try {
    await rotator.worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
  } finally {
    await rotator.close();
    logger.info('worker stopped');
  }
}

if (require.main === module) {
  const file = process.argv[2] ?? process.env.ROTATOR_CONFIG ?? 'rotator.yaml';
  runWorker(file).catch((err: unknown) => {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'worker failed');
    process.exit(1);
  });
}
