// Wiring only: providers and targets → activities, workflows bundle, one task queue, one data converter.
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type InjectedSinks,
  type LogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { createKeeperActivities } from '../activities/lease-keeper';
import { createKeyActivities } from '../activities/key-rotation';
import { EngineRegistry } from '../activities/leases';
import { createLifecycleActivities } from '../activities/lifecycle';
import { createMassActivities } from '../activities/mass-rotation';
import { temporalWriteBudget } from '../activities/write-budget';
import { createReconnectActivities } from '../activities/reconnect';
import { createCoalesceActivities } from '../activities/consumers/rollout/public';
import { createTriggerActivities } from '../activities/trigger';
import { createActivities } from '../activities/rotation';
import type { KeepAlive } from '../activities/plugin';
import { storePlugin } from '../activities/stores';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../activities/registry';
import type { Config } from '../src/config/schema';
import { RotatorError } from '../src/kernel/errors';
import { connectionSecurity, temporalConfigError, whyUnreachable } from '../src/client/temporal';
import { sensitiveValues } from '../src/config/load';
import { logger } from '../src/kernel/log';
import { RotationEvents, type RotatorSinks } from '../src/kernel/events';
import type { WorkerMetrics } from '../src/observability/metrics';
import { RotationProgress } from '../src/observability/progress';
import { NO_TRACING_SINKS, WORKFLOW_TRACING_MODULES, type Tracing } from '../src/observability/tracing';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import { SHUTDOWN_FORCE_TIME_MS } from './shutdown';

export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface RotatorWorkerOptions {
  /**
   * Rotations need only the providers (their plans come with them); scheduled work (scheduled runs, the sweep, lease
   * keepers) reads its secrets from here, so a worker given no `secrets` runs rotations only.
   */
  config: Pick<Config, 'providers' | 'temporal'> & Partial<Pick<Config, 'secrets' | 'sweep'>>;
  dataConverter: DataConverter;
  /** A prebuilt bundle lets tests and benches start many workers without bundling each time. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** SDK log level; tests pass ERROR because failed rotations are expected there. */
  logLevel?: LogLevel;
  tuning?: Pick<
    WorkerOptions,
    | 'maxConcurrentActivityTaskExecutions'
    | 'maxConcurrentWorkflowTaskExecutions'
    | 'maxConcurrentLocalActivityExecutions'
    | 'maxCachedWorkflows'
    | 'maxConcurrentWorkflowTaskPolls'
    | 'maxConcurrentActivityTaskPolls'
    | 'maxEagerActivityReservationsPerWorkflowTask'
  >;
  /**
   * The client scheduled work uses for visibility, schedules and keepers; by default one on the worker's connection.
   * (Tests on the time-skipping server, which has no visibility, pass one for the dev server.)
   */
  client?: Client;
  /** Activity interceptors; the fault-injection harness kills the process from one. */
  interceptors?: WorkerOptions['interceptors'];
  /** Where the workflows' rotation events go (audit trail, metrics); without it they are dropped. */
  events?: RotationEvents;
  /**
   * Prometheus metrics (`--metrics-address`): fed by the rotation events and around the lease, sweep and rollout
   * activities; the SDK's own come from the Runtime's exporter, installed with the first worker of the process.
   */
  metrics?: WorkerMetrics;
  /**
   * OpenTelemetry spans per workflow and activity. The workflow side is bundled from `workflowsPath`; a prebuilt
   * `workflowBundle` must have been built with WORKFLOW_TRACING_MODULES as its workflowInterceptorModules.
   */
  tracing?: Tracing;
}

/**
 * A task meant for a worker that has died waits this long on that worker's own queue before any other worker may
 * take it (the SDK's default is 10 s): it bounds how long a rotation stalls after its worker is killed between tasks.
 */
const STICKY_QUEUE_TIMEOUT = '3s';

/**
 * Workflows a worker keeps in memory between their tasks unless temporal.max_cached_workflows says otherwise. A lease
 * keeper's run is at most 200 events (short-keeper-history), so one that was evicted replays that when it wakes: the
 * cache need not hold every keeper. The SDK's own default, sized from the heap (~2,300 at a 4 GiB heap), holds over
 * 1 GiB of them.
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

let runtimeInstalled = false;
/** Where the Runtime's Prometheus exporter listens, when this process installed it with one. */
let coreMetricsAddress: string | null = null;

/**
 * Route the SDK's own logs (and activity/workflow `log`) through our logger, and its metrics to a Prometheus
 * exporter on `metricsAddress` (loopback) when given; the Runtime is per process. Returns the exporter's address.
 */
function installRuntime(level: LogLevel, metricsAddress: string | null): string | null {
  if (runtimeInstalled) return coreMetricsAddress;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger(level, ({ level: lvl, message, meta }) => {
        const method =
          lvl === 'TRACE' ? 'trace' : lvl === 'DEBUG' ? 'debug' : lvl === 'INFO' ? 'info' : lvl === 'WARN' ? 'warn' : 'error';
        logger[method]({ ...meta, error: meta?.error instanceof Error ? meta.error.message : meta?.error }, message);
      }),
      ...(metricsAddress
        ? {
            telemetryOptions: {
              metrics: {
                prometheus: {
                  bindAddress: metricsAddress,
                  countersTotalSuffix: true,
                  unitSuffix: true,
                  useSecondsForDurations: true,
                },
              },
            },
          }
        : {}),
    });
    coreMetricsAddress = metricsAddress;
  } catch (err) {
    // Someone in this process made the Runtime first (a test environment): its logger (and metrics) stay.
    if ((err as Error).name !== 'IllegalStateError') throw err;
  }
  return coreMetricsAddress;
}

