// Every SecretStore against its real server (OpenBao, moto, a temp dir): the shared contract, then what is store-specific.
import { randomBytes, randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
} from '@aws-sdk/client-ssm';
import { KubeClients, kubeConfigFor } from '../activities/kubernetes/client';
import { awsError } from '../activities/stores/aws-common';
import { AwsParameterStore, pendingParameterName } from '../activities/stores/aws-parameter-store/store';
import { AwsSecretsManagerStore, versionTokenFor } from '../activities/stores/aws-secrets-manager/store';
import { FileStore } from '../activities/stores/file/store';
import { KubernetesStore } from '../activities/stores/kubernetes/store';
import type { StalePendingOptions, StalePendingPolicy } from '../activities/stores/stale-pending';
import { VaultKvStore } from '../activities/stores/vault/store';
import { credential, describeStoreContract, everythingIn, rejection } from './contract/store-contract';
import { kubeconfigFile, namespaceFor } from './support/kube';
import { testStack } from './support/stack';
import { motoClientConfig, secretsManagerClient, ssmClient, versionLabels } from './support/test-stores';

const hex = () => randomBytes(4).toString('hex');

function secretsManager(
  stalePending: StalePendingPolicy = 'fail',
  warn?: (m: string, f: Record<string, string>) => void,
): AwsSecretsManagerStore {
  const { region, endpoint } = motoClientConfig();
  return new AwsSecretsManagerStore({
    region,
    endpoint,
    accessKeyId: 'test',
    secretAccessKey: 'test',
    stalePending,
    ...(warn ? { warn } : {}),
  });
}

function parameterStore(options: StalePendingOptions = {}): AwsParameterStore {
  const { region, endpoint } = motoClientConfig();
  return new AwsParameterStore({ region, endpoint, accessKeyId: 'test', secretAccessKey: 'test', ...options });
}

async function tempDir(): Promise<string> {
  return fsp.mkdtemp(nodePath.join(os.tmpdir(), 'rotator-file-store-'));
}

describeStoreContract('vault-kv', async () => {
  const vault = testStack().vault!;
  const open = (options: StalePendingOptions) =>
    new VaultKvStore({ address: vault.address, token: vault.token, pendingPrefix: 'rotator-pending', ...options });
  return { store: open({}), open, path: () => `secret/data/contract/${hex()}` };
});

describeStoreContract('aws-secrets-manager', async () => ({
  store: secretsManager(),
  open: (o) => secretsManager(o.stalePending, o.warn),
  path: () => `contract/${hex()}`,
  stagesAtomically: false,
}));

describeStoreContract('aws-parameter-store', async () => ({
  store: parameterStore(),
  open: parameterStore,
  path: () => `/contract/${hex()}`,
}));

