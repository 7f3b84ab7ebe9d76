// AWS credentials for the stores, against moto: the SDK's default chain from the environment, and a role assumed
// through STS at the provider's endpoint, whose credentials the store then uses.
import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsSecretsManager } from '../activities/stores/aws-secrets-manager';
import { awsParameterStore } from '../activities/stores/aws-parameter-store';
import { awsClientConfig } from '../activities/stores/aws-common';
import { awsConnectionOf } from '../activities/stores/aws-config';
import type { SecretStore } from '../activities/types';
import { parseConfig } from '../src/config/load';
import { testStack } from './support/stack';

const endpoint = testStack().moto!.endpoint;
const REGION = 'us-east-1';
const id = randomBytes(4).toString('hex');
/** Keys moto does not know act in its default account; an assumed role's credentials in the role's own account. */
const ROLE_ACCOUNT = '210987654321';
const ROLE_ARN = `arn:aws:iam::${ROLE_ACCOUNT}:role/rotator-${id}`;

type SmProvider = Parameters<typeof awsSecretsManager.create>[0];
type SsmProvider = Parameters<typeof awsParameterStore.create>[0];

/** The AWS variables the SDK reads; saved and put back, since every test file shares this process's environment. */
const AWS_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_ENDPOINT_URL',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_EC2_METADATA_DISABLED',
];
let saved: Record<string, string | undefined> = {};
beforeEach(() => {
  saved = Object.fromEntries(AWS_ENV.map((k) => [k, process.env[k]]));
  for (const k of AWS_ENV) delete process.env[k];
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** A whole rotation's worth of store calls on a new secret: stage, promote, read current and the version before. */
async function roundTrip(store: SecretStore, secret: string): Promise<void> {
  const one = `rot-${randomBytes(4).toString('hex')}`;
  await store.stagePending(secret, one, { username: 'app_a', password: 'first-password-123' }, null);
  const first = await store.promote(secret, one, null);
  await store.discardPending(secret, one);
  const two = `rot-${randomBytes(4).toString('hex')}`;
  await store.stagePending(secret, two, { username: 'app_b', password: 'second-password-45' }, first.version);
  const second = await store.promote(secret, two, first.version);
  await store.discardPending(secret, two);
  expect(await store.readCurrent(secret)).toMatchObject({
    version: second.version,
    value: { username: 'app_b', password: 'second-password-45' },
  });
  expect(await store.readVersion(secret, first.version)).toMatchObject({ username: 'app_a' });
}

/** The account a secret landed in, from its ARN, read with `client`; null when that client's account has none. */
async function accountOf(client: SecretsManagerClient, secret: string): Promise<string | null> {
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secret }));
    return out.ARN!.split(':')[4]!;
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') return null;
    throw err;
  }
}

describe('the AWS default credential chain', () => {
  it('reads and writes Secrets Manager with keys and endpoint from the environment only (L5 form, no auth keys)', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'env-key-id';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret-key';
    process.env.AWS_ENDPOINT_URL = endpoint; // the SDK's own variable: the L5 form has no endpoint field
    const secret = `auth-test/env-${id}`;
    const config = parseConfig(
      [
        'secrets:',
        '  app_db:',
        '    provider: aws_secrets_manager',
        `    secret_id: ${secret}`,
        `    region: ${REGION}`,
        '    auth: { type: instance_profile }',
      ].join('\n'),
      {},
    );
    const provider = config.providers[config.secrets.app_db!.provider] as SmProvider;
    expect(provider).not.toHaveProperty('access_key_id');
    expect(awsClientConfig(awsConnectionOf(provider))).toEqual({ region: REGION }); // the chain decides
    const store = await awsSecretsManager.create(provider);
    try {
      await roundTrip(store, secret);
    } finally {
      await store.close();
    }
  });
  it('says where credentials come from when the chain finds none', async () => {
    process.env.AWS_ENDPOINT_URL = endpoint;
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const config = parseConfig(
      `secrets:\n  app_db: { provider: aws_secrets_manager, secret_id: auth-test/none-${id}, region: ${REGION} }\n`,
      {},
    );
    const store = await awsSecretsManager.create(config.providers[config.secrets.app_db!.provider] as SmProvider);
    try {
      await expect(store.readCurrent(`auth-test/none-${id}`)).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('(set access_key_id/secret_access_key or the AWS credential environment)'),
      });
    } finally {
      await store.close();
    }
  });
});

describe('assume_role through STS', () => {
  function assumingProvider(type: 'aws-secrets-manager' | 'aws-parameter-store', keys: boolean) {
    const yaml = [
      'providers:',
      '  assumed:',
      `    type: ${type}`,
      `    region: ${REGION}`,
      `    endpoint: "${endpoint}"`,
      ...(keys ? ['    access_key_id: base-key-id', '    secret_access_key: base-secret-key'] : []),
      `    role_arn: "${ROLE_ARN}"`,
      'secrets: {}',
    ].join('\n');
    return parseConfig(yaml, {}).providers.assumed!;
  }

  it("assumes the role at the provider's endpoint, and the store works in the role's account", async () => {
    const provider = assumingProvider('aws-secrets-manager', true) as SmProvider;
    const credentials = awsClientConfig(awsConnectionOf(provider)).credentials;
    expect(typeof credentials).toBe('function');
    const assumed = await (credentials as () => Promise<{ accessKeyId: string; sessionToken?: string; expiration?: Date }>)();
    expect(assumed.accessKeyId).toMatch(/^ASIA/); // STS's temporary keys, not the base ones
    expect(assumed.sessionToken).toBeTruthy();
    expect(assumed.expiration!.getTime()).toBeGreaterThan(Date.now());

    const secret = `auth-test/assumed-${id}`;
    const store = await awsSecretsManager.create(provider);
    const base = new SecretsManagerClient({
      region: REGION,
      endpoint,
      credentials: { accessKeyId: 'base-key-id', secretAccessKey: 'base-secret-key' },
    });
    const asRole = new SecretsManagerClient(awsClientConfig(awsConnectionOf(provider)));
    try {
      await roundTrip(store, secret);
      // Written with the role's credentials: the secret is in the role's account, which the base keys do not see.
      expect(await accountOf(asRole, secret)).toBe(ROLE_ACCOUNT);
      expect(await accountOf(base, secret)).toBeNull();
    } finally {
      await store.close();
      base.destroy();
      asRole.destroy();
    }
  });

  it('assumes the role with the default chain as the base credentials, for Parameter Store too', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'env-key-id';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret-key';
    const provider = assumingProvider('aws-parameter-store', false) as SsmProvider;
    const store = await awsParameterStore.create(provider);
    try {
      await roundTrip(store, `/auth-test/assumed-${id}`);
    } finally {
      await store.close();
    }
  });

  it('checks role_arn as an IAM role ARN when the config is loaded', () => {
    expect(() =>
      parseConfig(
        [
          'providers:',
          '  bad: { type: aws-secrets-manager, region: us-east-1, role_arn: "arn:aws:iam::123:role/x" }',
          'secrets: {}',
        ].join('\n'),
        {},
      ),
    ).toThrow(/providers\.bad\.role_arn: expected an IAM role ARN/);
  });
});
