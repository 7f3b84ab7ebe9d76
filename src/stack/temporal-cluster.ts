// A Temporal server shaped like production, on loopback: frontend, history, matching and worker as four processes of
// the real server (v1.32.2, built by scripts/build-temporal-server.sh), PostgreSQL persistence and SQL visibility in
// databases of their own on a PostgreSQL the caller gives, their schemas set up by the server's own temporal-sql-tool.
// `rotator stack --cluster` runs it for users; test/temporal-cluster.test.ts restarts its services under rotations.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { grpc, temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { REPO_ROOT } from './local-stack';
import {
  type Ctx,
  type Spawned,
  HOST,
  READY_TIMEOUT_MS,
  freePorts,
  logPath,
  masked,
  secret,
  serviceError,
  spawnService,
} from './service';
import { stopChild } from './stop-child';
import { clientInterceptors, connectTemporal } from '../client/temporal';

/** Built by scripts/build-temporal-server.sh (bootstrap service `temporal-cluster`); the same version as its default. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';

/** The folder holding temporal-server, temporal-sql-tool and the PostgreSQL schemas. */
export function temporalServerDir(): string {
  const dir = path.join(REPO_ROOT, '.tools', 'temporal-server', TEMPORAL_SERVER_VERSION);
  if (!fs.existsSync(path.join(dir, 'temporal-server')))
    throw new Error(
      `${dir}/temporal-server is missing: run npm run bootstrap -- --services temporal-cluster (builds it with Go, minutes once)`,
    );
  return dir;
}

/** The server's services, each its own process; started in this order, stopped in the reverse. */
export const CLUSTER_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

/** The gRPC health-check names history and matching answer SERVING to once they own their shards / partitions. */
const HEALTH_NAME: Partial<Record<ClusterService, string>> = {
  history: 'temporal.api.workflowservice.v1.HistoryService',
  matching: 'temporal.api.workflowservice.v1.MatchingService',
  frontend: 'temporal.api.workflowservice.v1.WorkflowService',
};

/** A graceful stop (shards and task queues handed back) is given this long before SIGKILL. */
const STOP_GRACE_MS = 15_000;

export interface PostgresAdmin {
  host: string;
  port: number;
  /** A login that may create roles. */
  user: string;
  password: string;
  database: string;
}

export interface TemporalClusterOptions {
  /** The PostgreSQL the cluster keeps its data in, and a login there that may create roles. */
  postgres: PostgresAdmin;
  /** Folder for the config, the logs and the processes' working dir (made if missing). */
  dir: string;
  log?: (line: string) => void;
}

export interface TemporalCluster {
  /** The frontend, what clients and workers dial. */
  address: string;
  namespace: string;
  dir: string;
  /** The databases it owns and the login that owns them. */
  databases: { user: string; persistence: string; visibility: string };
  /** Stops one service's process (gracefully) and waits until it is gone. */
  stop(service: ClusterService): Promise<void>;
  /** Starts one service's process again on its ports and waits until it answers. */
  start(service: ClusterService): Promise<void>;
  restart(service: ClusterService): Promise<void>;
  /** Every service stopped, history last; the databases are kept. */
  stopAll(): Promise<void>;
  /** Every service started again, and the whole cluster ready. */
  startAll(): Promise<void>;
  /** Stops every process and drops the databases and the login. */
  close(): Promise<void>;
}

interface Ports {
  grpc: number;
  membership: number;
  http?: number;
}

