// Whole rotations through Temporal with the AWS stores (moto) and the file store, against real PostgreSQL and FerretDB;
// and the AWS stores refusing to write for an attempt its step gave up on.
import { randomUUID } from 'node:crypto';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { AwsParameterStore } from '../activities/stores/aws-parameter-store/store';
import { AwsSecretsManagerStore } from '../activities/stores/aws-secrets-manager/store';
import type { SecretValue } from '../activities/types';
import { asAttempt } from '../src/kernel/attempt';
import { followRotation, queryStatus, startRotation } from '../src/client/rotations';
import { adminQuery, canLogin, startHarness, unique, untilPhase, type Harness } from './support/harness';
import { mongoLogin, mongoUser, startMongoHarness, type MongoHarness } from './support/mongo-harness';
import { testStack } from './support/stack';
import {
  fileTestStore,
  motoClientConfig,
  parameterStoreTestStore,
  secretsManagerTestStore,
  type FileTestStore,
  type ParameterStoreTestStore,
  type SecretsManagerTestStore,
} from './support/test-stores';

async function rotate(h: Pick<Harness, 'client' | 'taskQueue' | 'plan'>, secret: string) {
  const { handle } = await startRotation(h.client, h.taskQueue, h.plan(secret));
  return followRotation(handle);
}

function loginOf(value: SecretValue | undefined): { username: string; password: string } {
  return { username: String(value?.username), password: String(value?.password) };
}

const hasPending = (labels: Record<string, string[]>) => Object.values(labels).some((l) => l.includes('AWSPENDING'));

describe('AWS Secrets Manager + PostgreSQL, alternating users', () => {
  let h: Harness;
  let sm: SecretsManagerTestStore;
  beforeAll(async () => {
    sm = secretsManagerTestStore();
    h = await startHarness([{}, {}, {}], { store: sm });
  });
  afterAll(async () => {
    await h.close();
    sm.client.destroy();
  });

  it('serves a credential that logs in as AWSCURRENT, keeps the old one as AWSPREVIOUS, and leaves no AWSPENDING', async () => {
    const { name, role } = h.secrets[0];
    expect((await rotate(h, name)).ok).toBe(true);
    const first = await sm.readStage(name, 'AWSCURRENT');

    const second = await rotate(h, name);
    expect(second.status).toMatchObject({
      outcome: 'succeeded',
      username: `${role}_b`,
      revokedUsername: `${role}_a`,
      previousVersion: first!.version,
    });
    const current = await sm.readStage(name, 'AWSCURRENT');
    expect(current!.version).toBe(second.status.version);
    expect(current!.value).toMatchObject({ username: `${role}_b`, engine: 'postgres', host: testStack().postgres!.host });
    expect(await canLogin(loginOf(current!.value).username, loginOf(current!.value).password)).toBe(true);
    expect(await sm.readStage(name, 'AWSPREVIOUS')).toEqual(first);
    expect(await canLogin(loginOf(first!.value).username, loginOf(first!.value).password)).toBe(false); // revoked
    expect(hasPending(await sm.labels(name))).toBe(false);
  });

  it('leaves AWSCURRENT untouched and no AWSPENDING behind when the new login fails verify', async () => {
    const { name, role } = h.secrets[1];
    expect((await rotate(h, name)).ok).toBe(true);
    const before = await sm.readStage(name, 'AWSCURRENT');
    await adminQuery(`create role ${role}_b connection limit 0`); // the server will refuse the idle login

    const failed = await rotate(h, name);
    expect(failed.ok).toBe(false);
    expect(failed.status).toMatchObject({ outcome: 'rolled-back', error: { code: 'VERIFY_FAILED' } });
    expect(await sm.readStage(name, 'AWSCURRENT')).toEqual(before);
    expect(hasPending(await sm.labels(name))).toBe(false);
    expect(await canLogin(loginOf(before!.value).username, loginOf(before!.value).password)).toBe(true);
    expect(JSON.stringify(failed.status)).not.toContain(loginOf(before!.value).password);
  });

  it('stops with CONFLICT naming a stale AWSPENDING version under the default stale_pending: fail, and changes nothing', async () => {
    const { name, role } = h.secrets[2];
    expect((await rotate(h, name)).ok).toBe(true);
    const before = await sm.readStage(name, 'AWSCURRENT');
    const stale = randomUUID(); // another tool's, or a rotation that died
    await sm.client.send(
      new PutSecretValueCommand({
        SecretId: sm.configPath(name),
        ClientRequestToken: stale,
        SecretString: JSON.stringify({ username: 'other', password: 'Stale-Pending-Value-1' }),
        VersionStages: ['AWSPENDING'],
      }),
    );

    const failed = await rotate(h, name);
    expect(failed.ok).toBe(false);
    expect(failed.status.error?.code).toBe('CONFLICT');
    expect(failed.status.error?.message).toContain(stale);
    expect(failed.status.error?.message).toContain(sm.configPath(name));
    expect(JSON.stringify(failed.status)).not.toContain('Stale-Pending-Value-1');
    expect(await sm.readStage(name, 'AWSCURRENT')).toEqual(before);
    const labels = await sm.labels(name);
    expect(labels[stale]).toEqual(['AWSPENDING']);
    expect(Object.entries(labels).filter(([, l]) => l.includes('AWSPENDING'))).toHaveLength(1);
    expect(await adminQuery('select 1 from pg_roles where rolname = $1', [`${role}_b`])).toEqual([]); // never created
  });
});

