// The examples whose servers the local stack provides, rotated end to end as written: the real CLI and a real worker
// on the real stack (Temporal, OpenBao, PostgreSQL, Redis, FerretDB, moto), the examples' ${VAR}s pointing at it.
// test/examples.unit.test.ts validates every example offline. Not rotated here: Azure and GCP (no local server),
// the rollout consumer (no Deployment controller; test/rollout.test.ts covers it with a stand-in), the webhook consumer
// (its receiver), dynamic credentials (a database engine role), schedule/sweep and triggers (they start the same
// rotation), and AWS Secrets Manager and Kubernetes whose grace periods (1h, 2m) are what their readers need.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { Client as PgClient } from 'pg';
import { canLogIn } from '../activities/targets/postgresql/target';
import type { SecretValue } from '../activities/types';
import { readConfigFile } from '../src/config/load';
import { cli } from './support/cli';
import { codecKeyEnv, pgAdminSecret, testCodecKeys, vaultClient } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { mongoAdminSecret, mongoLogin } from './support/mongo-harness';
import { createRedisAdmin, redisLogin, rootCall } from './support/redis-harness';
import { fileTestStore, MOTO_REGION, ssmClient } from './support/test-stores';

const ROOT = path.resolve(__dirname, '..');

/** Where an example keeps its values: write one, read the current one (null when there is none). */
interface Where {
  write(path: string, value: SecretValue): Promise<void>;
  read(path: string): Promise<SecretValue | null>;
}

const vaultKv: Where = {
  write: async (p, value) => void (await vaultClient().write(`secret/data/${p}`, { data: value })),
  read: async (p) =>
    (
      (await vaultClient()
        .read(`secret/data/${p}`)
        .catch(() => null)) as { data: { data: SecretValue } } | null
    )?.data.data ?? null,
};

// The file store's test helper keeps its secrets under <dir>/test/: the examples' ROTATOR_FILE_STORE points there.
const files = fileTestStore();
const fileStore: Where = {
  write: (p, value) => files.write(p, value),
  read: async (p) => (await files.readCurrent(p))?.value ?? null,
};

// Parameter Store: SecureString JSON, rotator's current value under the label `current`, else the latest version.
const ssm = ssmClient();
const getParameter = async (name: string): Promise<SecretValue | null> => {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    return JSON.parse(out.Parameter!.Value!) as SecretValue;
  } catch (err) {
    if ((err as Error).name === 'ParameterNotFound' || (err as Error).name === 'ParameterVersionNotFound') return null;
    throw err;
  }
};
const parameterStore: Where = {
  write: async (p, value) =>
    void (await ssm.send(
      new PutParameterCommand({ Name: p, Value: JSON.stringify(value), Type: 'SecureString', Overwrite: true }),
    )),
  read: async (p) => (await getParameter(`${p}:current`)) ?? (await getParameter(p)),
};

interface Case {
  file: string;
  secret: string;
  where: Where;
  /** The store path of the rotated value. */
  path: string;
  /** Where the example expects the PostgreSQL admin credential (nothing: from the environment). */
  admin?: string;
  /** Single-user: the login that exists before the first rotation, stored at `path` by the test. */
  login?: string;
  /** The example's own ${VAR}s. */
  env?: () => Record<string, string>;
  /** Prepares the target and its admin credential instead of PostgreSQL's (redis, mongodb). */
  seed?: () => Promise<void>;
  /** Whether a credential logs in to the example's target (default: PostgreSQL). */
  logsIn?: (value: SecretValue) => Promise<boolean>;
}

const pgLogsIn = (v: SecretValue) => canLogIn(testStack().postgres!, v as { username: string; password: string });

const pgEnv = (): Record<string, string> => {
  const pg = pgAdminSecret();
  return {
    PG_ADMIN_USER: String(pg.username),
    PG_ADMIN_PASSWORD: String(pg.password),
    PG_HOST: String(pg.host),
    PG_PORT: String(pg.port),
    PG_DATABASE: String(pg.dbname),
  };
};

