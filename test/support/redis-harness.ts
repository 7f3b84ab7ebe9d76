// A rotator wired to the test stack's Redis: an ACL admin user stored in Vault, a worker, and login probes.
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { unique } from './harness';
import { startRotator, type Rotator } from './rotator';
import { rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { vaultTestStore, type TestStore } from './test-stores';

export type RedisAdmin = {
  username: string;
  password: string;
  host: string;
  port: number;
};

/** No reconnects, retries or ready check: a probe sees the server's first answer. */
const ONE_SHOT = { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false };

/** A client of the stack's Redis as its `default` user, which the stack leaves without a password. */
export function rootRedis(): Redis {
  const { host, port } = testStack().redis!;
  return new Redis({ host, port, ...ONE_SHOT });
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
  const r = new Redis({ host, port, ...ONE_SHOT });
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
  const r = new Redis({ host, port, username, password, ...ONE_SHOT });
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

function configYaml(taskQueue: string, store: TestStore, adminName: string, specs: RedisSecretSpec[]): string {
  return rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'vault', yaml: store.providerYaml },
    admin: { name: 'redis_admin', path: store.configPath(adminName) },
    secrets: specs.map((s) => ({
      name: s.name,
      path: store.configPath(s.name),
      type: 'redis',
      target: [`user: ${s.user}`, ...(s.acl ? [`acl: ${JSON.stringify(s.acl)}`] : [])],
      rotation: [`strategy: ${s.strategy}`, 'drain: { timeout: 1s }'],
      extra: s.extra,
    })),
  });
}

export interface RedisHarness extends Rotator {
  taskQueue: string;
  admin: RedisAdmin;
}

/** A worker and a client on a fresh task queue, managing the given Redis secrets with a fresh admin user. */
export async function startRedisHarness(specs: RedisSecretSpec[]): Promise<RedisHarness> {
  const store = vaultTestStore();
  const taskQueue = unique('tq');
  const adminName = unique('redis_admin');
  const admin = await createRedisAdmin();
  await store.write(adminName, { ...admin, engine: 'redis' });
  const rotator = await startRotator(configYaml(taskQueue, store, adminName, specs), store.env);
  return {
    ...rotator,
    taskQueue,
    admin,
    async close() {
      await rotator.close();
      await rootCall('ACL', 'DELUSER', admin.username);
    },
  };
}