describe('AWS Secrets Manager with stale_pending: replace', () => {
  let h: Harness;
  let sm: SecretsManagerTestStore;
  beforeAll(async () => {
    sm = secretsManagerTestStore({ stalePending: 'replace' });
    h = await startHarness([{}], { store: sm });
  });
  afterAll(async () => {
    await h.close();
    sm.client.destroy();
  });

  it('takes AWSPENDING off the stale version and completes the rotation', async () => {
    const { name, role } = h.secrets[0];
    expect((await rotate(h, name)).ok).toBe(true);
    const stale = randomUUID();
    await sm.client.send(
      new PutSecretValueCommand({
        SecretId: sm.configPath(name),
        ClientRequestToken: stale,
        SecretString: '{"username":"other"}',
        VersionStages: ['AWSPENDING'],
      }),
    );

    const result = await rotate(h, name);
    expect(result.status).toMatchObject({ outcome: 'succeeded', username: `${role}_b` });
    const current = await sm.readStage(name, 'AWSCURRENT');
    expect(current!.version).toBe(result.status.version);
    expect(await canLogin(loginOf(current!.value).username, loginOf(current!.value).password)).toBe(true);
    const labels = await sm.labels(name);
    expect(labels[stale]).toEqual([]);
    expect(hasPending(labels)).toBe(false);
  });
});

describe('AWS Secrets Manager + MongoDB (FerretDB), alternating users with a grace period', () => {
  let h: MongoHarness;
  let sm: SecretsManagerTestStore;
  const name = unique('mongo_app');
  const user = unique('app');
  beforeAll(async () => {
    sm = secretsManagerTestStore();
    h = await startMongoHarness([{ name, user, roles: [{ role: 'readWrite', db: 'orders' }], extra: 'grace_period: 2s' }], sm);
  });
  afterAll(async () => {
    await h.close();
    sm.client.destroy();
  });

  it('lets the old user authenticate through the grace period, then drops it; the new user authenticates', async () => {
    expect((await rotate(h, name)).ok).toBe(true);
    const old = loginOf((await sm.readStage(name, 'AWSCURRENT'))!.value);
    expect(old.username).toBe(`${user}_a`);

    const { handle } = await startRotation(h.client, h.taskQueue, h.plan(name));
    const grace = await untilPhase(handle, 'revoke');
    expect(grace.revokedUsername).toBeNull();
    const next = loginOf((await sm.readStage(name, 'AWSCURRENT'))!.value);
    expect(next.username).toBe(`${user}_b`);
    expect(await mongoLogin(old.username, old.password)).toBe('ok');
    expect(await mongoLogin(next.username, next.password)).toBe('ok');
    // both logins were checked while the rotation still waited out the grace period
    expect(await queryStatus(handle)).toMatchObject({ phase: 'revoke', outcome: 'running', revokedUsername: null });

    const result = await followRotation(handle);
    expect(result.status).toMatchObject({ outcome: 'succeeded', username: next.username, revokedUsername: old.username });
    expect(await mongoUser(old.username)).toBeNull();
    expect(await mongoLogin(old.username, old.password)).toBe('refused');
    expect(await mongoLogin(next.username, next.password)).toBe('ok');
    expect(await sm.readStage(name, 'AWSPREVIOUS')).toMatchObject({ value: { username: old.username } });
  });
});

