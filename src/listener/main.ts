// `rotator listen` entry point: read settings once, fail fast, listen until SIGINT/SIGTERM.
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { connectClient, dataConverterFromEnv } from '../client/temporal';
import { logger, type Logger } from '../kernel/log';
import { ListenerMetrics } from '../observability/listener-metrics';
import { parseListenAddress, serveMetrics, type MetricsServer } from '../observability/metrics-server';
import { tracingFromEnv, type Tracing } from '../observability/tracing';
import { startListener, type Listener } from './listener';

export interface ListenerOptions {
  /** `host:port` (`--metrics-address`, else ROTATOR_METRICS_ADDRESS) to serve Prometheus `/metrics` on; none when unset. */
  metricsAddress?: string;
}

export interface RunningListener {
  listener: Listener;
  /** Where `/metrics` is served, when asked for. */
  metrics: MetricsServer | null;
  /** `http://host:port` of the webhook server, or `(no HTTP sources)`. */
  where: string;
  stop(): Promise<void>;
}

/** Connects, starts the sources and (when asked) the metrics server; `stop` undoes all of it. */
export async function openListener(
  config: Config,
  options: {
    metricsAddress?: string;
    metricsField?: string;
    tracing?: Tracing | null;
    log?: Logger;
    /** By default from the environment (ROTATOR_CODEC_KEY…), as the worker reads it. */
    dataConverter?: DataConverter;
  } = {},
): Promise<RunningListener> {
  const log = options.log ?? logger;
  const field = options.metricsField ?? '--metrics-address';
  if (options.metricsAddress) parseListenAddress(options.metricsAddress, field);
  const dataConverter = options.dataConverter ?? dataConverterFromEnv();
  const connected = await connectClient(config.temporal, dataConverter);
  // With tracing, trigger workflows start inside a span the workflow continues.
  const client = options.tracing
    ? new Client({
        connection: connected.connection,
        namespace: config.temporal.namespace,
        dataConverter,
        interceptors: { workflow: options.tracing.clientInterceptors },
      })
    : connected;
  const metrics = options.metricsAddress ? new ListenerMetrics(Object.keys(config.triggers?.sources ?? {})) : null;
  let listener: Listener;
  try {
    listener = await startListener(config, { client, log: metrics ? metrics.tap(log) : log });
  } catch (err) {
    await client.connection.close();
    throw err;
  }
  let server: MetricsServer | null = null;
  if (metrics && options.metricsAddress) {
    server = await serveMetrics(options.metricsAddress, metrics, log, field).catch(async (err: unknown) => {
      await listener.stop();
      await client.connection.close();
      throw err;
    });
  }
  return {
    listener,
    metrics: server,
    where: listener.address ? `http://${listener.address.host}:${listener.address.port}` : '(no HTTP sources)',
    async stop() {
      await listener.stop();
      await server?.close();
      await client.connection.close();
    },
  };
}

export async function runListener(
  configFile: string,
  onListening: (line: string) => void = () => undefined,
  options: ListenerOptions = {},
): Promise<void> {
  const metricsAddress = options.metricsAddress ?? process.env.ROTATOR_METRICS_ADDRESS;
  const metricsField = options.metricsAddress ? '--metrics-address' : 'ROTATOR_METRICS_ADDRESS';
  if (metricsAddress) parseListenAddress(metricsAddress, metricsField);
  const config = loadConfig(configFile);
  const tracing = tracingFromEnv();
  const running = await openListener(config, { metricsAddress, metricsField, tracing }).catch(async (err: unknown) => {
    await tracing?.shutdown();
    throw err;
  });
  logger.info({ address: running.where, taskQueue: config.temporal.task_queue }, 'listener started');
  onListening(`listening on ${running.where}`);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await running.stop();
  await tracing?.shutdown();
  logger.info('listener stopped');
}

if (require.main === module) {
  const file = process.argv[2] ?? process.env.ROTATOR_CONFIG ?? 'rotator.yaml';
  runListener(file, (line) => process.stdout.write(`${line}\n`)).catch((err: unknown) => {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'listener failed');
    process.exit(1);
  });
}