describeStoreContract('file', async () => {
  const dir = await tempDir();
  const open = (options: StalePendingOptions) => new FileStore({ dir, ...options });
  return { store: open({}), open, path: () => `contract/${hex()}`, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
});

describeStoreContract('kubernetes', async () => {
  // The documented Role in a namespace of its own; paths name it, so the provider's namespace (where rotator holds
  // nothing) must not be what is used.
  const namespace = await namespaceFor('rotator');
  const kubeconfig = kubeconfigFile('rotator');
  const open = (options: StalePendingOptions) =>
    new KubernetesStore({ clients: new KubeClients(kubeConfigFor({ kubeconfig })), namespace: 'default', ...options });
  return { store: open({}), open, path: () => `${namespace}/contract-${hex()}`, nested: false };
});

describe('aws-secrets-manager specifics', () => {
  const sm = secretsManagerClient();
  const store = secretsManager();
  afterAll(async () => {
    sm.destroy();
    await store.close();
  });

  const labels = (path: string) => versionLabels(sm, path);

  async function seeded(value = credential()): Promise<{ path: string; version: string }> {
    const path = `specific/${hex()}`;
    const out = await sm.send(new CreateSecretCommand({ Name: path, SecretString: JSON.stringify(value) }));
    return { path, version: out.VersionId! };
  }

  it('leaves AWSCURRENT on the new JSON and AWSPREVIOUS on the old after promote, with no AWSPENDING left once the rotation ends', async () => {
    const old = credential('app_a');
    const { path, version: v1 } = await seeded(old);
    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(path, rotationId, next, null);
    expect(await labels(path)).toEqual({ [v1]: ['AWSCURRENT'], [rotationId]: ['AWSPENDING'] });

    const { version } = await store.promote(path, rotationId, v1);
    expect(version).toBe(rotationId); // a UUID run id is used verbatim as the version id
    const current = await sm.send(new GetSecretValueCommand({ SecretId: path, VersionStage: 'AWSCURRENT' }));
    const previous = await sm.send(new GetSecretValueCommand({ SecretId: path, VersionStage: 'AWSPREVIOUS' }));
    expect(JSON.parse(current.SecretString!)).toEqual(next);
    expect(JSON.parse(previous.SecretString!)).toEqual(old);
    // AWSPENDING stays on the new version, beside AWSCURRENT, as the rotation's claim until it ends
    expect((await labels(path))[rotationId].sort()).toEqual(['AWSCURRENT', 'AWSPENDING']);
    await store.discardPending(path, rotationId);
    expect(Object.values(await labels(path)).flat()).not.toContain('AWSPENDING');
  });

  it('derives a 32–64 character version token from a short rotation id, the same every time', () => {
    const token = versionTokenFor('r1');
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(versionTokenFor('r1')).toBe(token);
    expect(versionTokenFor('r2')).not.toBe(token);
  });

  it('adds no second version when a stage is retried with a freshly generated password', async () => {
    const { path } = await seeded();
    await store.stagePending(path, 'retried-stage', credential(), null);
    await store.stagePending(path, 'retried-stage', credential(), null);
    expect(Object.keys(await labels(path))).toHaveLength(2);
  });

  it('gives a new secret an empty placeholder as AWSCURRENT, so a staged value is never served before promote', async () => {
    const path = `specific/${hex()}`;
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, credential(), null);
    const served = await sm.send(new GetSecretValueCommand({ SecretId: path, VersionStage: 'AWSCURRENT' }));
    expect(served.SecretString).toBe('{}');
    expect(served.VersionId).not.toBe(rotationId);
  });

  it('leaves a foreign AWSPENDING version labelled under stale_pending: fail, and only moves its label under replace', async () => {
    // Put by another tool, not through this store: the contract suite covers leftovers of our own rotations.
    const { path } = await seeded();
    const stale = randomUUID();
    await sm.send(
      new PutSecretValueCommand({
        SecretId: path,
        ClientRequestToken: stale,
        SecretString: JSON.stringify(credential()),
        VersionStages: ['AWSPENDING'],
      }),
    );
    await rejection(store.stagePending(path, randomUUID(), credential(), null), 'CONFLICT');
    expect((await labels(path))[stale]).toEqual(['AWSPENDING']);

    const replacing = secretsManager('replace', () => undefined);
    try {
      const rotationId = randomUUID();
      await replacing.stagePending(path, rotationId, credential(), null);
      const now = await labels(path);
      expect(now[stale]).toEqual([]); // still there as a version, just no longer pending
      expect(now[rotationId]).toEqual(['AWSPENDING']);
    } finally {
      await replacing.close();
    }
  });

  it('reports a secret that is not JSON without showing its content', async () => {
    const path = `specific/${hex()}`;
    await sm.send(new CreateSecretCommand({ Name: path, SecretString: 'hunter2-plain-text' }));
    const err = await rejection(store.readCurrent(path), 'CONFLICT');
    expect(everythingIn(err)).not.toContain('hunter2');
  });

  it('maps AWS error names to rotator codes and scrubs values it is given', () => {
    const denied = awsError({ name: 'AccessDeniedException', message: 'not allowed' }, 'read x');
    expect(denied.code).toBe('PERMISSION_DENIED');
    expect(awsError({ name: 'ResourceNotFoundException', message: 'gone' }, 'read x').code).toBe('NOT_FOUND');
    expect(awsError({ name: 'ResourceExistsException', message: 'exists' }, 'create x').code).toBe('CONFLICT');
    expect(awsError({ name: 'ThrottlingException', message: 'slow down' }, 'read x').code).toBe('TRANSIENT');
    const echoed = awsError({ name: 'ValidationException', message: 'bad value s3cr3t-value' }, 'put x', ['s3cr3t-value']);
    expect(echoed.message).not.toContain('s3cr3t-value');
  });
});

