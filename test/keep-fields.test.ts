// A rotation keeps what it did not create: whole rotations through Temporal on values shaped as operators keep them
// (AWS's RDS rotation template in Secrets Manager, read back through boto3; a Vault value with sslmode), verify
// logging in where the value says, and `plan` / `validate` naming a stored endpoint that is not the target's.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresTarget, postgresConnectionFrom } from '../activities/targets/postgresql/target';
import type { SecretValue } from '../activities/types';
import { endpointWarnings, preflight } from '../src/client/preflight';
import { followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { cli } from './support/cli';
import { adminQuery, canLogin, pgAdminSecret, startHarness, testEnv, vaultClient, type Harness } from './support/harness';
import { testStack } from './support/stack';
import { MOTO_REGION, secretsManagerTestStore, type SecretsManagerTestStore } from './support/test-stores';

/** The stack's PostgreSQL listens on 127.0.0.1 (what the admin secret names); `localhost` is the app's name for it. */
const APP_HOST = 'localhost';
const ORDERS_DB = 'ordersdb';

async function rotate(h: Harness, secret: string) {
  const { handle } = await startRotation(h.client, h.taskQueue, h.plan(secret));
  return followRotation(handle);
}

async function ensureDatabase(name: string): Promise<void> {
  const found = await adminQuery('select 1 from pg_database where datname = $1', [name]);
  if (found.length > 0) return;
  try {
    await adminQuery(`create database ${name}`);
  } catch (err) {
    if ((err as { code?: string }).code !== '42P04') throw err; // made meanwhile by another test run
  }
}

/** What boto3 (AWS's own SDK, as an app or the RDS rotation Lambdas read it) gets as AWSCURRENT. */
function boto3Current(secretId: string): SecretValue {
  const script = [
    'import boto3, json, os, sys',
    "sm = boto3.client('secretsmanager', endpoint_url=os.environ['MOTO'], region_name=os.environ['REGION'])",
    // moto: a read without VersionStage does not follow UpdateSecretVersionStage (SERVERS.md).
    "print(sm.get_secret_value(SecretId=sys.argv[1], VersionStage='AWSCURRENT')['SecretString'])",
  ].join('\n');
  const out = spawnSync(join(__dirname, '..', '.venv', 'bin', 'python'), ['-c', script, secretId], {
    env: {
      ...process.env,
      MOTO: testStack().moto!.endpoint,
      REGION: MOTO_REGION,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(`boto3 failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as SecretValue;
}

describe('an RDS-rotation-template secret in Secrets Manager', () => {
  let h: Harness;
  let sm: SecretsManagerTestStore;
  beforeAll(async () => {
    await ensureDatabase(ORDERS_DB);
    sm = secretsManagerTestStore();
    h = await startHarness([{}], { store: sm });
  });
  afterAll(async () => {
    await h?.close();
    sm?.client.destroy();
  });

  it('reads back through boto3 with host, dbname and dbInstanceIdentifier unchanged after two rotations, and plan and validate name the two endpoints', async () => {
    const { name, role } = h.secrets[0];
    const pg = testStack().postgres!;
    // The shape AWS's SecretsManagerRDSPostgreSQLRotation* templates keep, with the app's own host name.
    const template: SecretValue = {
      engine: 'postgres',
      host: APP_HOST,
      port: pg.port,
      dbname: ORDERS_DB,
      dbInstanceIdentifier: 'orders-prod',
      username: `${role}_a`,
      password: `unused-${randomBytes(8).toString('hex')}`,
    };
    await sm.write(name, template);

    const config = parseConfig(h.yaml, { ...testEnv(), ...sm.env });
    const report = await preflight(config, name);
    const check = report.checks.find((c) => c.check.startsWith('store: the stored endpoint'));
    expect(check).toMatchObject({ status: 'warn' });
    expect(check!.detail).toContain(`${APP_HOST}:${pg.port}`);
    expect(check!.detail).toContain(`${pg.host}:${pg.port}`);
    const { warnings, skipped } = await endpointWarnings(config);
    expect(skipped).toEqual([]);
    expect(warnings).toEqual([{ secret: name, message: check!.detail }]);
    const file = join(mkdtempSync(join(tmpdir(), 'keep-')), 'rotator.yaml');
    writeFileSync(file, h.yaml, { mode: 0o600 });
    const savedEnv = { ...process.env };
    Object.assign(process.env, testEnv(), sm.env); // the CLI runs in-process, reading its environment
    const validate = await cli('validate', file).finally(() => {
      for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
      Object.assign(process.env, savedEnv);
    });
    expect(validate.code).toBe(0);
    expect(validate.out).toContain(`warning: secrets.${name}: ${check!.detail}`);

    for (let i = 0; i < 2; i++) {
      const result = await rotate(h, name);
      expect(result.status.error ?? null).toBeNull();
      expect(result.ok).toBe(true);
    }
    const read = boto3Current(`test/${name}`);
    expect(read).toMatchObject({
      engine: 'postgres',
      host: APP_HOST,
      port: pg.port,
      dbname: ORDERS_DB,
      dbInstanceIdentifier: 'orders-prod',
      username: `${role}_a`, // a → b → a
    });
    expect(Object.keys(read)).toEqual(Object.keys(template));
    expect(read.password).not.toBe(template.password);
    // What the app does with it: log in to ordersdb through the name it uses.
    const { canLogIn } = await import('../activities/targets/postgresql/target');
    expect(
      await canLogIn(
        { host: APP_HOST, port: pg.port, database: ORDERS_DB },
        { username: String(read.username), password: String(read.password) },
      ),
    ).toBe(true);
    // The stored value is still reported, never rewritten.
    expect((await endpointWarnings(config)).warnings.map((w) => w.secret)).toEqual([name]);
  });
});

describe('a Vault secret patched by hand with sslmode', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{}]);
  });
  afterAll(() => h?.close());

  it('keeps sslmode (and its other fields) through two rotations', async () => {
    const { name, role } = h.secrets[0];
    const pg = testStack().postgres!;
    const path = `secret/data/test/${name}`;
    expect((await rotate(h, name)).ok).toBe(true); // a first value, built from the target's config
    const first = (await vaultClient().read(path)).data.data as SecretValue;
    expect(first).toMatchObject({ host: pg.host, port: pg.port, dbname: pg.database, username: `${role}_a` });
    await vaultClient().write(path, { data: { ...first, sslmode: 'disable' } }); // the operator's patch

    for (let i = 0; i < 2; i++) expect((await rotate(h, name)).ok).toBe(true);
    const now = (await vaultClient().read(path)).data.data as SecretValue;
    expect(now).toStrictEqual({ ...first, sslmode: 'disable', username: `${role}_a`, password: now.password }); // b, then a
    expect(now.password).not.toBe(first.password);
    expect(await canLogin(String(now.username), String(now.password))).toBe(true);
  });
});

describe('verify logs in where the stored value says', () => {
  const pg = testStack().postgres!;
  let target: PostgresTarget;
  let role: string;
  let password: string;
  beforeAll(async () => {
    target = new PostgresTarget(postgresConnectionFrom(pgAdminSecret(), {}), 'unused');
    role = `keep_${randomBytes(4).toString('hex')}`;
    password = randomBytes(16).toString('hex');
    await adminQuery(`create role ${role} login password '${password}'`);
  });
  afterAll(() => target?.close());

  it('through the stored host, port and dbname, and says so', async () => {
    await ensureDatabase(ORDERS_DB);
    const at = await target.verify({ username: role, password }, 'select 1', {
      host: APP_HOST,
      port: pg.port,
      dbname: ORDERS_DB,
    });
    expect(at).toEqual({ endpoint: `${APP_HOST}:${pg.port}/${ORDERS_DB}`, from: 'stored value' });
  });

  it("through the target's connection when the value names no host", async () => {
    const at = await target.verify({ username: role, password }, 'select 1', { username: role });
    expect(at).toEqual({ endpoint: `${pg.host}:${pg.port}/${pg.database}`, from: 'target connection' });
  });

  it('fails as an outage (retried), naming the stored endpoint, when the app could not reach the database there', async () => {
    await expect(
      target.verify({ username: role, password }, 'select 1', { host: 'no-such-host.invalid', port: pg.port }),
    ).rejects.toMatchObject({
      code: 'TRANSIENT',
      message: expect.stringContaining(`no-such-host.invalid:${pg.port}/${pg.database} (stored value)`),
    });
  });
});