/** The server's config file; `{{ env "…" }}` (sprig) is filled in by the server at start (the file starts with enable-template). */
export function clusterConfigYaml(o: {
  ports: Record<ClusterService, Ports>;
  postgres: { host: string; port: number };
  user: string;
  persistence: string;
  visibility: string;
  dynamicConfigFile: string;
}): string {
  const frontend = `${HOST}:${o.ports.frontend.grpc}`;
  const store = (database: string, maxConns: number) => [
    '      sql:',
    '        pluginName: postgres12',
    `        databaseName: ${database}`,
    `        connectAddr: "${o.postgres.host}:${o.postgres.port}"`,
    '        connectProtocol: tcp',
    `        user: ${o.user}`,
    '        password: "{{ env "TEMPORAL_DB_PASSWORD" }}"',
    `        maxConns: ${maxConns}`,
    `        maxIdleConns: ${maxConns}`,
    '        maxConnLifetime: 1h',
  ];
  const service = (name: ClusterService) => [
    `  ${name}:`,
    '    rpc:',
    `      grpcPort: ${o.ports[name].grpc}`,
    `      membershipPort: ${o.ports[name].membership}`,
    '      bindOnLocalHost: true',
    ...(o.ports[name].http ? [`      httpPort: ${o.ports[name].http}`] : []),
  ];
  return [
    '# enable-template',
    '# Written by rotator (src/stack/temporal-cluster.ts); the database password comes from the environment.',
    'log:',
    '  stdout: true',
    '  level: warn',
    'persistence:',
    '  defaultStore: default',
    '  visibilityStore: visibility',
    '  numHistoryShards: 4',
    '  datastores:',
    '    default:',
    // Every process keeps its own pool: kept small, the PostgreSQL is shared (the test stack's allows 200).
    ...store(o.persistence, 8),
    '    visibility:',
    ...store(o.visibility, 4),
    'global:',
    '  membership:',
    '    maxJoinDuration: 30s',
    `    broadcastAddress: "${HOST}"`,
    'services:',
    ...CLUSTER_SERVICES.flatMap(service),
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: active',
    '  currentClusterName: active',
    '  clusterInformation:',
    '    active:',
    '      enabled: true',
    '      initialFailoverVersion: 1',
    '      rpcName: frontend',
    `      rpcAddress: "${frontend}"`,
    `      httpAddress: "${HOST}:${o.ports.frontend.http}"`,
    'dcRedirectionPolicy:',
    '  policy: noop',
    'publicClient:',
    `  hostPort: "${frontend}"`,
    'dynamicConfigClient:',
    `  filepath: "${o.dynamicConfigFile}"`,
    '  pollInterval: 10s',
    '',
  ].join('\n');
}

/**
 * Search attributes are read through a cache that lags an AddSearchAttributes by up to a minute; rotations carry
 * rotator's from their first start, so the cluster reads them fresh (what the dev server's --search-attribute does).
 */
const DYNAMIC_CONFIG = ['system.forceSearchAttributesCacheRefreshOnRead:', '  - value: true', ''].join('\n');

