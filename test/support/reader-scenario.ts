// The reader library's scenario on the real stack: one alternating-users and one single-user PostgreSQL secret in
// Vault (OpenBao KV), both notifying a webhook (the library's reconnect handler), and a real worker whose activity
// interceptor can hold a rotation right after applyCredential, in the single-user window, until the test lets it go.
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { PostgresTarget, postgresConnectionFrom, scramSha256Verifier } from '../../activities/targets/postgresql/target';
import { getDataConverter } from '../../src/client/codec/data-converter';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import { createRotatorWorker } from '../../workers/worker';
import { adminQuery, pgAdminSecret, unique } from './harness';
import { testCodecKeys, workflowBundle } from './rotator';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';
import { connectTemporal } from '../../src/client/temporal';

export interface ReaderScenario {
  yaml: string;
  env: Record<string, string>;
  config: Config;
  client: Client;
  taskQueue: string;
  /** The two rotatable secrets' names. */
  alternating: string;
  single: string;
  /** The signing key's URI, as the reader app names it. */
  signingKey: string;
  plan(secret: string): RotationPlan;
  /** Where the webhook consumer's POSTs go from now on (the reconnect handler of the client under test). */
  route(handler: RequestListener): void;
  /**
   * Called after every applyCredential of `secret`, inside the activity: the rotation waits until it resolves. For
   * single-user that is the window in which only the staged password logs in.
   */
  holdAfterApply(hold: ((secret: string) => Promise<void>) | null): void;
  close(): Promise<void>;
}

const password = () => randomBytes(24).toString('base64url');

/** Activity interceptor: after `activity` returned, await the current hold (if any) for the plan's secret. */
function holdingInterceptor(
  activity: string,
  current: () => ((secret: string) => Promise<void>) | null,
): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const result = await next(input);
        const hold = current();
        if (ctx.info.activityType === activity && hold) await hold((input.args[0] as RotationPlan).secret);
        return result;
      },
    },
  });
}

export async function readerScenario(): Promise<ReaderScenario> {
  const store = vaultTestStore();
  const pg = testStack().postgres!;
  const taskQueue = unique('tq');
  const names = { admin: unique('pg_admin'), hook: unique('hook_key'), alternating: unique('alt_db'), single: unique('one_db') };
  const roles = { alternating: unique('alt_app'), single: unique('one_app') };

  await store.write(names.admin, pgAdminSecret());
  await store.write(names.hook, { key: randomBytes(32).toString('hex') });
  const endpoint = { host: pg.host, port: pg.port, dbname: pg.database, engine: 'postgres' };
  const first = { alternating: password(), single: password() };
  const target = new PostgresTarget(postgresConnectionFrom(pgAdminSecret(), {}), roles.alternating);
  await target.upsertLogin(`${roles.alternating}_a`, first.alternating);
  await target.close();
  await adminQuery(
    `create role ${escapeIdentifier(roles.single)} login password ${escapeLiteral(scramSha256Verifier(first.single))}`,
  );
  await store.write(names.alternating, { username: `${roles.alternating}_a`, password: first.alternating, ...endpoint });
  await store.write(names.single, { username: roles.single, password: first.single, ...endpoint });

  let handler: RequestListener = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotated`;

  const rotatable = (name: string, role: string, strategy: string) => [
    `  ${name}:`,
    '    provider: vault',
    `    path: ${store.configPath(name)}`,
    '    cache: { enabled: true, ttl: 10m }',
    '    target:',
    '      type: postgresql',
    `      connection: secret://${names.admin}`,
    `      role: ${role}`,
    '    rotation:',
    `      strategy: ${strategy}`,
    // keep: a query that was in flight when revoke came finishes; new connections of the old login are refused.
    '      drain: { timeout: 2s, on_timeout: keep }',
    // The library drops its 10m cache on the reconnect event and re-reads on an auth failure: a revoke before the ttl
    // ends is what this scenario shows it survives, so the short grace period is allowed, not an oversight.
    '      allow_short_grace: true',
    '    consumers:',
    '      - type: webhook',
    `        url: ${url}`,
    `        signing_key: secret://${names.hook}/key`,
    '        attempts: 3',
    '        backoff: 50ms',
    '        timeout: 2s',
  ];
  const yaml = [
    'temporal:',
    `  address: "${testStack().temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  vault:',
    ...store.providerYaml,
    'secrets:',
    `  ${names.admin}:`,
    '    provider: vault',
    `    path: ${store.configPath(names.admin)}`,
    `  ${names.hook}:`,
    '    provider: vault',
    `    path: ${store.configPath(names.hook)}`,
    ...rotatable(names.alternating, roles.alternating, 'alternating-users'),
    ...rotatable(names.single, roles.single, 'single-user'),
  ].join('\n');
  const env = store.env;
  const config = parseConfig(yaml, env);

  let hold: ((secret: string) => Promise<void>) | null = null;
  const dataConverter = getDataConverter(testCodecKeys());
  const worker = await createRotatorWorker({
    config,
    dataConverter,
    workflowBundle: await workflowBundle(),
    logLevel: 'ERROR',
    interceptors: { activity: [holdingInterceptor('applyCredential', () => hold)] },
  });
  const running = worker.worker.run();
  const connection = await connectTemporal({ address: testStack().temporal!.address });
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });

  return {
    yaml,
    env,
    config,
    client,
    taskQueue,
    alternating: names.alternating,
    single: names.single,
    signingKey: `secret://${names.hook}/key`,
    plan: (secret) => planRotation(config, secret),
    route: (h) => {
      handler = h;
    },
    holdAfterApply: (h) => {
      hold = h;
    },
    async close() {
      hold = null;
      await connection.close();
      worker.worker.shutdown();
      await running;
      await worker.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
