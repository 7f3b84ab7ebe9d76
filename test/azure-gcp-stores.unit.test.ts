// The azure-key-vault and gcp-secret-manager stores through their official SDKs, against protocol-faithful fakes
// (test/support/fake-*.ts say what those prove and what they do not): the shared contract, then what is store-specific.
import { randomBytes, randomUUID } from 'node:crypto';
import * as https from 'node:https';
import { SecretClient } from '@azure/keyvault-secrets';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { azureKeyVault } from '../activities/stores/azure-key-vault';
import type { AzureKeyVaultStore } from '../activities/stores/azure-key-vault/store';
import { gcpSecretManager } from '../activities/stores/gcp-secret-manager';
import { crc32c, type GcpSecretManagerStore } from '../activities/stores/gcp-secret-manager/store';
import type { SecretValue } from '../activities/types';
import { credential, describeStoreContract, rejection } from './contract/store-contract';
import { everythingIn } from './contract/no-secret';
import {
  azureStore,
  gcpCredentials,
  gcpStore,
  keyVault,
  kvClientOptions,
  PROJECT,
  secretManager,
  stopStandIns,
  tls,
  tokenCredential,
} from './support/azure-gcp-stand-ins';
import type { FakeKeyVault } from './support/fake-azure-key-vault';
import { startFakeSecretManager, type FakeSecretManager } from './support/fake-gcp-secret-manager';

const hex = () => randomBytes(4).toString('hex');

afterAll(() => stopStandIns());

// -- Azure Key Vault ------------------------------------------------------------------------------------------------

describeStoreContract(
  'azure-key-vault',
  async () => {
    const kv = await keyVault();
    return {
      store: azureStore(kv),
      open: (options) => azureStore(kv, options),
      path: () => `contract-${hex()}`,
    };
  },
  { keepsFields: false },
); // rotations need the stack's databases: test/azure-gcp-keep-fields.test.ts

