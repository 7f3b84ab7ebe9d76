// The L5 secret spec's YAML accepted as written: every example of the spec, what it becomes, and each malformed variant.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { vault } from '../activities/stores/vault';
import { awsSecretsManager } from '../activities/stores/aws-secrets-manager';
import { EnvStore } from '../activities/stores/env/store';
import { checkConfigOffline, parseConfig, sensitiveValues } from '../src/config/load';
import { READER_LEASED_NOTE } from '../src/config/schema';
import { configNotes } from '../src/config/warnings';
import { dynamicSecrets } from '../src/config/schema';
import { normalizeL5 } from '../src/config/l5';
import { parseSecretUri } from '../src/kernel/uri';
import { issuesOf } from '../src/config/load';
import type { Config } from '../src/config/schema';
import { planRotation } from '../src/config/plan';
import { configError } from './support/config';

/** A copy of the spec (the seed of this work), so the test runs on a fresh clone. */
const SPEC = readFileSync(join(__dirname, 'fixtures/l5-secret-spec.md'), 'utf8');

/** Every ```yaml block of the spec, named by the heading it is under. */
function examples(markdown: string): Array<{ heading: string; yaml: string }> {
  const out: Array<{ heading: string; yaml: string }> = [];
  let heading = '';
  for (const m of markdown.matchAll(/^#{2,4} (.+)$|^```yaml\n([\s\S]*?)^```$/gm)) {
    if (m[1] !== undefined) heading = m[1].trim();
    else out.push({ heading, yaml: m[2]! });
  }
  return out;
}

const EXAMPLES = examples(SPEC);
const example = (heading: string): string => EXAMPLES.find((e) => e.heading === heading)!.yaml;

/**
 * Dummy values for the variables the examples use: those they write (${VAULT_ADDR}, ${KMS_KEY_ID}) and those they
 * imply (the built-in vault provider's VAULT_TOKEN; AWS_REGION for a secret that names no region, as the SDK does).
 */
const ENV = {
  VAULT_ADDR: 'http://vault.example:8200',
  VAULT_TOKEN: 'dummy-vault-token',
  KMS_KEY_ID: 'alias/dummy-kms-key',
  AWS_REGION: 'us-east-1',
};

/**
 * How each example validates. `file`: as written. `unavailable`: valid by the spec, but this build cannot serve it;
 * an offline check accepts it and names these, a load refuses the file with them. `bindings`: a streams/lookups/
 * checkpoints fragment, wrapped with the secrets it references (the spec's own definitions where it has one, an
 * env secret otherwise). `fragment`: a secret shown for one block, without its location, validated with the path
 * given. `uris`: not a document, values to paste into a binding: each `secret://` URI is parsed.
 */
type How =
  | { as: 'file'; unavailable?: string[]; leasedByReaders?: string[] }
  | { as: 'bindings' }
  | { as: 'fragment'; secret: string; path: string }
  | { as: 'uris' };

const HOW: Record<string, How> = {
  'HashiCorp Vault': { as: 'file' },
  // A dynamic secret without publish: its readers lease it (the reader library); validate notes that rotator does not.
  'Dynamic Secrets (Vault)': { as: 'file', leasedByReaders: ['mongo_credentials'] },
  'AWS Secrets Manager': { as: 'file' },
  'AWS Parameter Store': { as: 'file' },
  'Kubernetes Secrets': { as: 'file' },
  'Azure Key Vault': { as: 'file' },
  'GCP Secret Manager': { as: 'file' },
  'Environment Variables (Development)': { as: 'file' },
  'In Stream Bindings': { as: 'bindings' },
  'In Lookup Bindings': { as: 'bindings' },
  'In Checkpoint Storage': { as: 'bindings' },
  'Full URI Reference': { as: 'bindings' },
  Examples: { as: 'uris' },
  'Secret Groups': { as: 'file' },
  'Automatic Rotation Detection': { as: 'file' },
  'Dual-Secret Pattern': { as: 'file' },
  'Principle of Least Privilege': { as: 'fragment', secret: 'kafka_credentials', path: 'secret/data/production/kafka' },
  'Secret Isolation': { as: 'file' },
  'Audit Logging': { as: 'file' },
  'Missing Secrets': { as: 'file' },
  'Provider Unavailable': { as: 'fragment', secret: 'database_password', path: 'secret/data/production/database' },
  'Development Configuration': { as: 'file' },
};

/** The secret:// names a document's strings reference. */
function referenced(node: unknown): string[] {
  if (typeof node === 'string') {
    if (!node.startsWith('secret://')) return [];
    try {
      return [parseSecretUri(node).secret];
    } catch {
      return [node];
    }
  }
  if (Array.isArray(node)) return node.flatMap(referenced);
  if (node && typeof node === 'object') return Object.values(node).flatMap(referenced);
  return [];
}

/** The spec's own definition of a secret, from the first example that validates as a file and defines it. */
function definition(secret: string): unknown {
  for (const { heading, yaml } of EXAMPLES) {
    const how = HOW[heading];
    if (how?.as !== 'file' || how.unavailable) continue;
    const entry = (parse(yaml) as { secrets?: Record<string, unknown> } | null)?.secrets?.[secret];
    if (entry) return entry;
  }
  return { provider: 'env', variable: secret.toUpperCase() };
}

function parseOk(text: string): Config {
  return parseConfig(text, ENV, 'l5.yaml');
}

describe("the L5 spec's examples", () => {
  it('are the 22 yaml blocks under these headings of the spec', () => {
    expect(EXAMPLES.map((e) => e.heading)).toEqual(Object.keys(HOW));
  });

  it('use only the variables given dummy values here', () => {
    const used = new Set(
      EXAMPLES.flatMap((e) => [...e.yaml.matchAll(/^[^#\n]*\$\{([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => m[1])),
    );
    expect([...used].filter((v) => !(v! in ENV))).toEqual([]);
  });

  describe.each(EXAMPLES.map((e) => [e.heading, e.yaml] as const))('%s', (heading, yaml) => {
    const how = HOW[heading]!;

    if (how.as === 'file' && !how.unavailable) {
      it('validates as written', () => {
        const notes = (how.leasedByReaders ?? []).map((secret) => ({ secret, message: READER_LEASED_NOTE }));
        expect(checkConfigOffline(yaml, ENV)).toEqual({ unchecked: [], unavailable: [], notes });
        const config = parseOk(yaml);
        expect(configNotes(config)).toEqual(notes);
        // rotator's worker keeps no lease for a secret its readers lease.
        expect(dynamicSecrets(config)).toEqual([]);
        for (const secret of how.leasedByReaders ?? [])
          expect(config.secrets[secret]).toMatchObject({ type: 'dynamic', lease: { increment_seconds: 3600 } });
      });
    }

    if (how.as === 'file' && how.unavailable) {
      it('validates offline, and a load refuses it naming what this build cannot serve', () => {
        const { unchecked, unavailable } = checkConfigOffline(yaml, ENV);
        expect(unchecked).toEqual([]);
        expect(unavailable.map((u) => u.path)).toEqual(how.unavailable);
        const refused = configError(yaml, ENV);
        for (const path of how.unavailable!) expect(refused).toContain(`${path}: `);
        expect(refused.split('\n')).toHaveLength(1 + how.unavailable!.length);
      });
    }

    if (how.as === 'bindings') {
      it('validates wrapped with the secrets it references, and names each reference when they are missing', () => {
        const doc = parse(yaml) as Record<string, unknown>;
        const names = [...new Set(referenced(doc))];
        expect(names.length).toBeGreaterThan(0);
        const wrapped = { ...doc, secrets: Object.fromEntries(names.map((n) => [n, definition(n)])) };
        expect(() => parseOk(stringify(wrapped))).not.toThrow();
        const bare = configError(stringify({ ...doc, secrets: {} }), ENV);
        for (const n of names) expect(bare).toContain(`references unknown secret "${n}"`);
      });
    }

    if (how.as === 'fragment') {
      it('validates with the location it leaves out, which a file must give', () => {
        const doc = parse(yaml) as { secrets: Record<string, Record<string, unknown>> };
        expect(configError(yaml, ENV)).toContain(`secrets.${how.secret}.path: missing`);
        doc.secrets[how.secret]!.path = how.path;
        expect(() => parseOk(stringify(doc))).not.toThrow();
      });
    }

    if (how.as === 'uris') {
      it('holds secret:// URIs that parse to a name, a key, a version and a default', () => {
        const values = Object.values(parse(yaml) as Record<string, string>).map((v) => parseSecretUri(v));
        expect(values).toEqual([
          { secret: 'kafka_credentials', key: 'password' },
          { secret: 'mongo_connection' },
          { secret: 'api_key', version: '2' },
          { secret: 'optional_secret', key: 'key', default: 'default_value' },
        ]);
      });
    }
  });
});

describe("what the spec's form becomes", () => {
  it('HashiCorp Vault: a vault provider from the vault: and auth: blocks, with renewal; keys and cache on the secret', () => {
    const config = parseOk(example('HashiCorp Vault'));
    const secret = config.secrets.kafka_credentials!;
    expect(secret.provider).toMatch(/^l5-vault-[0-9a-f]{10}$/);
    expect(config.providers[secret.provider]).toEqual({
      type: 'vault',
      address: 'http://vault.example:8200',
      namespace: 'credit-card',
      token: '',
      auth: { method: 'kubernetes', role: 'flink-reader' },
      renewal: { enabled: true, increment: 3_600_000 },
      pending_prefix: 'rotator-pending',
      stale_pending: 'fail',
    });
    expect(secret).toMatchObject({
      path: 'secret/data/production/kafka',
      keys: ['username', 'password'],
      cache: { enabled: true, ttl: 300_000 },
    });
  });

  it('AWS Secrets Manager: secret_id is the path; region the provider; the version stage and auto refresh stay with readers', () => {
    const config = parseOk(example('AWS Secrets Manager'));
    const secret = config.secrets.mongo_connection!;
    expect(config.providers[secret.provider]).toEqual({
      type: 'aws-secrets-manager',
      region: 'us-east-1',
      stale_pending: 'fail',
      rotation_tags: false,
    });
    expect(secret).toMatchObject({
      path: 'production/mongodb/connection',
      keys: ['uri', 'username', 'password'],
      read: { version_stage: 'AWSCURRENT' },
      refresh: { auto_refresh: true, refresh_interval: 3_600_000 },
    });
    expect(secret.rotation).toBeUndefined();
  });

  it('AWS Parameter Store: name is the path, kms_key_id the provider’s, the parameter type kept apart from the secret’s', () => {
    const config = parseOk(example('AWS Parameter Store'));
    const secret = config.secrets.database_password!;
    expect(config.providers[secret.provider]).toEqual({
      type: 'aws-parameter-store',
      region: 'us-east-1',
      kms_key_id: 'alias/dummy-kms-key',
      stale_pending: 'fail',
    });
    expect(secret).toMatchObject({
      path: '/production/database/password',
      type: 'static',
      read: { parameter_type: 'SecureString', with_decryption: true },
    });
  });

  it('Kubernetes: <namespace>/<secret_name> in the kubernetes provider; key is the one key exposed', () => {
    const config = parseOk(example('Kubernetes Secrets'));
    expect(config.providers.kubernetes).toMatchObject({ type: 'kubernetes' });
    expect(config.secrets.redis_password).toMatchObject({
      provider: 'kubernetes',
      path: 'credit-card/redis-credentials',
      keys: ['password'],
      read: { service_account: 'flink-runner' },
    });
  });

  it('Azure Key Vault: secret_name is the path; vault_url and auth the provider; the version stays with readers', () => {
    const config = parseOk(example('Azure Key Vault'));
    const secret = config.secrets.storage_connection!;
    expect(secret.provider).toMatch(/^l5-azure-key-vault-[0-9a-f]{10}$/);
    expect(config.providers[secret.provider]).toEqual({
      type: 'azure-key-vault',
      vault_url: 'https://my-vault.vault.azure.net',
      auth: { type: 'managed_identity' },
      stale_pending: 'fail',
    });
    expect(secret).toMatchObject({ path: 'storage-connection-string', read: { version: 'latest' } });
  });

  it('GCP Secret Manager: secret is the path; project and auth the provider; the version stays with readers', () => {
    const config = parseOk(example('GCP Secret Manager'));
    const secret = config.secrets.api_key!;
    expect(secret.provider).toMatch(/^l5-gcp-secret-manager-[0-9a-f]{10}$/);
    expect(config.providers[secret.provider]).toEqual({
      type: 'gcp-secret-manager',
      project: 'my-gcp-project',
      auth: { type: 'workload_identity' },
      stale_pending: 'fail',
    });
    expect(secret).toMatchObject({ path: 'production-api-key', read: { version: 'latest' } });
  });

  it('Development Configuration: variables map fields to variables; a default makes an env provider with defaults', () => {
    const config = parseOk(example('Development Configuration'));
    expect(config.secrets.kafka_credentials).toMatchObject({
      provider: 'env',
      path: 'username=KAFKA_USERNAME,password=KAFKA_PASSWORD',
    });
    const mongo = config.secrets.mongo_connection!;
    expect(mongo.path).toBe('MONGO_URI');
    expect(config.providers[mongo.provider]).toEqual({
      type: 'env',
      defaults: { MONGO_URI: 'mongodb://localhost:27017/credit_card' },
    });
  });

  it('Secret Groups: the group is no secret; its members share its provider and path, each exposing its key', () => {
    const config = parseOk(example('Secret Groups'));
    expect(Object.keys(config.secrets)).toEqual(['kafka_username', 'kafka_password']);
    const { kafka_username: user, kafka_password: pass } = config.secrets;
    expect(user).toMatchObject({ path: 'secret/data/production/kafka', keys: ['username'] });
    expect(pass).toMatchObject({ path: 'secret/data/production/kafka', keys: ['password'], provider: user!.provider });
    expect(Object.keys(config.providers)).toEqual([user!.provider]);
  });

  it('Automatic Rotation Detection: the reader-side rotation block, on_rotation included, is kept as refresh:', () => {
    const config = parseOk(example('Automatic Rotation Detection'));
    const secret = config.secrets.database_credentials!;
    expect(secret.refresh).toEqual({
      auto_refresh: true,
      refresh_interval: 300_000,
      on_rotation: { action: 'reconnect', grace_period: 30_000 },
    });
    expect(secret.consumers).toEqual([]);
    expect(config.providers[secret.provider]).toMatchObject({ region: 'us-east-1' });
  });

  it('Audit Logging and _config: the audit block is kept on the config; default_provider fills a secret’s provider', () => {
    expect(parseOk(example('Audit Logging')).audit).toEqual({
      enabled: true,
      log_access: true,
      log_destination: 'security-audit-logs',
    });
    const config = parseOk('secrets:\n  _config: { default_provider: env }\n  token: { variable: API_TOKEN }\n');
    expect(config.secrets.token).toMatchObject({ provider: 'env', path: 'API_TOKEN' });
  });

  it('Provider Unavailable: the fallback is located like a secret, on_missing and retry kept', () => {
    const doc = parse(example('Provider Unavailable')) as { secrets: Record<string, Record<string, unknown>> };
    doc.secrets.database_password!.path = 'secret/data/production/database';
    const secret = parseOk(stringify(doc)).secrets.database_password!;
    expect(secret.fallback).toEqual({ provider: 'env', path: 'DB_PASSWORD' });
    expect(secret.retry).toEqual({ attempts: 3, backoff: 'exponential', initial_delay: 1_000, max_delay: 30_000 });
  });

  it('shares one provider between secrets that write the same block, and names it the same whatever the environment', () => {
    const two = `
secrets:
  a: { provider: vault, path: secret/data/a, vault: { address: "\${VAULT_ADDR}" }, auth: { method: approle, role_id: r, secret_id: "\${VAULT_SECRET_ID}" } }
  b: { provider: vault, path: secret/data/b, auth: { secret_id: "\${VAULT_SECRET_ID}", role_id: r, method: approle }, vault: { address: "\${VAULT_ADDR}" } }
  c: { provider: vault, path: secret/data/c, vault: { address: "\${VAULT_ADDR}" }, auth: { method: kubernetes, role: other } }
`;
    const env = { ...ENV, VAULT_SECRET_ID: 'approle-secret-id-value' };
    const here = parseConfig(two, env);
    const there = parseConfig(two, { ...env, VAULT_ADDR: 'https://vault.elsewhere:8200' });
    expect(here.secrets.a!.provider).toBe(here.secrets.b!.provider);
    expect(here.secrets.c!.provider).not.toBe(here.secrets.a!.provider);
    expect(Object.keys(there.providers)).toEqual(Object.keys(here.providers));
  });

  it('leaves a file in rotator’s own form as it is, and mixes with it', () => {
    const own = {
      providers: { kv: { type: 'vault', address: 'http://x:8200', token: 't' } },
      secrets: { a: { provider: 'kv', path: 'secret/a' } },
    };
    expect(normalizeL5(own, issuesOf).document).toBe(own);
    const mixed = parseOk(`
providers:
  kv: { type: vault, address: "http://kv.example:8200", token: "\${VAULT_TOKEN}" }
secrets:
  ours: { provider: kv, path: secret/data/ours }
  theirs: { provider: aws_secrets_manager, secret_id: prod/theirs, region: eu-west-1 }
`);
    expect(mixed.secrets.ours).toMatchObject({ provider: 'kv', path: 'secret/data/ours' });
    expect(mixed.providers[mixed.secrets.theirs!.provider]).toMatchObject({ type: 'aws-secrets-manager', region: 'eu-west-1' });
    expect(Object.keys(mixed.providers)).toHaveLength(2);
  });

  it('records secrets by the field rotator keeps them in: auth.secret_id and defaults yes, an AWS secret_id (a path) no', () => {
    const config = parseConfig(
      `
secrets:
  a: { provider: vault, path: secret/data/a, auth: { method: approle, role_id: reader, secret_id: "\${ROLE_SECRET}" } }
  b: { provider: aws_secrets_manager, secret_id: production/payments/database, region: eu-west-1 }
  c: { provider: env, variable: MONGO_URI, default: "mongodb://u:dev-password@localhost/db" }
  d: { provider: vault, path: secret/data/d, on_missing: { action: default, default_value: fallback-api-key-1 } }
`,
      { ...ENV, ROLE_SECRET: 'approle-secret-id-value' },
    );
    expect(sensitiveValues(config)).toEqual(
      expect.arrayContaining(['approle-secret-id-value', 'mongodb://u:dev-password@localhost/db', 'fallback-api-key-1']),
    );
    expect(sensitiveValues(config)).not.toContain('production/payments/database');
  });

  it('never takes a name for a value: a trigger rule’s secret, a key chosen, a secret:// reference', () => {
    const config = parseConfig(
      `
secrets:
  orders_database: { provider: vault, path: secret/data/orders, key: password_field }
  hook_signing_keys: { provider: vault, path: secret/data/hooks }
  billing_database:
    provider: vault
    path: secret/data/billing
    target: { type: postgresql, connection: secret://orders_database, role: billing }
    consumers: [{ type: webhook, url: "https://hooks.example.com/x", signing_key: secret://hook_signing_keys/current }]
triggers:
  listen: { host: 127.0.0.1, port: 8088 }
  sources:
    hooks: { type: webhook, signing_key: "\${HOOK_KEY}" }
    grid: { type: azure-event-grid, key: inline-event-grid-key }
  rules:
    - { source: hooks, secret: orders_database, action: alert }
`,
      { ...ENV, HOOK_KEY: 'hook-signing-key-value' },
    );
    expect(sensitiveValues(config)).toEqual(expect.arrayContaining(['hook-signing-key-value', 'inline-event-grid-key']));
    for (const name of ['orders_database', 'password_field', 'secret://hook_signing_keys/current'])
      expect(sensitiveValues(config)).not.toContain(name);
  });
});

describe('a PostgreSQL credential in the spec’s form', () => {
  const SPEC_FORM = `
secrets:
  pg_admin:
    provider: vault
    path: secret/data/prod/pg-admin
    vault: { address: "\${VAULT_ADDR}" }
    auth: { method: token, token: "\${VAULT_TOKEN}" }
  webhook_keys:
    provider: vault
    path: secret/data/prod/webhook-keys
    vault: { address: "\${VAULT_ADDR}" }
    auth: { method: token }
  orders_db:
    provider: vault
    path: secret/data/prod/orders-db
    keys: [username, password]
    vault:
      address: \${VAULT_ADDR}
    auth:
      method: token
    cache: { enabled: true, ttl: 5m }
    target:
      type: postgresql
      connection: secret://pg_admin
      role: orders_app
    rotation:
      strategy: alternating-users
      grace_period: 5m   # readers keep it up to 5m (cache.ttl, refresh_interval)
      verify: { query: "select 1" }
      auto_refresh: true
      refresh_interval: 5m
      on_rotation:
        action: reconnect
        url: https://orders.example.com/hooks/rotated
        signing_key: secret://webhook_keys/orders
`;
  const ROTATOR_FORM = `
providers:
  vault:
    type: vault
    address: \${VAULT_ADDR}
    token: \${VAULT_TOKEN}
secrets:
  pg_admin: { provider: vault, path: secret/data/prod/pg-admin }
  webhook_keys: { provider: vault, path: secret/data/prod/webhook-keys }
  orders_db:
    provider: vault
    path: secret/data/prod/orders-db
    cache: { enabled: true, ttl: 5m }
    target: { type: postgresql, connection: secret://pg_admin, role: orders_app }
    rotation:
      strategy: alternating-users
      grace_period: 5m   # readers keep it up to 5m (cache.ttl, refresh_interval)
      verify: { query: "select 1" }
    consumers:
      - type: webhook
        url: https://orders.example.com/hooks/rotated
        signing_key: secret://webhook_keys/orders
`;

  it('plans the same rotation as rotator’s own form, its one synthesized provider standing for the declared one', () => {
    const spec = parseOk(SPEC_FORM);
    const own = parseOk(ROTATOR_FORM);
    const synthesized = spec.secrets.orders_db!.provider;
    expect(Object.keys(spec.providers)).toEqual([synthesized]);
    expect(spec.providers[synthesized]).toEqual(own.providers.vault);
    const renamed = JSON.parse(JSON.stringify(planRotation(spec, 'orders_db')).split(`"${synthesized}"`).join('"vault"'));
    expect(renamed).toEqual(planRotation(own, 'orders_db'));
    expect(planRotation(spec, 'orders_db').consumers).toEqual([
      expect.objectContaining({
        type: 'webhook',
        signing_key: { provider: synthesized, path: 'secret/data/prod/webhook-keys', key: 'orders' },
      }),
    ]);
  });
});

describe('the spec’s auth blocks, as the stores take them', () => {
  it('a kubernetes login reads its service account token when it starts: missing here, the error names jwt_path', async () => {
    const config = parseOk(example('HashiCorp Vault'));
    const provider = config.providers[config.secrets.kafka_credentials!.provider]!;
    await expect(vault.create(provider as Parameters<typeof vault.create>[0])).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(vault.create(provider as Parameters<typeof vault.create>[0])).rejects.toThrow(/jwt_path|serviceaccount\/token/);
  });

  it('an AWS store that assumes a role keeps the role ARN and starts (the role is assumed on first use)', async () => {
    const assumed = parseOk(
      'secrets:\n  s: { provider: aws_secrets_manager, secret_id: x, region: eu-west-1, auth: { type: assume_role, role_arn: "arn:aws:iam::123456789012:role/secret-reader" } }\n',
    );
    const aws = assumed.providers[assumed.secrets.s!.provider]!;
    expect(aws).toMatchObject({ role_arn: 'arn:aws:iam::123456789012:role/secret-reader' });
    const store = await awsSecretsManager.create(aws as Parameters<typeof awsSecretsManager.create>[0]);
    await store.close();
  });

  it('reads env secrets by a field map and with defaults for unset variables', async () => {
    const store = new EnvStore(
      { KAFKA_USERNAME: 'flink', KAFKA_PASSWORD: 'pw', EMPTY: '' },
      { MONGO_URI: 'mongodb://localhost', EMPTY: 'd' },
    );
    expect((await store.readCurrent('username=KAFKA_USERNAME,password=KAFKA_PASSWORD'))?.value).toEqual({
      username: 'flink',
      password: 'pw',
    });
    expect((await store.readCurrent('MONGO_URI'))?.value).toEqual({ value: 'mongodb://localhost' });
    expect((await store.readCurrent('EMPTY'))?.value).toEqual({ value: 'd' });
    expect(await store.readCurrent('user=NOT_SET')).toBeNull();
  });
});

describe('malformed variants of the spec’s form', () => {
  const VAULT = (extra: string) =>
    `secrets:\n  kafka_credentials:\n    provider: vault\n    path: secret/data/production/kafka\n${extra}`;
  const SM = (extra: string) => `secrets:\n  db:\n    provider: aws_secrets_manager\n${extra}`;
  const cases: Array<[string, string, string, Record<string, string>?]> = [
    [
      'an unknown auth method',
      VAULT('    auth: { method: ldap }\n'),
      'secrets.kafka_credentials.auth.method: expected one of token, approle, kubernetes, aws',
    ],
    [
      'approle without secret_id',
      VAULT('    auth: { method: approle, role_id: r }\n'),
      'secrets.kafka_credentials.auth.secret_id: auth.method approle needs secret_id',
    ],
    [
      'kubernetes without role',
      VAULT('    auth: { method: kubernetes }\n'),
      'secrets.kafka_credentials.auth.role: auth.method kubernetes needs role',
    ],
    [
      'a field another method uses',
      VAULT('    auth: { method: token, role_id: r }\n'),
      'secrets.kafka_credentials.auth.role_id: is not used by auth.method token',
    ],
    [
      'an unknown auth field',
      VAULT('    auth: { method: kubernetes, role: r, password: x }\n'),
      'secrets.kafka_credentials.auth: unknown field password',
    ],
    [
      'a token beside a login method',
      VAULT('    auth: { method: kubernetes, role: r, token: "${VAULT_TOKEN}" }\n'),
      'secrets.kafka_credentials.auth.token: auth.method kubernetes logs in for its own token',
    ],
    [
      'a token auth with VAULT_TOKEN unset',
      VAULT('    vault: { address: "http://v:8200" }\n'),
      'secrets.kafka_credentials.auth.token: environment variable VAULT_TOKEN is not set',
      {},
    ],
    [
      'a vault address that is no URL',
      VAULT('    vault: { address: vault.local }\n'),
      'secrets.kafka_credentials.vault.address: expected an http(s) URL',
    ],
    [
      'a typo in the vault block',
      VAULT('    vault: { adress: "http://v:8200" }\n'),
      'secrets.kafka_credentials.vault: unknown field adress',
    ],
    ['renewal that is not a mapping', VAULT('    renewal: yes\n'), 'secrets.kafka_credentials.renewal: expected object'],
    [
      'secret_id and path both',
      SM('    secret_id: a\n    path: b\n    region: eu-west-1\n'),
      'secrets.db.secret_id: set secret_id or path, not both',
    ],
    ['no secret_id', SM('    region: eu-west-1\n'), 'secrets.db.secret_id: missing (where the secret is in its store)'],
    [
      'a region that is not one',
      SM('    secret_id: a\n    region: moon-1\n'),
      'secrets.db.region: expected an AWS region like eu-west-1',
    ],
    [
      'an unknown AWS auth type',
      SM('    secret_id: a\n    region: eu-west-1\n    auth: { type: password }\n'),
      'secrets.db.auth.type: expected one of instance_profile, static, assume_role',
    ],
    [
      'static keys without the secret key',
      SM('    secret_id: a\n    region: eu-west-1\n    auth: { type: static, access_key_id: AKIAX }\n'),
      'secrets.db.auth.secret_access_key: auth.type static needs secret_access_key',
    ],
    [
      'a role ARN that is not one',
      SM(
        '    secret_id: a\n    region: eu-west-1\n    auth: { type: assume_role, role_arn: "arn:aws:iam::123456789:role/secret-reader" }\n',
      ),
      'secrets.db.auth.role_arn: expected an IAM role ARN',
    ],
    [
      'both version_stage and version_id',
      SM('    secret_id: a\n    region: eu-west-1\n    version_stage: AWSCURRENT\n    version_id: abc\n'),
      'secrets.db.version_id: set version_stage or version_id, not both',
    ],
    [
      'a parameter type SSM does not have',
      'secrets:\n  p: { provider: aws_parameter_store, name: /x, region: eu-west-1, type: Binary }\n',
      'secrets.p.type: expected one of String, StringList, SecureString',
    ],
    [
      'a Secret name Kubernetes refuses',
      'secrets:\n  k: { provider: kubernetes, namespace: apps, secret_name: Redis_Creds }\n',
      'secrets.k.secret_name: Secret name',
    ],
    [
      'no secret_name',
      'secrets:\n  k: { provider: kubernetes, namespace: apps, key: password }\n',
      'secrets.k.secret_name: missing',
    ],
    [
      'a service account that is no name',
      'secrets:\n  k: { provider: kubernetes, secret_name: r, service_account: Flink_Runner }\n',
      'secrets.k.service_account: expected a Kubernetes service account name',
    ],
    [
      'variable and variables both',
      'secrets:\n  e: { provider: env, variable: A, variables: { u: B } }\n',
      'secrets.e.variables: set variable or variables, not both',
    ],
    [
      'a variable that is no variable name',
      'secrets:\n  e: { provider: env, variable: "db-password" }\n',
      'secrets.e.variable: expected the name of an environment variable',
    ],
    [
      'a default beside variables',
      'secrets:\n  e: { provider: env, variables: { u: B }, default: x }\n',
      'secrets.e.default: goes with variable:',
    ],
    [
      'key and keys both',
      VAULT('    key: username\n    keys: [password]\n'),
      'secrets.kafka_credentials.keys: set key or keys, not both',
    ],
    ['a key that is no field name', VAULT('    key: "user name"\n'), 'secrets.kafka_credentials.key: expected a field name'],
    [
      'an unknown group',
      'secrets:\n  _groups: { kafka: { provider: vault, path: secret/data/k } }\n  u: { _group: kafkaa, key: username }\n',
      'secrets.u._group: no group of that name under secrets._groups; groups: kafka',
    ],
    [
      'a bad field taken from a group, named where the group has it',
      'secrets:\n  _groups: { kafka: { provider: vault, path: secret/data/k, auth: { method: nope } } }\n  u: { _group: kafka }\n',
      'secrets._groups.kafka.auth.method: expected one of token',
    ],
    [
      'an unknown on_missing action',
      VAULT('    on_missing: { action: ignore }\n'),
      'secrets.kafka_credentials.on_missing.action: expected one of fail, default, warn',
    ],
    [
      'on_missing default without a value',
      VAULT('    on_missing: { action: default }\n'),
      'secrets.kafka_credentials.on_missing.default_value: action default needs a default_value',
    ],
    [
      'an unknown backoff',
      VAULT('    retry: { backoff: linear }\n'),
      'secrets.kafka_credentials.retry.backoff: expected one of exponential, fixed',
    ],
    [
      'a first delay longer than the last',
      VAULT('    retry: { initial_delay: 1m, max_delay: 1s }\n'),
      'secrets.kafka_credentials.retry.max_delay: must not be shorter than initial_delay',
    ],
    [
      'a cache ttl that is no duration',
      VAULT('    cache: { ttl: 5 }\n'),
      'secrets.kafka_credentials.cache.ttl: expected a duration like 500ms',
    ],
    [
      'a refresh interval that is no duration',
      VAULT('    rotation: { auto_refresh: true, refresh_interval: soon }\n'),
      'secrets.kafka_credentials.rotation.refresh_interval: expected a duration',
    ],
    [
      'a reader-side on_rotation action the spec lacks',
      VAULT('    rotation: { on_rotation: { action: reboot } }\n'),
      'secrets.kafka_credentials.rotation.on_rotation.action: expected one of reconnect, restart, alert',
    ],
    [
      'a fallback to a provider that does not exist',
      VAULT('    fallback: { provider: backup, path: x }\n'),
      'secrets.kafka_credentials.fallback.provider: unknown provider "backup"',
    ],
    [
      'a fallback without its variable',
      VAULT('    fallback: { provider: env }\n'),
      'secrets.kafka_credentials.fallback.path: missing (expected string)',
    ],
    [
      'a lookup naming a secret that does not exist',
      `${VAULT('')}lookups:\n  database:\n    auth: { primary: secret://kafka_credentials, secondary: secret://database_secondary }\n`,
      'lookups.database.auth.secondary: references unknown secret "database_secondary"',
    ],
    [
      'a stream naming a key the secret does not expose',
      `${VAULT('    keys: [username, password]\n')}streams:\n  s: { properties: { sasl.token: secret://kafka_credentials/token } }\n`,
      'streams.s.properties.sasl.token: names a key kafka_credentials does not expose; its keys: username, password',
    ],
    [
      'a URI with an unknown query parameter',
      `${VAULT('')}lookups:\n  l: { uri: "secret://kafka_credentials?stage=AWSPREVIOUS" }\n`,
      'lookups.l.uri: has an unknown query parameter "stage"; expected version= or default=',
    ],
    ['a binding section that is not a mapping', `${VAULT('')}streams: [a]\n`, 'streams: expected a mapping'],
    [
      'Azure without its vault_url',
      'secrets:\n  a: { provider: azure_key_vault, secret_name: s }\n',
      'secrets.a.vault_url: missing',
    ],
    [
      'Azure service_principal without client_secret',
      'secrets:\n  a: { provider: azure_key_vault, vault_url: "https://v.vault.azure.net", secret_name: s, auth: { type: service_principal, tenant_id: t, client_id: c } }\n',
      'secrets.a.auth.client_secret: auth.type service_principal needs client_secret',
    ],
    [
      'an unknown Azure auth type',
      'secrets:\n  a: { provider: azure_key_vault, vault_url: "https://v.vault.azure.net", secret_name: s, auth: { type: password } }\n',
      'secrets.a.auth.type: expected one of managed_identity, service_principal, cli',
    ],
    ['GCP without its project', 'secrets:\n  g: { provider: gcp_secret_manager, secret: s }\n', 'secrets.g.project: missing'],
    [
      'a GCP version that is none',
      'secrets:\n  g: { provider: gcp_secret_manager, project: my-gcp-project, secret: s, version: newest }\n',
      'secrets.g.version: expected latest or a version number',
    ],
    [
      'an unknown _config field',
      'secrets:\n  _config: { default_providr: env }\n',
      'secrets._config: unknown field default_providr',
    ],
    [
      'an audit flag that is not true or false',
      'secrets:\n  _config: { audit: { enabled: "yes" } }\n',
      'secrets._config.audit.enabled: expected boolean',
    ],
    [
      'a spec field on a provider of rotator’s form',
      'providers:\n  kv: { type: vault, address: "http://v:8200", token: t }\nsecrets:\n  s: { provider: kv, path: secret/data/s, auth: { method: token } }\n',
      'secrets.s: unknown field auth',
    ],
  ];

  it.each(cases)('%s: names the field', (_what, yaml, expected, env = ENV) => {
    expect(configError(yaml, env)).toContain(expected);
  });

  it('never quotes what a secret-named field held', () => {
    const message = configError(VAULT('    auth: { method: approle, role_id: r, secret_id: 12345678 }\n'), ENV);
    expect(message).toContain('secrets.kafka_credentials.auth.secret_id: expected string, got a number');
    expect(message).not.toContain('12345678');
    const defaults = configError(
      'secrets:\n  e: { provider: env, variable: DB_PASSWORD, default: development_password, extra: 1 }\n',
      ENV,
    );
    expect(defaults).toContain('secrets.e: unknown field extra');
    expect(defaults).not.toContain('development_password');
  });
});
