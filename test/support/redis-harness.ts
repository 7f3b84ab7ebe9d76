// A rotator wired to the test stack's Redis: an ACL admin user stored in Vault, a worker, and login probes.
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import Redis from 'ioredis';
import { getDataConverter } from '../../src/codec/data-converter';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { planRotation, type RotationPlan } from '../../src/plan';
import { createRotatorWorker, type RotatorWorker } from '../../workers/worker';
import { testCodecKeys, testEnv, unique, vaultClient, workflowBundle } from './harness';
import { testStack } from './stack';

export type RedisAdmin = {
  username: string;
  password: string;
  host: string;
  port: number;
};

/** A client of the stack's Redis as its `default` user, which the stack leaves without a password. */
export function rootRedis(): Redis {
  const { host, port } = testStack().redis!;
  return new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
}

export async function rootCall(...args: string[]): Promise<unknown> {
  const r = rootRedis();
  try {
    await r.connect();
    return await r.call(args[0], ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

/** A dedicated admin user with a password, the way a real deployment would not hand rotator the default user. */
export async function createRedisAdmin(): Promise<RedisAdmin> {
  const { host, port } = testStack().redis!;
  const admin = { username: unique('rotator_admin'), password: randomBytes(18).toString('base64url'), host, port };
  await rootCall('ACL', 'SETUSER', admin.username, 'reset', 'on', `>${admin.password}`, '~*', '&*', '+@all');
  return admin;
}

/** How Redis answers a login: 'ok', or the first word of its refusal (WRONGPASS). */
export async function redisLogin(username: string, password: string): Promise<string> {
  const { host, port } = testStack().redis!;
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.call('AUTH', username, password);
    return 'ok';
  } catch (err) {
    return String((err as Error).message).split(' ')[0];
  } finally {
    r.disconnect();
  }
}

/** A connection logged in as the user, held open (a consumer that has not reconnected yet). */
export async function openSession(username: string, password: string): Promise<Redis> {
  const { host, port } = testStack().redis!;
  const r = new Redis({ host, port, username, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
  r.on('error', () => undefined);
  await r.connect();
  return r;
}

export interface RedisSecretSpec {
  name: string;
  user: string;
  strategy: 'alternating-users' | 'dual-password' | 'single-user';
  acl?: string[];
  /** More YAML lines under rotation:, e.g. 'reconnect: { wait: 2s }'. */
  extra?: string;
}

function configYaml(taskQueue: string, adminPath: string, specs: RedisSecretSpec[]): string {
  const stack = testStack();
  const lines = [
    'temporal:',
    `  address: "${stack.temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  vault:',
    '    type: vault',
    `    address: "${stack.vault!.address}"`,
    '    token: ${TEST_VAULT_TOKEN}',
    'secrets:',
    '  redis_admin:',
    '    provider: vault',
    `    path: secret/data/${adminPath}`,
  ];
  for (const s of specs) {
    lines.push(
      `  ${s.name}:`,
      '    provider: vault',
      `    path: secret/data/test/${s.name}`,
      '    target:',
      '      type: redis',
      '      connection: secret://redis_admin',
      `      user: ${s.user}`,
      ...(s.acl ? [`      acl: ${JSON.stringify(s.acl)}`] : []),
      '    rotation:',
      `      strategy: ${s.strategy}`,
      '      drain: { timeout: 1s }',
      ...(s.extra ? s.extra.split('\n').map((l) => `      ${l}`) : []),
    );
  }
  return lines.join('\n') + '\n';
}

export interface RedisHarness {
  config: Config;
  client: Client;
  worker: RotatorWorker;
  taskQueue: string;
  admin: RedisAdmin;
  plan(secret: string): RotationPlan;
  close(): Promise<void>;
}

/** A worker and a client on a fresh task queue, managing the given Redis secrets with a fresh admin user. */
export async function startRedisHarness(specs: RedisSecretSpec[]): Promise<RedisHarness> {
  const stack = testStack();
  const taskQueue = unique('tq');
  const adminPath = `test/${unique('redis_admin')}`;
  const admin = await createRedisAdmin();
  await vaultClient().write(`secret/data/${adminPath}`, { data: { ...admin, engine: 'redis' } });
  const config = parseConfig(configYaml(taskQueue, adminPath, specs), testEnv());
  const dataConverter = getDataConverter(testCodecKeys());
  const worker = await createRotatorWorker({ config, dataConverter, workflowBundle: await workflowBundle(), logLevel: 'ERROR' });
  const running = worker.worker.run();
  const connection = await Connection.connect({ address: stack.temporal!.address });
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  return {
    config,
    client,
    worker,
    taskQueue,
    admin,
    plan: (secret) => planRotation(config, secret),
    async close() {
      await connection.close();
      worker.worker.shutdown();
      await running;
      await worker.close();
      await rootCall('ACL', 'DELUSER', admin.username);
    },
  };
}
