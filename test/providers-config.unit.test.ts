// Config for the AWS and file providers: what parses, what each bad field is called, and which store it builds.
import { parseConfig } from '../src/config/load';
import { configError } from './support/config';
import { ProviderRegistry } from '../activities/registry';
import { AwsParameterStore } from '../activities/stores/aws-parameter-store/store';
import { AwsSecretsManagerStore } from '../activities/stores/aws-secrets-manager/store';
import { FileStore } from '../activities/stores/file/store';

const ENV = { AWS_KEY: 'AKIAEXAMPLE', AWS_SECRET: 'example-secret-key' };

function config(providers: string, provider = 'aws', path = '    path: prod/orders-db'): string {
  return `providers:\n${providers}\nsecrets:\n  orders_db:\n    provider: ${provider}\n${path}\n`;
}

const SECRETS_MANAGER = `  aws:
    type: aws-secrets-manager
    region: eu-west-1
    endpoint: "http://127.0.0.1:5000"
    access_key_id: \${AWS_KEY}
    secret_access_key: \${AWS_SECRET}`;

const errorOf = (text: string, env: Record<string, string> = ENV): string => configError(text, env);

describe('aws-secrets-manager provider config', () => {
  it('reads region, endpoint and keys from the environment, and fails on a stale pending by default', () => {
    expect(parseConfig(config(SECRETS_MANAGER), ENV).providers.aws).toEqual({
      type: 'aws-secrets-manager',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5000',
      access_key_id: 'AKIAEXAMPLE',
      secret_access_key: 'example-secret-key',
      stale_pending: 'fail',
      rotation_tags: false,
    });
  });

  it('accepts GovCloud regions and no static keys at all (the SDK credential chain)', () => {
    const parsed = parseConfig(
      config('  aws:\n    type: aws-secrets-manager\n    region: us-gov-west-1\n    stale_pending: replace'),
      {},
    );
    expect(parsed.providers.aws).toEqual({
      type: 'aws-secrets-manager',
      region: 'us-gov-west-1',
      stale_pending: 'replace',
      rotation_tags: false,
    });
  });

  it('names the region field when the region is not an AWS region', () => {
    expect(errorOf(config(SECRETS_MANAGER.replace('eu-west-1', 'moon-1')))).toContain(
      'providers.aws.region: expected an AWS region',
    );
  });

  it('names the missing region', () => {
    expect(errorOf(config(SECRETS_MANAGER.replace('    region: eu-west-1\n', '')))).toContain(
      'providers.aws.region: missing (expected string)',
    );
  });

  it('names the other key when only one of access_key_id and secret_access_key is set', () => {
    expect(errorOf(config(SECRETS_MANAGER.replace(/\n {4}secret_access_key:.*/, '')))).toContain(
      'providers.aws.secret_access_key: set access_key_id and secret_access_key together',
    );
  });

  it('lists the allowed stale_pending values', () => {
    expect(errorOf(config(`${SECRETS_MANAGER}\n    stale_pending: sometimes`))).toContain(
      'providers.aws.stale_pending: expected one of fail, replace',
    );
  });

  it('rejects unknown fields and a non-http endpoint', () => {
    expect(errorOf(config(`${SECRETS_MANAGER}\n    kms_key_id: alias/x`))).toContain('providers.aws: unknown field kms_key_id');
    expect(errorOf(config(SECRETS_MANAGER.replace('http://127.0.0.1:5000', 'ftp://x')))).toContain(
      'providers.aws.endpoint: expected an http(s) URL',
    );
  });

  it('names a missing environment variable by the key field that used it', () => {
    expect(errorOf(config(SECRETS_MANAGER), { AWS_KEY: 'x' })).toContain(
      'providers.aws.secret_access_key: environment variable AWS_SECRET is not set',
    );
  });

  it('still requires the secret path', () => {
    expect(errorOf(config(SECRETS_MANAGER, 'aws', ''))).toContain('secrets.orders_db.path: missing (expected string)');
  });

  it('builds a Secrets Manager store', async () => {
    expect(await new ProviderRegistry(parseConfig(config(SECRETS_MANAGER), ENV).providers).store('aws')).toBeInstanceOf(
      AwsSecretsManagerStore,
    );
  });
});

describe('aws-parameter-store provider config', () => {
  const PARAMETER_STORE = '  ssm:\n    type: aws-parameter-store\n    region: ap-southeast-2\n    kms_key_id: alias/rotator';

  it('parses a region and a KMS key, fails on a stale pending by default, and builds a Parameter Store store', async () => {
    const parsed = parseConfig(config(PARAMETER_STORE, 'ssm', '    path: /prod/orders-db'), {});
    expect(parsed.providers.ssm).toEqual({
      type: 'aws-parameter-store',
      region: 'ap-southeast-2',
      kms_key_id: 'alias/rotator',
      stale_pending: 'fail',
    });
    expect(await new ProviderRegistry(parsed.providers).store('ssm')).toBeInstanceOf(AwsParameterStore);
  });

  it('names the region field for a bad region', () => {
    expect(errorOf(config(PARAMETER_STORE.replace('ap-southeast-2', 'EU_WEST_1'), 'ssm'))).toContain(
      'providers.ssm.region: expected an AWS region',
    );
  });
});

describe('stale_pending on every writable provider', () => {
  const WRITABLE: Record<string, string> = {
    vault: '    type: vault\n    address: "http://127.0.0.1:8200"\n    token: t',
    'aws-secrets-manager': '    type: aws-secrets-manager\n    region: eu-west-1',
    'aws-parameter-store': '    type: aws-parameter-store\n    region: eu-west-1',
    file: '    type: file\n    dir: /tmp/store',
  };

  it.each(Object.keys(WRITABLE))('%s takes replace and names the field for any other value', (type) => {
    const block = (value: string) => config(`  p:\n${WRITABLE[type]}\n    stale_pending: ${value}`, 'p');
    expect(parseConfig(block('replace'), {}).providers.p).toMatchObject({ type, stale_pending: 'replace' });
    expect(errorOf(block('overwrite'))).toContain('providers.p.stale_pending: expected one of fail, replace');
  });

  it('is not an option of the read-only env provider', () => {
    expect(errorOf(config('  p:\n    type: env\n    stale_pending: fail', 'p'))).toContain(
      'providers.p: unknown field stale_pending',
    );
  });
});

describe('file provider config', () => {
  it('is built in: a secret may name it undeclared, and it keeps the store under .rotator/store', async () => {
    const parsed = parseConfig(config('  {}', 'file'), {});
    expect(parsed.providers.file).toEqual({ type: 'file', dir: '.rotator/store', stale_pending: 'fail' });
    expect(await new ProviderRegistry(parsed.providers).store('file')).toBeInstanceOf(FileStore);
  });

  it('takes the built-in directory from ROTATOR_FILE_STORE', () => {
    expect(parseConfig(config('  {}', 'file'), { ROTATOR_FILE_STORE: '/var/lib/rotator' }).providers.file).toEqual({
      type: 'file',
      dir: '/var/lib/rotator',
      stale_pending: 'fail',
    });
  });

  it('names the missing dir of a declared file provider', () => {
    expect(errorOf(config('  local:\n    type: file', 'local'))).toContain('providers.local.dir: missing (expected string)');
  });
});