describe('aws-parameter-store specifics', () => {
  const ssm = ssmClient();
  const store = parameterStore();
  afterAll(async () => {
    ssm.destroy();
    await store.close();
  });

  const read = async (name: string) => (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter!;

  it('serves the promoted value to plain readers, labels current and previous, and removes the pending parameter when the rotation ends', async () => {
    const path = `/specific/${hex()}/db`;
    const old = credential('app_a');
    await ssm.send(new PutParameterCommand({ Name: path, Value: JSON.stringify(old), Type: 'SecureString' }));
    const before = await store.readCurrent(path);
    expect(before).toEqual({ version: '1', value: old }); // no label yet: the latest version

    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(path, rotationId, next, null);
    const folder = await ssm.send(
      new GetParametersByPathCommand({ Path: path.slice(0, path.lastIndexOf('/')), Recursive: true }),
    );
    expect(folder.Parameters?.map((p) => p.Name)).toEqual([path]); // the pending value is not beside it

    await store.promote(path, rotationId, '1');
    const plain = await read(path);
    expect(plain.Type).toBe('SecureString');
    expect(JSON.parse(plain.Value!)).toEqual(next);
    expect(JSON.parse((await read(`${path}:current`)).Value!)).toEqual(next);
    expect(JSON.parse((await read(`${path}:previous`)).Value!)).toEqual(old);
    await store.discardPending(path, rotationId);
    await expect(read(pendingParameterName(path))).rejects.toMatchObject({ name: 'ParameterNotFound' });
  });

  it('restores the old value as a new latest version on rollback, since plain readers get the latest', async () => {
    const path = `/specific/${hex()}`;
    const old = credential();
    await ssm.send(new PutParameterCommand({ Name: path, Value: JSON.stringify(old), Type: 'SecureString' }));
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, credential(), null);
    const { version } = await store.promote(path, rotationId, '1');
    await store.rollback(path, rotationId, { toVersion: '1', fromVersion: version });
    const plain = await read(path);
    expect(JSON.parse(plain.Value!)).toEqual(old);
    expect(plain.Version).toBe(3);
  });

  it('refuses to promote over a newer version written outside rotator', async () => {
    const path = `/specific/${hex()}`;
    await ssm.send(new PutParameterCommand({ Name: path, Value: JSON.stringify(credential()), Type: 'SecureString' }));
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, credential(), null);
    await store.promote(path, rotationId, '1');
    await store.discardPending(path, rotationId);
    await ssm.send(
      new PutParameterCommand({ Name: path, Value: JSON.stringify(credential()), Type: 'SecureString', Overwrite: true }),
    );
    const next = randomUUID();
    await store.stagePending(path, next, credential(), null);
    const err = await rejection(store.promote(path, next, '2'), 'CONFLICT');
    expect(err.message).toContain('version 3');
  });
});