/**
 * What each configured provider's store keeps running in the worker (a vault provider's token renewal, so the
 * worker's own token does not expire under it): each store plugin's keepAlive, stopped with the worker.
 */
export async function startKeepAlives(providers: Config['providers']): Promise<KeepAlive[]> {
  const running: KeepAlive[] = [];
  for (const p of Object.values(providers)) {
    const kept = await storePlugin(p).keepAlive?.(p);
    if (kept) running.push(kept);
  }
  return running;
}

export interface RotatorWorker {
  worker: Worker;
  /** Shuts the worker down (if running) and releases store and database connections. */
  close(): Promise<void>;
}

export async function createRotatorWorker(options: RotatorWorkerOptions): Promise<RotatorWorker> {
  const { config } = options;
  const core = installRuntime(
    options.logLevel ?? (process.env.ROTATOR_LOG_LEVEL?.toUpperCase() as LogLevel | undefined) ?? 'INFO',
    options.metrics?.reservedCoreAddress ?? null,
  );
  if (core) options.metrics?.attachCore(core);
  const providers = new ProviderRegistry(config.providers);
  const targets = new TargetRegistry();
  const consumers = new ConsumerRegistry({ providers, ...(config.secrets ? { secrets: config.secrets } : {}) });
  const engines = new EngineRegistry(config.providers);
  const keys = createKeyActivities({
    providers: config.providers,
    stores: providers,
    secrets: sensitiveValues(config as Config),
  });
  const connection = await NativeConnection.connect({
    address: config.temporal.address,
    ...connectionSecurity(config.temporal),
  }).catch(async (err: unknown) => {
    if (err instanceof RotatorError) throw err;
    throw new RotatorError(
      'TRANSIENT',
      `cannot reach Temporal at ${config.temporal.address}: ${await whyUnreachable(err, config.temporal)}`,
    );
  });
  function allActivities() {
    const secrets = sensitiveValues(config as Config);
    const full: Config = { version: 1, secrets: {}, ...config } as Config;
    const client =
      options.client ??
      new Client({
        connection,
        namespace: config.temporal.namespace,
        dataConverter: options.dataConverter,
        ...(options.tracing ? { interceptors: { workflow: options.tracing.clientInterceptors } } : {}),
      });
    return {
      ...createActivities({
        providers,
        targets,
        consumers,
        secrets,
        writeBudget: temporalWriteBudget(client, config.temporal.task_queue),
      }),
      ...createMassActivities({ config: full, secrets }),
      ...createReconnectActivities({ providers, consumers, secrets }),
      ...createCoalesceActivities(secrets),
      ...createLifecycleActivities({ config: full, client, providers, targets, secrets }),
      ...createTriggerActivities({ config: full, client, providers, targets, secrets }),
      ...createKeeperActivities({
        config: full,
        providers,
        consumers,
        engine: (name) => engines.engine(name),
        client,
        taskQueue: config.temporal.task_queue,
        secrets,
      }),
      ...keys.activities,
    };
  }
  const events = options.events ?? new RotationEvents();
  const progress = new RotationProgress();
  const listening = [events.on(progress.onEvent), ...(options.metrics ? [events.on(options.metrics.onEvent)] : [])];
  const sinks: InjectedSinks<RotatorSinks & OpenTelemetrySinks> = {
    // Not on replay: an event is reported by the worker that ran its step (again if that step runs again).
    rotator: { event: { fn: (_info, event) => events.emit(event), callDuringReplay: false } },
    ...(options.tracing ? options.tracing.sinks(progress) : NO_TRACING_SINKS),
  };
  // Tracing and metrics outermost, so a span or a measurement includes what the caller's interceptors do.
  const interceptors: WorkerOptions['interceptors'] = {
    ...options.interceptors,
    activity: [
      ...(options.tracing?.activityInterceptors(progress) ?? []),
      ...(options.metrics ? [options.metrics.activityInterceptor] : []),
      ...(options.interceptors?.activity ?? []),
    ],
    ...(options.tracing && !options.workflowBundle
      ? { workflowModules: [...(options.interceptors?.workflowModules ?? []), ...WORKFLOW_TRACING_MODULES] }
      : {}),
  };
  const keepAlives = await startKeepAlives(config.providers);
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.task_queue,
      activities: allActivities(),
      ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
      dataConverter: options.dataConverter,
      stickyQueueScheduleToStartTimeout: STICKY_QUEUE_TIMEOUT,
      sinks,
      interceptors,
      maxCachedWorkflows: config.temporal.max_cached_workflows ?? DEFAULT_MAX_CACHED_WORKFLOWS,
      shutdownForceTime: SHUTDOWN_FORCE_TIME_MS,
      ...options.tuning,
    });
  } catch (err) {
    for (const stop of listening) stop();
    for (const k of keepAlives) k.stop();
    await connection.close();
    throw temporalConfigError(err, config) ?? err;
  }
  return {
    worker,
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await providers.close();
      await targets.close();
      await consumers.close();
      await engines.close();
      await keys.close();
      for (const k of keepAlives) k.stop();
      for (const stop of listening) stop();
      await connection.close();
    },
  };
}