export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const serverDir = temporalServerDir();
  const log = opts.log ?? (() => {});
  await fsp.mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const ctx: Ctx = { dir: opts.dir, log, secrets: [], track: () => {} };
  const suffix = secret().slice(0, 8);
  const databases = { user: `temporal_${suffix}`, persistence: `temporal_${suffix}`, visibility: `temporal_vis_${suffix}` };
  const password = secret();
  ctx.secrets.push(password, opts.postgres.password);

  const t0 = Date.now();
  const [fg, fm, fh, hg, hm, mg, mm, wg, wm] = await freePorts(9); // below 32768: the cluster keeps membership ports as a SMALLINT
  const ports: Record<ClusterService, Ports> = {
    frontend: { grpc: fg!, membership: fm!, http: fh! },
    history: { grpc: hg!, membership: hm! },
    matching: { grpc: mg!, membership: mm! },
    worker: { grpc: wg!, membership: wm! },
  };
  const address = `${HOST}:${ports.frontend.grpc}`;
  const dynamicConfigFile = path.join(opts.dir, 'dynamicconfig.yaml');
  const configFile = path.join(opts.dir, 'temporal.yaml');
  await fsp.writeFile(dynamicConfigFile, DYNAMIC_CONFIG, { mode: 0o600 });
  await fsp.writeFile(configFile, clusterConfigYaml({ ports, postgres: opts.postgres, ...databases, dynamicConfigFile }), {
    mode: 0o600,
  });

  await createLogin(opts.postgres, databases.user, password);
  const procs = new Map<ClusterService, Spawned>();
  let closed = false;
  // Safety net: a parent that exits without close() takes the server's processes with it.
  const killAll = () => procs.forEach((p) => p.killSync());
  process.on('exit', killAll);
  try {
    await setUpSchemas(ctx, serverDir, opts.postgres, databases, password);
    log(`temporal-cluster: schemas ready (${Date.now() - t0} ms)`);

    const env = { TEMPORAL_DB_PASSWORD: password };
    const startProcess = (service: ClusterService) => {
      const p = spawnService(
        ctx,
        `temporal-${service}`,
        path.join(serverDir, 'temporal-server'),
        ['--config-file', configFile, '--allow-no-auth', 'start', '--service', service],
        env,
        service,
      );
      procs.set(service, p);
      return p;
    };
    const stop = async (service: ClusterService) => {
      const p = procs.get(service);
      procs.delete(service);
      if (p) await stopChild(p.child, STOP_GRACE_MS)();
    };
    const start = async (service: ClusterService) => {
      if (procs.has(service)) throw new Error(`temporal-cluster: ${service} is already running`);
      const p = startProcess(service);
      await serviceReady(ctx, service, p, ports[service].grpc);
    };
    const startAll = async () => {
      for (const s of CLUSTER_SERVICES) if (!procs.has(s)) startProcess(s);
      await Promise.all(CLUSTER_SERVICES.map((s) => serviceReady(ctx, s, procs.get(s)!, ports[s].grpc)));
    };
    const stopAll = async () => {
      for (const s of [...CLUSTER_SERVICES].reverse()) await stop(s);
    };

    // The first start writes the cluster's metadata record, and services that race to write it lose with "version
    // mismatch" and exit: history writes it alone, the others start once it is up.
    await start('history');
    await startAll();
    log(`temporal-cluster: services up (${Date.now() - t0} ms)`);
    await prepareNamespace(ctx, address, 'default');
    log(`temporal-cluster: ready at ${address} in ${Date.now() - t0} ms (dir ${opts.dir})`);

    const cluster: TemporalCluster = {
      address,
      namespace: 'default',
      dir: opts.dir,
      databases,
      stop,
      start,
      restart: async (service) => {
        await stop(service);
        await start(service);
      },
      stopAll,
      startAll,
      close: async () => {
        if (closed) return;
        closed = true;
        await stopAll();
        process.off('exit', killAll);
        await dropAll(opts.postgres, databases).catch(() => {});
      },
    };
    return cluster;
  } catch (e) {
    closed = true;
    await Promise.allSettled([...procs.values()].map((p) => p.stop()));
    process.off('exit', killAll);
    await dropAll(opts.postgres, databases).catch(() => {});
    throw e;
  }
}

