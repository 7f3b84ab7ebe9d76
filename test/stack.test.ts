// Smoke test: every service of the local test stack answers a real protocol call.
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import Redis from 'ioredis';
import { Client as PgClient } from 'pg';
import { testStack } from './support/stack';
import { connectTemporal } from '../src/client/temporal';

function need<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new Error(`${name} is not part of the test stack`);
  return v;
}

describe('local test stack', () => {
  const stack = testStack();

  test('temporal answers getSystemInfo', async () => {
    const { address, namespace } = need(stack.temporal, 'temporal');
    const conn = await connectTemporal({ address });
    try {
      const info = await conn.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
      const ns = await conn.workflowService.describeNamespace({ namespace });
      expect(ns.namespaceInfo?.name).toBe(namespace);
    } finally {
      await conn.close();
    }
  });

  test('vault is unsealed and has KV v2 at secret/', async () => {
    const { address, token } = need(stack.vault, 'vault');
    const health = await fetch(`${address}/v1/sys/health`);
    expect(health.status).toBe(200);
    const mounts = (await (await fetch(`${address}/v1/sys/mounts`, { headers: { 'X-Vault-Token': token } })).json()) as Record<
      string,
      { type: string; options: { version?: string } | null }
    >;
    expect(mounts['secret/']).toMatchObject({ type: 'kv', options: { version: '2' } });
  });

  test('postgres accepts the password over TCP and refuses a wrong one', async () => {
    const pg = need(stack.postgres, 'postgres');
    const good = new PgClient(pg);
    await good.connect();
    try {
      const res = await good.query<{ one: number }>('select 1 as one');
      expect(res.rows[0].one).toBe(1);
    } finally {
      await good.end();
    }
    const bad = new PgClient({ ...pg, password: 'wrong-password' });
    await expect(bad.connect()).rejects.toThrow(/password authentication failed/);
    await bad.end().catch(() => {});
  });

  test('redis answers PING', async () => {
    const { host, port } = need(stack.redis, 'redis');
    const redis = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  test('moto answers SecretsManager ListSecrets', async () => {
    const { endpoint } = need(stack.moto, 'moto');
    const sm = new SecretsManagerClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      const res = await sm.send(new ListSecretsCommand({}));
      expect(Array.isArray(res.SecretList)).toBe(true);
    } finally {
      sm.destroy();
    }
  });
});
