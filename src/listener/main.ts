// `rotator listen` entry point: read settings once, fail fast, listen until SIGINT/SIGTERM.
import { loadConfig } from '../config/load';
import { connectClient, dataConverterFromEnv } from '../client/temporal';
import { logger } from '../kernel/log';
import { startListener } from './listener';

export async function runListener(configFile: string, onListening: (line: string) => void = () => undefined): Promise<void> {
  const config = loadConfig(configFile);
  const client = await connectClient(config.temporal, dataConverterFromEnv());
  const listener = await startListener(config, { client, log: logger });
  const where = listener.address ? `http://${listener.address.host}:${listener.address.port}` : '(no HTTP sources)';
  logger.info({ address: where, taskQueue: config.temporal.task_queue }, 'listener started');
  onListening(`listening on ${where}`);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await listener.stop();
  await client.connection.close();
  logger.info('listener stopped');
}

if (require.main === module) {
  const file = process.argv[2] ?? process.env.ROTATOR_CONFIG ?? 'rotator.yaml';
  runListener(file, (line) => process.stdout.write(`${line}\n`)).catch((err: unknown) => {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'listener failed');
    process.exit(1);
  });
}
