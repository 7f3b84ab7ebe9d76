// Logging in to the stack's OpenBao for the worker's token: AppRole, and Kubernetes with ServiceAccount tokens the real
// kube-apiserver mints and reviews (TokenReview); wrong credentials refused clearly; an expiring login replaced.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { vault } from '../activities/stores/vault';
import { vaultSession } from '../activities/stores/vault/auth';
import { EngineRegistry } from '../activities/leases';
import type { SecretStore } from '../activities/types';
import { parseConfig } from '../src/config/load';
import { RotatorError } from '../src/kernel/errors';
import { startKeepAlives } from '../workers/worker';
import type { TokenRenewer } from '../activities/stores/vault/public';
import { adminClients } from './support/kube';
import { testStack } from './support/stack';
import { pgLogin, pgRole, vaultCall } from './support/vault-roles';

type VaultProvider = Parameters<typeof vault.create>[0];

const stack = testStack();
const address = stack.vault!.address;
const kube = stack.kubernetes!;
const id = randomBytes(4).toString('hex');
/** The KV prefix the test's policy opens; nothing outside it is readable with a login. */
const PREFIX = `auth-${id}`;
const POLICY = `rotator-auth-${id}`;

async function bao(method: string, apiPath: string, body?: unknown): Promise<unknown> {
  const { status, text } = await vaultCall(method, apiPath, body);
  if (status >= 300) throw new Error(`${method} ${apiPath}: ${status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Enables an auth method unless this stack has it already (a re-run of the file). */
async function enableAuth(mount: string, type: string): Promise<void> {
  const { status, text } = await vaultCall('POST', `sys/auth/${mount}`, { type });
  if (status >= 300 && !/already in use/.test(text)) throw new Error(`enabling ${type} at ${mount}: ${status} ${text}`);
}

/** The config of one secret in the L5 spec's form, as the worker loads it; returns its vault provider block. */
function l5Provider(auth: string, env: Record<string, string>, extra = ''): VaultProvider {
  const yaml = [
    'secrets:',
    '  app_db:',
    '    provider: vault',
    `    path: secret/data/${PREFIX}/app-db`,
    '    vault: { address: "${VAULT_ADDR}" }',
    `    auth: ${auth}`,
    extra,
  ].join('\n');
  const config = parseConfig(yaml, { VAULT_ADDR: address, ...env });
  return config.providers[config.secrets.app_db!.provider] as VaultProvider;
}

async function approleRole(name: string, body: Record<string, unknown>, mount = 'approle') {
  await bao('POST', `auth/${mount}/role/${name}`, { token_policies: [POLICY], ...body });
  const roleId = ((await bao('GET', `auth/${mount}/role/${name}/role-id`)) as { data: { role_id: string } }).data.role_id;
  const secretId = ((await bao('POST', `auth/${mount}/role/${name}/secret-id`)) as { data: { secret_id: string } }).data
    .secret_id;
  return { roleId, secretId };
}

/** Which login a token came from, asked with the root token (the store's own view is only its token). */
async function tokenPath(token: string): Promise<string | null> {
  const { status, text } = await vaultCall('POST', 'auth/token/lookup', { token });
  return status === 200 ? (JSON.parse(text) as { data: { path: string } }).data.path : null;
}

/** Rejects with the RotatorError `promise` throws. */
async function refusal(promise: Promise<unknown>): Promise<RotatorError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RotatorError);
  return err as RotatorError;
}

/** A whole rotation's worth of store calls: stage, read back, promote, read current and the version before. */
async function roundTrip(store: SecretStore, name: string): Promise<void> {
  const secret = `secret/data/${PREFIX}/${name}`;
  const rotationId = `rot-${randomBytes(4).toString('hex')}`;
  expect(await store.readCurrent(secret)).toBeNull();
  await store.stagePending(secret, rotationId, { username: 'app_a', password: 'first-password-123' }, null);
  expect(await store.readPending(secret, rotationId)).toEqual({
    value: { username: 'app_a', password: 'first-password-123' },
    baseVersion: null,
  });
  const first = await store.promote(secret, rotationId, null);
  await store.discardPending(secret, rotationId);
  const next = `rot-${randomBytes(4).toString('hex')}`;
  await store.stagePending(secret, next, { username: 'app_b', password: 'second-password-45' }, first.version);
  const second = await store.promote(secret, next, first.version);
  await store.discardPending(secret, next);
  expect(await store.readCurrent(secret)).toEqual({
    version: second.version,
    value: { username: 'app_b', password: 'second-password-45' },
  });
  expect(await store.readVersion(secret, first.version)).toEqual({ username: 'app_a', password: 'first-password-123' });
}

/** Polls `probe` until it returns a value, or fails at the deadline with what it last saw. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  const kv = (p: string) => `path "secret/${p}/${PREFIX}/*" { capabilities = ["create", "read", "update", "delete"] }`;
  const pending = (p: string) =>
    `path "secret/${p}/rotator-pending/${PREFIX}/*" { capabilities = ["create", "read", "update", "delete"] }`;
  await bao('POST', `sys/policies/acl/${POLICY}`, {
    policy: [
      kv('data'),
      kv('metadata'),
      pending('data'),
      pending('metadata'),
      `path "${stack.vaultDatabase!.mount}/creds/*" { capabilities = ["read"] }`,
      'path "sys/leases/revoke" { capabilities = ["update"] }',
    ].join('\n'),
  });
  await enableAuth('approle', 'approle');
});

describe('AppRole login', () => {
  it('logs in with role_id and secret_id, and the store reads and writes with that token', async () => {
    const { roleId, secretId } = await approleRole(`app-${id}`, { token_ttl: '5m' });
    const provider = l5Provider('{ method: approle, role_id: "${ROLE_ID}", secret_id: "${SECRET_ID}" }', {
      ROLE_ID: roleId,
      SECRET_ID: secretId,
    });
    expect(provider).toMatchObject({ token: '', auth: { method: 'approle', role_id: roleId, secret_id: secretId } });
    const store = await vault.create(provider);
    const session = vaultSession(provider); // the store's own: one login per provider
    try {
      expect(await tokenPath(session.token())).toBe('auth/approle/login');
      await roundTrip(store, 'approle');
      // The policy, not a root token, decides: outside its prefix the store is refused.
      const denied = await refusal(store.readCurrent(`secret/data/elsewhere-${id}/x`));
      expect(denied.code).toBe('PERMISSION_DENIED');
    } finally {
      session.release();
      await store.close();
    }
  });

  it('gives the lease engine the same login as the store: one token issues and revokes a database credential', async () => {
    const { roleId, secretId } = await approleRole(`engine-${id}`, { token_ttl: '5m' });
    const provider = l5Provider('{ method: approle, role_id: "${ROLE_ID}", secret_id: "${SECRET_ID}" }', {
      ROLE_ID: roleId,
      SECRET_ID: secretId,
    });
    const engines = new EngineRegistry({ db: provider });
    const engine = await engines.engine('db');
    const session = vaultSession(provider);
    const store = await vault.create(provider);
    try {
      const token = session.token();
      expect(await tokenPath(token)).toBe('auth/approle/login');
      const issued = await engine.issue(stack.vaultDatabase!.mount, await pgRole({ default_ttl: '1m', max_ttl: '5m' }));
      expect(await pgLogin(issued.username, issued.password)).toBe('ok');
      await engine.revoke(issued.leaseId);
      expect(await pgLogin(issued.username, issued.password)).not.toBe('ok');
      expect(session.token()).toBe(token); // the store did not log in for itself
    } finally {
      await store.close();
      session.release();
      await engines.close();
    }
  });

  it('refuses a wrong secret_id with PERMISSION_DENIED naming approle and its mount, never the secret_id', async () => {
    const { roleId } = await approleRole(`wrong-${id}`, {});
    const wrong = `not-the-secret-id-${randomBytes(8).toString('hex')}`;
    const provider = l5Provider('{ method: approle, role_id: "${ROLE_ID}", secret_id: "${SECRET_ID}" }', {
      ROLE_ID: roleId,
      SECRET_ID: wrong,
    });
    const err = await refusal(vault.create(provider));
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toBe('vault refused the approle at auth/approle login (HTTP 400): invalid role or secret ID');
    expect(err.message).not.toContain(wrong);
    expect(err.message).not.toContain(roleId);
  });

  it('logs in at the mount given (auth.mount)', async () => {
    const mount = `approle-${id}`;
    await enableAuth(mount, 'approle');
    const { roleId, secretId } = await approleRole(`elsewhere-${id}`, {}, mount);
    const provider = l5Provider(`{ method: approle, role_id: "\${ROLE_ID}", secret_id: "\${SECRET_ID}", mount: auth/${mount} }`, {
      ROLE_ID: roleId,
      SECRET_ID: secretId,
    });
    const store = await vault.create(provider);
    try {
      await roundTrip(store, 'mounted');
    } finally {
      await store.close();
    }
  });
});

describe('Kubernetes login, reviewed by the real kube-apiserver', () => {
  const namespace = `vault-auth-${id}`;
  const role = `app-${id}`;
  const files: string[] = [];

  /** A token of `serviceAccount` from the TokenRequest API, in a 0600 file as a pod would have it mounted. */
  async function tokenFile(serviceAccount: string): Promise<{ file: string; jwt: string }> {
    const { core } = adminClients();
    const minted = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const jwt = minted.status!.token;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-sa-'));
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, jwt, { mode: 0o600 });
    files.push(dir);
    return { file, jwt };
  }

  beforeAll(async () => {
    const { core, rbac } = adminClients();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    for (const name of ['vault-reviewer', 'rotator', 'someone-else'])
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    // OpenBao asks the apiserver who a token belongs to (TokenReview) with a token that may ask.
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `vault-reviewer-${id}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
        subjects: [{ kind: 'ServiceAccount', name: 'vault-reviewer', namespace }],
      },
    });
    const reviewer = await core.createNamespacedServiceAccountToken({
      name: 'vault-reviewer',
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    await enableAuth('kubernetes', 'kubernetes');
    await bao('POST', 'auth/kubernetes/config', {
      kubernetes_host: kube.server,
      kubernetes_ca_cert: kube.ca,
      token_reviewer_jwt: reviewer.status!.token,
      disable_local_ca_jwt: true,
    });
    await bao('POST', `auth/kubernetes/role/${role}`, {
      bound_service_account_names: ['rotator'],
      bound_service_account_namespaces: [namespace],
      token_policies: [POLICY],
      token_ttl: '5m',
    });
  });

  afterAll(async () => {
    for (const dir of files) fs.rmSync(dir, { recursive: true, force: true });
    const { core, rbac } = adminClients();
    await rbac.deleteClusterRoleBinding({ name: `vault-reviewer-${id}` }).catch(() => undefined);
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it("logs in with the ServiceAccount's token read from jwt_path, and the store works with that login", async () => {
    const { file } = await tokenFile('rotator');
    const provider = l5Provider(`{ method: kubernetes, role: ${role}, jwt_path: "${file}" }`, {});
    const store = await vault.create(provider);
    const session = vaultSession(provider);
    try {
      expect(await tokenPath(session.token())).toBe('auth/kubernetes/login');
      await roundTrip(store, 'kubernetes');
    } finally {
      session.release();
      await store.close();
    }
  });

  it('refuses the token of another ServiceAccount clearly, without quoting it', async () => {
    const { file, jwt } = await tokenFile('someone-else');
    const err = await refusal(vault.create(l5Provider(`{ method: kubernetes, role: ${role}, jwt_path: "${file}" }`, {})));
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toBe(
      'vault refused the kubernetes at auth/kubernetes login (HTTP 403): service account name not authorized',
    );
    expect(err.message).not.toContain(jwt);
    expect(err.message).not.toContain(jwt.split('.')[1]!);
  });

  it('says which file it could not read when jwt_path is missing', async () => {
    const missing = path.join(os.tmpdir(), `no-such-token-${id}`);
    const err = await refusal(vault.create(l5Provider(`{ method: kubernetes, role: ${role}, jwt_path: "${missing}" }`, {})));
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', path: 'auth.jwt_path' });
    expect(err.message).toContain(`cannot read the service account token at ${missing} (ENOENT)`);
  });
});