describe('azure-key-vault specifics', () => {
  let kv: FakeKeyVault;
  let store: AzureKeyVaultStore;
  let sdk: SecretClient;
  beforeAll(async () => {
    kv = await keyVault();
    store = azureStore(kv);
    sdk = new SecretClient(kv.url, tokenCredential(kv.token), kvClientOptions);
  });

  async function publish(path: string, value: SecretValue, expected: string | null): Promise<string> {
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, value, expected);
    const { version } = await store.promote(path, rotationId, expected);
    await store.discardPending(path, rotationId);
    return version;
  }

  it('answers a request without a bearer token with the 401 challenge naming the tenant and the vault resource', async () => {
    const res = await new Promise<{ status: number; challenge: string; body: string }>((resolve, reject) => {
      const req = https.request(`${kv.url}/secrets/anything/?api-version=7.6`, { ca: tls.cert }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, challenge: String(r.headers['www-authenticate']), body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(401);
    expect(res.challenge).toMatch(
      /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]+", resource="https:\/\/vault\.azure\.net"$/,
    );
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('goes through the challenge once: the first request carries no token, the rest the credential’s', async () => {
    const fresh = azureStore(kv);
    const before = kv.unauthorized;
    const path = `challenge-${hex()}`;
    expect(await fresh.readCurrent(path)).toBeNull();
    expect(await fresh.readCurrent(path)).toBeNull();
    expect(kv.unauthorized - before).toBe(1);
  });

  it('fails PERMISSION_DENIED when the vault refuses the token, with neither the token nor the password in the error', async () => {
    const wrong = `not-the-token-${hex()}`;
    const refused = azureStore(kv, {}, wrong);
    const err = await rejection(refused.stagePending(`refused-${hex()}`, randomUUID(), credential(), null), 'PERMISSION_DENIED');
    expect(everythingIn(err)).not.toContain(wrong);
    expect(everythingIn(err)).not.toContain(kv.token);
    await rejection(refused.readCurrent(`refused-${hex()}`), 'PERMISSION_DENIED');
  });

  it('stages in <name>-rotator-pending, so the latest version of <name> is never the staged value, and disables it when the claim ends', async () => {
    const path = `layout-${hex()}`;
    const old = credential('app_a');
    const v1 = await publish(path, old, null);
    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(path, rotationId, next, v1);

    expect(JSON.parse((await sdk.getSecret(path)).value!)).toEqual(old);
    const claims: Array<{ version?: string; tags?: Record<string, string> }> = [];
    for await (const p of sdk.listPropertiesOfSecretVersions(`${path}-rotator-pending`)) claims.push(p);
    const mine = claims.find((c) => c.tags?.['rotator-rotation'] === rotationId)!;
    expect(mine.tags).toEqual({ 'rotator-rotation': rotationId, 'rotator-base': v1, 'rotator-claim': 'held' });

    const { version } = await store.promote(path, rotationId, v1);
    const latest = await sdk.getSecret(path);
    expect(latest.properties.version).toBe(version);
    expect(JSON.parse(latest.value!)).toEqual(next);
    expect(latest.properties.tags).toEqual({ 'rotator-published-by': rotationId, 'rotator-previous': v1 });

    await store.discardPending(path, rotationId);
    await expect(sdk.getSecret(`${path}-rotator-pending`, { version: mine.version! })).rejects.toMatchObject({ statusCode: 403 });
  });

  it('rolls back by writing the old value again as a new version, tagged with the rotation and the version it restores', async () => {
    const path = `rollback-${hex()}`;
    const old = credential();
    const v1 = await publish(path, old, null);
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, credential(), v1);
    const { version: v2 } = await store.promote(path, rotationId, v1);
    await store.rollback(path, rotationId, { toVersion: v1, fromVersion: v2 });
    const latest = await sdk.getSecret(path);
    expect(JSON.parse(latest.value!)).toEqual(old);
    expect(latest.properties.tags).toEqual({ 'rotator-rolled-back-by': rotationId, 'rotator-restores': v1 });
    await store.discardPending(path, rotationId);
  });

  it('gives the pending slot to exactly one of two rotations staging at the same moment, round after round, and the loser leaves no claim', async () => {
    for (let round = 0; round < 10; round++) {
      const path = `race-${hex()}`;
      const v1 = await publish(path, credential('app_a'), null);
      const ids = [randomUUID(), randomUUID()];
      const results = await Promise.allSettled(ids.map((id) => store.stagePending(path, id, credential('app_b'), v1)));
      const won = ids.filter((_, i) => results[i]!.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'CONFLICT' });
      const holding = [];
      for (const id of ids) if (await store.readPending(path, id)) holding.push(id);
      expect(holding).toEqual(won);
      expect(await store.otherPending(path, randomUUID())).toBe(won[0] ?? null);
    }
  });

  it('refuses a path Key Vault cannot name, or one that would collide with a pending secret, at validation', () => {
    expect(azureKeyVault.checkPath('orders-db')).toBeNull();
    expect(azureKeyVault.checkPath('orders/db')).toContain('expected a Key Vault secret name');
    expect(azureKeyVault.checkPath('orders-db-rotator-pending')).toContain('ends in -rotator-pending');
    expect(azureKeyVault.checkPath('x'.repeat(120))).toContain('too long');
  });

  it('builds a store from a provider block for each auth type without asking Entra ID for anything', async () => {
    const blocks = [
      { type: 'azure-key-vault', vault_url: 'https://orders.vault.azure.net' },
      {
        type: 'azure-key-vault',
        vault_url: 'https://orders.vault.azure.net',
        auth: { type: 'managed_identity', client_id: 'c' },
      },
      {
        type: 'azure-key-vault',
        vault_url: 'https://orders.vault.azure.net',
        auth: { type: 'service_principal', tenant_id: 't', client_id: 'c', client_secret: 's' },
      },
      { type: 'azure-key-vault', vault_url: 'https://orders.vault.azure.net', auth: { type: 'cli' } },
    ];
    for (const block of blocks) {
      const created = await azureKeyVault.create(azureKeyVault.schema.parse(block));
      expect(created.capabilities).toEqual({ writable: true, versions: true, checkAndSet: false });
      await created.close();
    }
    expect(azureKeyVault.schema.safeParse({ type: 'azure-key-vault', vault_url: 'http://orders.vault.azure.net' }).success).toBe(
      false,
    );
    expect(
      azureKeyVault.schema.safeParse({
        type: 'azure-key-vault',
        vault_url: 'https://v.vault.azure.net',
        auth: { type: 'service_principal' },
      }).success,
    ).toBe(false);
  });
});

describeStoreContract(
  'gcp-secret-manager',
  async () => {
    const sm = await secretManager();
    return { store: gcpStore(sm), open: (options) => gcpStore(sm, options), path: () => `contract-${hex()}` };
  },
  { keepsFields: false },
); // rotations need the stack's databases: test/azure-gcp-keep-fields.test.ts

describe('gcp-secret-manager specifics', () => {
  let sm: FakeSecretManager;
  let store: GcpSecretManagerStore;
  let sdk: SecretManagerServiceClient;
  beforeAll(async () => {
    sm = await secretManager();
    store = gcpStore(sm);
    sdk = new SecretManagerServiceClient({ apiEndpoint: sm.host, port: sm.port, sslCreds: gcpCredentials(sm.token) });
  });
  afterAll(async () => {
    await sdk?.close();
  });

  const name = (id: string) => `projects/${PROJECT}/secrets/${id}`;

  async function publish(path: string, value: SecretValue, expected: string | null): Promise<string> {
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, value, expected);
    const { version } = await store.promote(path, rotationId, expected);
    await store.discardPending(path, rotationId);
    return version;
  }

  it('computes the CRC32C Secret Manager checks payloads against', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('is refused without the bearer token (UNAUTHENTICATED), which it reports as PERMISSION_DENIED leaking no value', async () => {
    const before = sm.unauthenticated;
    const anonymous = gcpStore(sm, {}, null);
    await rejection(anonymous.readCurrent(`refused-${hex()}`), 'PERMISSION_DENIED');
    const wrong = `not-the-token-${hex()}`;
    const err = await rejection(
      gcpStore(sm, {}, wrong).stagePending(`refused-${hex()}`, randomUUID(), credential(), null),
      'PERMISSION_DENIED',
    );
    expect(everythingIn(err)).not.toContain(wrong);
    expect(sm.unauthenticated - before).toBeGreaterThanOrEqual(2);
  });

  it('stages in <id>-rotator-pending, so `latest` of <id> never serves the staged value, and deletes it when the claim ends', async () => {
    const path = `layout-${hex()}`;
    const old = credential('app_a');
    const v1 = await publish(path, old, null);
    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(path, rotationId, next, v1);

    const [latest] = await sdk.accessSecretVersion({ name: `${name(path)}/versions/latest` });
    expect(JSON.parse(Buffer.from(latest.payload!.data!).toString())).toEqual(old);
    const [pending] = await sdk.getSecret({ name: name(`${path}-rotator-pending`) });
    expect(pending.annotations).toEqual({ 'rotator.rotation': rotationId, 'rotator.base': v1 });
    expect(pending.labels).toEqual({ 'managed-by': 'rotator' });

    const { version } = await store.promote(path, rotationId, v1);
    expect(version).toBe(String(Number(v1) + 1));
    const [secret] = await sdk.getSecret({ name: name(path) });
    expect(secret.annotations).toEqual({
      'rotator.published-by': rotationId,
      'rotator.published-version': version,
      'rotator.previous-version': v1,
    });

    await store.discardPending(path, rotationId);
    await expect(sdk.getSecret({ name: name(`${path}-rotator-pending`) })).rejects.toMatchObject({ code: 5 });
  });

  it('undoes a first publish by disabling its version, so `latest` serves nothing', async () => {
    const path = `first-${hex()}`;
    const rotationId = randomUUID();
    await store.stagePending(path, rotationId, credential(), null);
    const { version } = await store.promote(path, rotationId, null);
    await store.rollback(path, rotationId, { toVersion: null, fromVersion: version });
    await expect(sdk.accessSecretVersion({ name: `${name(path)}/versions/latest` })).rejects.toMatchObject({ code: 9 });
    const [v] = await sdk.getSecretVersion({ name: `${name(path)}/versions/${version}` });
    expect(v.state).toBe('DISABLED');
    await store.discardPending(path, rotationId);
  });

  it('detects a version another writer added between its check and its write, puts that value back on top and fails with CONFLICT', async () => {
    const path = `intruder-${hex()}`;
    const v1 = await publish(path, credential('app_a'), null);
    const rotationId = randomUUID();
    const mine = credential('app_b');
    await store.stagePending(path, rotationId, mine, v1);
    const theirs = credential('app_a');
    sm.interleaveNextAdd(path, Buffer.from(JSON.stringify(theirs)));

    const err = await rejection(store.promote(path, rotationId, v1), 'CONFLICT');
    expect(err.message).toContain('another writer added version 2');
    expect(await store.readCurrent(path)).toEqual({ version: '4', value: theirs });
    expect(await store.readVersion(path, '3')).toBeNull(); // ours, disabled
    expect(await store.publishedBy(path, rotationId)).toBeNull();
    expect((await store.readPending(path, rotationId))?.value).toEqual(mine);
    await store.discardPending(path, rotationId);
  });

  it('finishes a promote whose record a worker death cut short, from the intent it wrote first', async () => {
    const path = `intent-${hex()}`;
    const v1 = await publish(path, credential('app_a'), null);
    const rotationId = randomUUID();
    const next = credential('app_b');
    await store.stagePending(path, rotationId, next, v1);
    // What a promote leaves when the worker dies right after AddSecretVersion: the intent, and the new version.
    const [secret] = await sdk.getSecret({ name: name(path) });
    await sdk.updateSecret({
      secret: {
        name: name(path),
        etag: secret.etag,
        annotations: { 'rotator.promoting': rotationId, 'rotator.promoting-after': v1, 'rotator.previous-version': v1 },
      },
      updateMask: { paths: ['annotations'] },
    });
    const data = Buffer.from(JSON.stringify(next));
    await sdk.addSecretVersion({ parent: name(path), payload: { data, dataCrc32c: crc32c(data) } });

    expect(await store.publishedBy(path, rotationId)).toEqual({ version: '2', previousVersion: v1 });
    expect(await store.promote(path, rotationId, v1)).toEqual({ version: '2', previousVersion: v1 });
    expect(await store.readCurrent(path)).toEqual({ version: '2', value: next });
    const [after] = await sdk.getSecret({ name: name(path) });
    expect(after.annotations?.['rotator.published-by']).toBe(rotationId);
    await store.discardPending(path, rotationId);
  });

  it('keeps annotations other tools put on the secret', async () => {
    const path = `others-${hex()}`;
    const v1 = await publish(path, credential(), null);
    const [secret] = await sdk.getSecret({ name: name(path) });
    await sdk.updateSecret({
      secret: { name: name(path), etag: secret.etag, annotations: { ...secret.annotations, 'team.owner': 'payments' } },
      updateMask: { paths: ['annotations'] },
    });
    await publish(path, credential(), v1);
    const [after] = await sdk.getSecret({ name: name(path) });
    expect(after.annotations?.['team.owner']).toBe('payments');
  });

  it('reaches a plaintext emulator from a provider block with endpoint http://host:port', async () => {
    const emulator = await startFakeSecretManager({ project: PROJECT });
    try {
      const config = gcpSecretManager.schema.parse({
        type: 'gcp-secret-manager',
        project: PROJECT,
        endpoint: `http://${emulator.host}:${emulator.port}`,
      });
      const fromBlock = await gcpSecretManager.create(config);
      try {
        const path = `plugin-${hex()}`;
        const rotationId = randomUUID();
        const value = credential();
        await fromBlock.stagePending(path, rotationId, value, null);
        const { version } = await fromBlock.promote(path, rotationId, null);
        expect(await fromBlock.readCurrent(path)).toEqual({ version, value });
      } finally {
        await fromBlock.close();
      }
    } finally {
      await emulator.stop();
    }
  });

  it('refuses a path Secret Manager cannot name, or one that would collide with a pending secret, at validation', () => {
    expect(gcpSecretManager.checkPath('orders_db')).toBeNull();
    expect(gcpSecretManager.checkPath('orders/db')).toContain('expected a Secret Manager secret id');
    expect(gcpSecretManager.checkPath('orders-rotator-pending')).toContain('ends in -rotator-pending');
    expect(gcpSecretManager.schema.safeParse({ type: 'gcp-secret-manager', project: 'p', endpoint: 'x' }).success).toBe(false);
  });
});