async function withAdmin<T>(pg: PostgresAdmin, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const client = new PgClient({ ...pg, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The cluster's own login: it creates its databases through temporal-sql-tool, and owns them. */
async function createLogin(pg: PostgresAdmin, user: string, password: string): Promise<void> {
  await withAdmin(pg, (c) => c.query(`CREATE ROLE ${user} LOGIN CREATEDB PASSWORD ${c.escapeLiteral(password)}`));
}

async function dropAll(pg: PostgresAdmin, d: { user: string; persistence: string; visibility: string }): Promise<void> {
  await withAdmin(pg, async (c) => {
    for (const db of [d.persistence, d.visibility]) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${d.user}`);
  });
}

/**
 * What the server's own docs do: create-database, setup-schema at 0.0, update-schema to the newest version in the
 * module's versioned folder, for persistence and for visibility (the postgres12 schema, whose custom search attribute
 * columns rotator's attributes are mapped onto). The password goes by environment, never argv.
 */
async function setUpSchemas(
  ctx: Ctx,
  serverDir: string,
  pg: { host: string; port: number },
  d: { user: string; persistence: string; visibility: string },
  password: string,
): Promise<void> {
  const tool = path.join(serverDir, 'temporal-sql-tool');
  const schemas = path.join(serverDir, 'schema', 'postgresql', 'v12');
  const base = ['--plugin', 'postgres12', '--endpoint', pg.host, '--port', String(pg.port), '--user', d.user];
  const one = async (database: string, folder: string) => {
    const db = [...base, '--database', database];
    await runTool(ctx, tool, [...db, 'create-database'], password);
    await runTool(ctx, tool, [...db, 'setup-schema', '--version', '0.0'], password);
    await runTool(ctx, tool, [...db, 'update-schema', '--schema-dir', path.join(schemas, folder, 'versioned')], password);
  };
  await Promise.all([one(d.persistence, 'temporal'), one(d.visibility, 'visibility')]);
}

async function runTool(ctx: Ctx, exe: string, args: string[], password: string): Promise<void> {
  const name = 'temporal-sql-tool';
  const fd = fs.openSync(logPath(ctx, name), 'a', 0o600);
  try {
    const child = spawn(exe, args, {
      cwd: ctx.dir,
      env: { ...process.env, SQL_PASSWORD: password },
      stdio: ['ignore', fd, fd],
    });
    const code = await new Promise<number | string>((resolve) => {
      child.once('error', (e) => resolve(e.message));
      child.once('exit', (c, sig) => resolve(c ?? `signal ${sig}`));
    });
    if (code !== 0) throw serviceError(ctx, name, `${masked(ctx, args.slice(-3).join(' '))} failed (${code})`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Polls until the service answers its gRPC health check: history once it owns its shards (and 5 s more), matching and
 * the frontend once they serve. The worker service has no health check of its own; it counts as started once spawned
 * (what it runs, the namespaces' system workflows such as Schedules, shows in their runs). A process that exits fails
 * at once, with its log's tail.
 */
async function serviceReady(ctx: Ctx, service: ClusterService, p: Spawned, grpcPort: number): Promise<void> {
  const name = `temporal-${service}`;
  const deadline = Date.now() + READY_TIMEOUT_MS * 2;
  const healthName = HEALTH_NAME[service];
  let lastErr = 'no answer yet';
  for (let delay = 100; ; delay = Math.min(delay * 2, 500)) {
    if (p.child.exitCode !== null || p.child.signalCode !== null)
      throw serviceError(ctx, name, `exited early (${p.child.exitCode ?? p.child.signalCode})`);
    try {
      if (!healthName) return;
      const conn = Connection.lazy({ address: `${HOST}:${grpcPort}`, connectTimeout: 1000, interceptors: clientInterceptors() });
      try {
        const res = await conn.withDeadline(Date.now() + 2000, () => conn.healthService.check({ service: healthName }));
        if (res.status !== grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING)
          throw new Error(`health check answered ${String(res.status)}`);
        return;
      } finally {
        await conn.close();
      }
    } catch (e) {
      lastErr = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) throw serviceError(ctx, name, `not ready after ${(READY_TIMEOUT_MS * 2) / 1000} s: ${lastErr}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/**
 * Registers the namespace (a cluster has none but the system's) and adds rotator's search attributes through the
 * operator API, as an operator would once; then waits until a visibility query and the namespace's system workers
 * (the worker service's, which run Schedules) answer.
 */
async function prepareNamespace(ctx: Ctx, address: string, namespace: string): Promise<void> {
  const conn = await connectTemporal({ address });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const retry = async (what: string, fn: () => Promise<unknown>) => {
      for (;;) {
        try {
          await conn.withDeadline(Date.now() + 5000, fn);
          return;
        } catch (e) {
          if (Date.now() > deadline)
            throw serviceError(ctx, 'temporal-frontend', `${what}: ${e instanceof Error ? e.message : String(e)}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    await retry('registering the namespace', async () => {
      try {
        await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
      } catch (e) {
        if (!/already exists|AlreadyExists/i.test(String((e as Error).message))) throw e;
      }
    });
    await retry('describing the namespace', () => conn.workflowService.describeNamespace({ namespace }));
    await retry('adding rotator’s search attributes', () =>
      conn.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(
          Object.values(SEARCH_ATTRIBUTES).map((k) => [
            k.name,
            temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
          ]),
        ),
      }),
    );
    await retry('a visibility query by rotator’s search attribute', () =>
      conn.workflowService.listWorkflowExecutions({
        namespace,
        pageSize: 1,
        query: `${SEARCH_ATTRIBUTES.secret.name} = 'none'`,
      }),
    );
  } finally {
    await conn.close();
  }
}
