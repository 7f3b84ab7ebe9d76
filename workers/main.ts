// `rotator worker` entry point: read settings once, fail fast, run until SIGINT/SIGTERM.
import { parseAuditDestination } from '../src/audit/destination';
import { openAuditSink, type AuditSink } from '../src/audit/sink';
import { loadConfig, sensitiveValues } from '../src/config/load';
import { shortGraceWarnings } from '../src/config/readers';
import { RotationEvents } from '../src/kernel/events';
import { logger } from '../src/kernel/log';
import { dataConverterFromEnv } from '../src/client/temporal';
import { WorkerMetrics } from '../src/observability/metrics';
import { parseListenAddress, serveMetrics, type MetricsServer } from '../src/observability/metrics-server';
import { tracingFromEnv } from '../src/observability/tracing';
import { exitIfStuckAfterSignal } from './shutdown';
import { createRotatorWorker } from './worker';

export interface RunWorkerOptions {
  /** `stdout` or `file:PATH` (`--audit`, else ROTATOR_AUDIT): where the audit trail goes; none when unset. */
  audit?: string;
  /** `host:port` (`--metrics-address`, else ROTATOR_METRICS_ADDRESS) to serve Prometheus `/metrics` on; none when unset. */
  metricsAddress?: string;
}

export async function runWorker(configFile: string, options: RunWorkerOptions = {}): Promise<void> {
  const audit = options.audit ?? process.env.ROTATOR_AUDIT;
  const auditField = options.audit ? '--audit' : 'ROTATOR_AUDIT';
  const auditDestination = audit ? parseAuditDestination(audit, auditField) : null;
  const config = loadConfig(configFile);
  // validate and plan refuse this; a worker that ran the file before an upgrade keeps running, and says so.
  for (const w of shortGraceWarnings(config.secrets)) logger.warn({ field: w.field }, w.message);
  const metricsAddress = options.metricsAddress ?? process.env.ROTATOR_METRICS_ADDRESS;
  const metricsField = options.metricsAddress ? '--metrics-address' : 'ROTATOR_METRICS_ADDRESS';
  if (metricsAddress) parseListenAddress(metricsAddress, metricsField);
  const metrics = metricsAddress ? await WorkerMetrics.create() : undefined;
  // Bound before anything else is built: an address in use is then the error the user reads, with nothing to undo.
  const metricsServer: MetricsServer | null =
    metrics && metricsAddress ? await serveMetrics(metricsAddress, metrics, logger, metricsField) : null;
  const events = new RotationEvents();
  let tracing: ReturnType<typeof tracingFromEnv> | undefined;
  let auditSink: AuditSink | null = null;
  try {
    tracing = tracingFromEnv() ?? undefined;
    if (auditDestination) {
      auditSink = openAuditSink(auditDestination, { secrets: sensitiveValues(config), field: auditField });
      events.on(auditSink.listener);
    }
  } catch (err) {
    // A bad tracing or audit setting ends start-up: the metrics port bound above is released, not held by a dead start.
    await tracing?.shutdown();
    await metricsServer?.close();
    throw err;
  }
  const rotator = await createRotatorWorker({ config, dataConverter: dataConverterFromEnv(), events, metrics, tracing }).catch(
    async (err: unknown) => {
      auditSink?.close();
      await tracing?.shutdown();
      await metricsServer?.close();
      throw err;
    },
  );
  logger.info({ taskQueue: config.temporal.task_queue, address: config.temporal.address }, 'worker started');
  exitIfStuckAfterSignal((ms) => logger.error(`worker still running ${ms / 1000} s after the signal to stop: exiting`));
  try {
    await rotator.worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
  } finally {
    await rotator.close();
    await metricsServer?.close();
    await tracing?.shutdown();
    auditSink?.close();
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