describe('AWS stores: an attempt its step already gave up on', () => {
  // The step's retry budget ended while the attempt waited on AWS (guarded ends it, src/kernel/attempt.ts); AWS then
  // answers. The attempt must write nothing: the rotation's compensation has already run.
  const { credentials, endpoint, region } = motoClientConfig();
  const abandoned = (step: string, fn: () => Promise<unknown>) => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const attempt = asAttempt(step, async () => {
      await answered;
      return fn();
    });
    attempt.end();
    answer();
    return attempt.result;
  };

  it('Secrets Manager: a promote moves no label, a stage labels no pending version', async () => {
    const sm = secretsManagerTestStore();
    const s = new AwsSecretsManagerStore({ region, endpoint, ...credentials });
    const name = unique('abandoned');
    const path = sm.configPath(name);
    await sm.write(name, { username: 'app_a', password: 'first-password' });
    const first = (await sm.readCurrent(name))!.version;
    const labels = await sm.labels(name);
    await expect(
      abandoned('stageCredential', () => s.stagePending(path, randomUUID(), { username: 'app_b', password: 'second' }, first)),
    ).rejects.toThrow(/not sent: stageCredential had already ended/);
    expect(await sm.labels(name)).toEqual(labels);

    const rotationId = randomUUID();
    await s.stagePending(path, rotationId, { username: 'app_b', password: 'second-password' }, first);
    const staged = await sm.labels(name);
    await expect(abandoned('promote', () => s.promote(path, rotationId, first))).rejects.toThrow(
      /AWS Secrets Manager UpdateSecretVersionStage not sent: promote had already ended/,
    );
    expect(await sm.labels(name)).toEqual(staged);
    expect((await sm.readCurrent(name))!.version).toBe(first);
    sm.client.destroy();
    await s.close();
  });

  it('Parameter Store: a stage writes no version', async () => {
    const ssm = parameterStoreTestStore();
    const s = new AwsParameterStore({ region, endpoint, ...credentials });
    const name = unique('abandoned');
    await ssm.write(name, { username: 'app_a', password: 'first-password' });
    const before = await ssm.read(name);
    await expect(
      abandoned('stageCredential', () =>
        s.stagePending(ssm.configPath(name), randomUUID(), { username: 'app_b', password: 'second' }, before!.version),
      ),
    ).rejects.toThrow(/AWS Parameter Store \w+ not sent: stageCredential had already ended/);
    expect(await ssm.read(name)).toEqual(before);
    await s.close();
  });
});

describe('AWS Parameter Store + PostgreSQL', () => {
  let h: Harness;
  let ssm: ParameterStoreTestStore;
  beforeAll(async () => {
    ssm = parameterStoreTestStore();
    h = await startHarness([{}], { store: ssm });
  });
  afterAll(() => h.close());

  it('labels the new credential current, serves it to plain readers, and it logs in', async () => {
    const { name, role } = h.secrets[0];
    const result = await rotate(h, name);
    expect(result.status).toMatchObject({ outcome: 'succeeded', username: `${role}_a` });
    const labelled = await ssm.read(name, 'current');
    expect(labelled!.version).toBe(result.status.version);
    expect(await ssm.read(name)).toEqual(labelled);
    const { username, password } = loginOf(labelled!.value);
    expect(username).toBe(`${role}_a`);
    expect(await canLogin(username, password)).toBe(true);
  });
});

describe('file store + PostgreSQL', () => {
  let h: Harness;
  let files: FileTestStore;
  beforeAll(async () => {
    files = fileTestStore();
    h = await startHarness([{}], { store: files });
  });
  afterAll(async () => {
    await h.close();
    files.remove();
  });

  it('points current at a new version file holding a credential that logs in, with no pending file left', async () => {
    const { name, role } = h.secrets[0];
    const result = await rotate(h, name);
    expect(result.status).toMatchObject({ outcome: 'succeeded', username: `${role}_a` });
    const current = await files.readCurrent(name);
    expect(current!.version).toBe(result.status.version);
    const { username, password } = loginOf(current!.value);
    expect(username).toBe(`${role}_a`);
    expect(await canLogin(username, password)).toBe(true);
    expect(files.files(name)).toEqual(['current', 'v000001.json']);
  });
});