describe('a login whose token expires', () => {
  /** token_ttl 2s, token_max_ttl 4s: renewable once, briefly; only new logins keep the worker going. */
  async function shortLogin(name: string): Promise<VaultProvider> {
    const { roleId, secretId } = await approleRole(name, { token_ttl: '2s', token_max_ttl: '4s' });
    return l5Provider(
      '{ method: approle, role_id: "${ROLE_ID}", secret_id: "${SECRET_ID}" }',
      { ROLE_ID: roleId, SECRET_ID: secretId },
      '    renewal: { enabled: true }',
    );
  }

  it("is renewed and then replaced by the worker's renewal, and the store keeps working throughout", async () => {
    const provider = await shortLogin(`short-${id}`);
    const secret = `secret/data/${PREFIX}/short`;
    await bao('POST', secret, { data: { username: 'app', password: 'short-lived-login-1' } });
    const [renewer] = (await startKeepAlives({ short: provider })) as TokenRenewer[];
    const store = await vault.create(provider);
    const session = vaultSession(provider);
    try {
      const tokens = [session.token()];
      // Past the first token's max TTL twice over: each read must succeed, with whichever token is current.
      await until('three logins', 20_000, async () => {
        expect((await store.readCurrent(secret))?.value.password).toBe('short-lived-login-1');
        if (session.token() !== tokens[tokens.length - 1]) tokens.push(session.token());
        return tokens.length >= 3 && renewer!.counts.logins >= 2 ? tokens : undefined;
      });
      expect(renewer!.counts.renewals).toBeGreaterThanOrEqual(1);
      // The first token is gone (its max TTL passed), the current one is a fresh AppRole login.
      await until('the first token to expire', 10_000, async () => ((await tokenPath(tokens[0]!)) === null ? true : undefined));
      expect(await tokenPath(session.token())).toBe('auth/approle/login');
      expect((await store.readCurrent(secret))?.value.password).toBe('short-lived-login-1');
    } finally {
      renewer!.stop();
      session.release();
      await store.close();
    }
  }, 40_000);

  it('is replaced by a new login at 2/3 of its TTL when renewal is off', async () => {
    const { roleId, secretId } = await approleRole(`norenew-${id}`, { token_ttl: '2s', token_max_ttl: '4s' });
    const provider = l5Provider('{ method: approle, role_id: "${ROLE_ID}", secret_id: "${SECRET_ID}" }', {
      ROLE_ID: roleId,
      SECRET_ID: secretId,
    });
    expect(provider.renewal).toBeUndefined();
    const secret = `secret/data/${PREFIX}/norenew`;
    await bao('POST', secret, { data: { username: 'app', password: 'short-lived-login-3' } });
    const [renewer] = (await startKeepAlives({ norenew: provider })) as TokenRenewer[];
    const store = await vault.create(provider);
    try {
      await until('two new logins', 15_000, async () => {
        expect((await store.readCurrent(secret))?.value.password).toBe('short-lived-login-3');
        return renewer!.counts.logins >= 2 ? true : undefined;
      });
      expect(renewer!.counts.renewals).toBe(0);
    } finally {
      renewer!.stop();
      await store.close();
    }
  }, 30_000);

  it('is replaced on the next request when no renewer ran: the refused token calls for a new login', async () => {
    const provider = await shortLogin(`lone-${id}`);
    const secret = `secret/data/${PREFIX}/lone`;
    await bao('POST', secret, { data: { username: 'app', password: 'short-lived-login-2' } });
    const store = await vault.create(provider);
    const session = vaultSession(provider);
    try {
      const first = session.token();
      expect((await store.readCurrent(secret))?.value.password).toBe('short-lived-login-2');
      await until('the token to expire', 10_000, async () => ((await tokenPath(first)) === null ? true : undefined));
      expect((await store.readCurrent(secret))?.value.password).toBe('short-lived-login-2');
      expect(session.token()).not.toBe(first);
    } finally {
      session.release();
      await store.close();
    }
  }, 30_000);
});