describe('file store specifics', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

  it('keeps files at 0600 and folders at 0700, with no temp files left behind', async () => {
    const store = new FileStore({ dir: nodePath.join(dir, 'modes') });
    const rotationId = randomUUID();
    await store.stagePending('app/db', rotationId, credential(), null);
    await store.promote('app/db', rotationId, null);
    const folder = nodePath.join(dir, 'modes', 'app', 'db');
    expect(fs.readdirSync(folder).sort()).toEqual(['current', 'pending.json', 'v000001.json']);
    await store.discardPending('app/db', rotationId);
    expect(fs.readdirSync(folder).sort()).toEqual(['current', 'v000001.json']);
    for (const f of fs.readdirSync(folder)) expect(modeOf(nodePath.join(folder, f))).toBe(0o600);
    for (const d of [nodePath.join(dir, 'modes'), nodePath.join(dir, 'modes', 'app'), folder]) expect(modeOf(d)).toBe(0o700);
  });

  it('lets exactly one of two stores promote when both expected the same current version', async () => {
    const a = new FileStore({ dir });
    const b = new FileStore({ dir });
    const path = `race/${hex()}`;
    await a.stagePending(path, 'first', credential(), null);
    const { version: v1 } = await a.promote(path, 'first', null);
    await a.discardPending(path, 'first');
    await a.stagePending(path, 'ra', credential(), v1);
    // As if b had taken the pending slot over (stale_pending: replace) after a staged: both now try to promote.
    const slot = nodePath.join(dir, path, 'pending.json');
    const taken = { ...JSON.parse(fs.readFileSync(slot, 'utf8')), rotation_id: 'rb' };
    const results = await Promise.allSettled([
      a.promote(path, 'ra', v1),
      (async () => {
        fs.writeFileSync(slot, JSON.stringify(taken));
        return b.promote(path, 'rb', v1);
      })(),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    expect(failed.reason).toMatchObject({ code: expect.stringMatching(/^(CONFLICT|NOT_FOUND)$/) });
  });

  it('waits for a lock held by a live process and gives up with TRANSIENT', async () => {
    const store = new FileStore({ dir, lockTimeoutMs: 50 });
    const path = `locked/${hex()}`;
    await store.stagePending(path, 'r', credential(), null);
    const folder = nodePath.join(dir, path);
    fs.writeFileSync(nodePath.join(folder, 'lock'), JSON.stringify({ pid: process.pid, host: os.hostname(), nonce: 'held' }));
    const err = await rejection(store.promote(path, 'r', null), 'TRANSIENT');
    expect(err.message).toContain('locked');
    fs.rmSync(nodePath.join(folder, 'lock'));
    expect((await store.promote(path, 'r', null)).version).toBe('1');
  });

  it('breaks a lock left by a process that died', async () => {
    const store = new FileStore({ dir, lockTimeoutMs: 50 });
    const path = `abandoned/${hex()}`;
    await store.stagePending(path, 'r', credential(), null);
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    fs.writeFileSync(nodePath.join(dir, path, 'lock'), JSON.stringify({ pid: dead, host: os.hostname(), nonce: 'dead' }));
    expect((await store.promote(path, 'r', null)).version).toBe('1');
    expect(fs.existsSync(nodePath.join(dir, path, 'lock'))).toBe(false);
  });

  it('refuses paths that would leave the store folder or collide with its own files', async () => {
    const store = new FileStore({ dir });
    for (const bad of ['../escape', 'a/../../b', 'a//b', 'app/current', '.hidden']) {
      await rejection(store.readCurrent(bad), 'CONFIG_INVALID');
    }
  });

  it('reports a corrupt version file without showing its content', async () => {
    const store = new FileStore({ dir });
    const path = `corrupt/${hex()}`;
    await store.stagePending(path, 'r', credential(), null);
    await store.promote(path, 'r', null);
    fs.writeFileSync(nodePath.join(dir, path, 'v000001.json'), 'hunter2-not-json');
    const err = await rejection(store.readCurrent(path), 'CONFLICT');
    expect(everythingIn(err)).not.toContain('hunter2');
  });
});

describe('aws-parameter-store labels over many rotations', () => {
  const ssm = ssmClient();
  const store = parameterStore();
  afterAll(async () => {
    ssm.destroy();
    await store.close();
  });

  it("keeps only current, previous and the latest rotation's mark, so SSM can still drop old versions", async () => {
    const path = `/labels/${hex()}`;
    let version: string | null = null;
    for (let i = 0; i < 4; i++) {
      const rotationId = randomUUID();
      await store.stagePending(path, rotationId, credential(), version);
      version = (await store.promote(path, rotationId, version)).version;
      await store.discardPending(path, rotationId);
    }
    const history = await ssm.send(new GetParameterHistoryCommand({ Name: path }));
    const labels = (history.Parameters ?? []).flatMap((p) => p.Labels ?? []);
    expect(labels.filter((l) => l.startsWith('rotation-'))).toHaveLength(1);
    expect(labels).toEqual(expect.arrayContaining(['current', 'previous']));
  });
});