const CASES: Case[] = [
  { file: 'examples/rotator.yaml', secret: 'orders_db', where: vaultKv, path: 'prod/orders-db', admin: 'prod/pg-admin' },
  { file: 'examples/stores/vault.yaml', secret: 'billing_db', where: vaultKv, path: 'prod/billing-db', admin: 'prod/pg-admin' },
  {
    file: 'examples/targets/postgresql-single-user.yaml',
    secret: 'legacy_db',
    where: vaultKv,
    path: 'prod/legacy-db',
    admin: 'prod/pg-admin',
    login: 'legacy_app',
  },
  { file: 'examples/stores/file.yaml', secret: 'notes_db', where: fileStore, path: 'notes-db', admin: 'pg-admin' },
  { file: 'examples/stores/env.yaml', secret: 'audit_db', where: fileStore, path: 'audit-db', env: pgEnv },
  {
    file: 'examples/stores/aws-parameter-store.yaml',
    secret: 'search_db',
    where: parameterStore,
    path: '/prod/search-db',
    admin: '/prod/pg-admin',
    login: 'search_app',
  },
  {
    file: 'examples/targets/redis-dual-password.yaml',
    secret: 'cache_redis',
    where: vaultKv,
    path: 'prod/cache-redis',
    login: 'cache_app',
    seed: async () => {
      const { host, port } = testStack().redis!;
      await vaultKv.write('prod/redis-admin', await createRedisAdmin());
      const password = randomBytes(18).toString('base64url');
      await rootCall(
        'ACL',
        'SETUSER',
        'cache_app',
        'reset',
        'on',
        `>${password}`,
        '~cache:*',
        '+@read',
        '+@write',
        '+@connection',
      );
      await vaultKv.write('prod/cache-redis', { username: 'cache_app', password, host, port });
    },
    logsIn: async (v) => (await redisLogin(String(v.username), String(v.password))) === 'ok',
  },
  {
    file: 'examples/targets/mongodb.yaml',
    secret: 'inventory_mongo',
    where: vaultKv,
    path: 'prod/inventory-mongo',
    seed: () => vaultKv.write('prod/mongo-admin', mongoAdminSecret()),
    logsIn: async (v) => (await mongoLogin(String(v.username), String(v.password))) === 'ok',
  },
];

async function pgAdmin<T>(f: (c: PgClient) => Promise<T>): Promise<T> {
  const pg = testStack().postgres!;
  const c = new PgClient({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: pg.database });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

describe('examples rotate on the local stack', () => {
  const keys = testCodecKeys();
  beforeAll(() => {
    const { temporal, vault, moto } = testStack();
    Object.assign(process.env, {
      TEMPORAL_ADDRESS: temporal!.address,
      VAULT_ADDR: vault!.address,
      VAULT_TOKEN: vault!.token,
      ROTATOR_FILE_STORE: path.join(files.dir, 'test'),
      AWS_REGION: MOTO_REGION,
      AWS_ENDPOINT_URL: moto!.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      ROTATOR_CODEC_KEY: codecKeyEnv(keys),
    });
  });
  afterAll(() => files.remove());

  test.each(CASES)('$file rotates $secret', async (c) => {
    const { file, secret, where, path: storePath, admin, login, env, seed, logsIn = pgLogsIn } = c;
    const pg = testStack().postgres!;
    Object.assign(process.env, env?.() ?? {});
    if (admin) await where.write(admin, pgAdminSecret());
    if (seed) await seed();
    else if (login) {
      const password = randomBytes(18).toString('base64url');
      await pgAdmin((c) => c.query(`CREATE ROLE ${login} LOGIN PASSWORD ${c.escapeLiteral(password)}`));
      await where.write(storePath, {
        username: login,
        password,
        host: pg.host,
        port: pg.port,
        dbname: pg.database,
        engine: 'postgres',
      });
    }
    const configFile = path.join(ROOT, file);
    let rotator: Rotator | undefined;
    try {
      // The example as written, with this process's environment: the worker `rotator worker` would run.
      rotator = await startRotator(readConfigFile(configFile), process.env as Record<string, string>, { keys });
      const before = await where.read(storePath);
      const run = await cli('--config', configFile, 'rotate', secret, '--wait');
      // The worker may not be polling yet when the CLI looks; the CLI says so and the rotation waits for it.
      expect(run.err.replace(/^rotator: no worker is polling task queue .*$/m, '').trim()).toBe('');
      expect({ code: run.code, out: run.out }).toEqual({ code: 0, out: expect.stringContaining('succeeded') });
      const after = await where.read(storePath);
      expect(after?.password).toBeDefined();
      expect(after!.password).not.toEqual(before?.password);
      expect(await logsIn(after!)).toBe(true);
      // The old password is withdrawn (one login: its old password no longer works).
      if (login) expect(await logsIn(before!)).toBe(false);
    } finally {
      await rotator?.close();
    }
  });
});
