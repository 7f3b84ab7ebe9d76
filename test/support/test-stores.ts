// The secret stores a test harness can keep its secrets in, seen from outside rotator: raw clients, not rotator's store code.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import vault from 'node-vault';
import type { StalePendingPolicy } from '../../activities/stores/stale-pending';
import type { SecretValue } from '../../activities/types';
import { vaultProviderYaml } from './rotator-config';
import { testStack } from './stack';

/** Another store plugs into a harness by providing these for a provider the harness names `store`. */
export interface TestStore {
  /** The provider's block under `providers:`, as YAML lines indented for it. */
  providerYaml: string[];
  /** Variables the provider block references (tokens), for parseConfig. */
  env: Record<string, string>;
  /** The config's `path:` for a secret the test calls `name`. */
  configPath(name: string): string;
  write(name: string, value: SecretValue): Promise<void>;
  readCurrent(name: string): Promise<{ version: string; value: SecretValue } | null>;
}

export function vaultClient() {
  const stack = testStack();
  return vault({ apiVersion: 'v1', endpoint: stack.vault!.address, token: stack.vault!.token });
}

export function vaultTestStore(): TestStore {
  const stack = testStack();
  const apiPath = (name: string) => `secret/data/test/${name}`;
  return {
    providerYaml: vaultProviderYaml(stack.vault!.address, 'TEST_VAULT_TOKEN'),
    env: { TEST_VAULT_TOKEN: stack.vault!.token },
    configPath: apiPath,
    async write(name, value) {
      await vaultClient().write(apiPath(name), { data: value });
    },
    async readCurrent(name) {
      try {
        const body = await vaultClient().read(apiPath(name));
        return { version: String(body.data.metadata.version), value: body.data.data as SecretValue };
      } catch (err) {
        if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
        throw err;
      }
    },
  };
}

/** moto accepts any keys; the region only has to be a real one, because the config checks it. */
export const MOTO_REGION = 'us-east-1';

function awsProviderYaml(type: string, extra: string[] = []): string[] {
  return [
    `    type: ${type}`,
    `    region: ${MOTO_REGION}`,
    `    endpoint: "${testStack().moto!.endpoint}"`,
    '    access_key_id: test',
    '    secret_access_key: test',
    ...extra,
  ];
}

/** Where and as whom an AWS SDK client reaches moto. */
export function motoClientConfig() {
  return {
    region: MOTO_REGION,
    endpoint: testStack().moto!.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
}

export function secretsManagerClient(): SecretsManagerClient {
  return new SecretsManagerClient(motoClientConfig());
}

export function ssmClient(): SSMClient {
  return new SSMClient(motoClientConfig());
}

/** Version id → staging labels of every version of the secret, deprecated ones included. */
export async function versionLabels(client: SecretsManagerClient, secretId: string): Promise<Record<string, string[]>> {
  const out = await client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }));
  return Object.fromEntries((out.Versions ?? []).map((v) => [v.VersionId!, v.VersionStages ?? []]));
}

function notFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'ResourceNotFoundException' || name === 'ParameterNotFound';
}

export interface SecretsManagerTestStore extends TestStore {
  client: SecretsManagerClient;
  /** Version id → staging labels of every version of the secret. */
  labels(name: string): Promise<Record<string, string[]>>;
  readStage(
    name: string,
    stage: 'AWSCURRENT' | 'AWSPREVIOUS' | 'AWSPENDING',
  ): Promise<{ version: string; value: SecretValue } | null>;
}

export function secretsManagerTestStore(options: { stalePending?: StalePendingPolicy } = {}): SecretsManagerTestStore {
  const client = secretsManagerClient();
  const secretId = (name: string) => `test/${name}`;
  const readStage: SecretsManagerTestStore['readStage'] = async (name, stage) => {
    try {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId(name), VersionStage: stage }));
      return { version: out.VersionId!, value: JSON.parse(out.SecretString!) as SecretValue };
    } catch (err) {
      if (notFound(err)) return null;
      throw err;
    }
  };
  return {
    client,
    providerYaml: awsProviderYaml(
      'aws-secrets-manager',
      options.stalePending ? [`    stale_pending: ${options.stalePending}`] : [],
    ),
    env: {},
    configPath: secretId,
    async write(name, value) {
      try {
        await client.send(new CreateSecretCommand({ Name: secretId(name), SecretString: JSON.stringify(value) }));
      } catch (err) {
        if ((err as { name?: string }).name !== 'ResourceExistsException') throw err;
        await client.send(new PutSecretValueCommand({ SecretId: secretId(name), SecretString: JSON.stringify(value) }));
      }
    },
    readCurrent: (name) => readStage(name, 'AWSCURRENT'),
    readStage,
    labels: (name) => versionLabels(client, secretId(name)),
  };
}

export interface ParameterStoreTestStore extends TestStore {
  /** The parameter as plain readers get it (the latest version), and under a label or version selector. */
  read(name: string, selector?: string): Promise<{ version: string; value: SecretValue } | null>;
}

export function parameterStoreTestStore(): ParameterStoreTestStore {
  const client = ssmClient();
  const parameter = (name: string) => `/test/${name}`;
  const read: ParameterStoreTestStore['read'] = async (name, selector) => {
    try {
      const out = await client.send(
        new GetParameterCommand({ Name: `${parameter(name)}${selector ? `:${selector}` : ''}`, WithDecryption: true }),
      );
      return { version: String(out.Parameter!.Version), value: JSON.parse(out.Parameter!.Value!) as SecretValue };
    } catch (err) {
      if (notFound(err)) return null;
      throw err;
    }
  };
  return {
    providerYaml: awsProviderYaml('aws-parameter-store'),
    env: {},
    configPath: parameter,
    async write(name, value) {
      await client.send(
        new PutParameterCommand({ Name: parameter(name), Value: JSON.stringify(value), Type: 'SecureString', Overwrite: true }),
      );
    },
    // rotator's own reading: the version labelled current, else the latest
    readCurrent: async (name) => (await read(name, 'current')) ?? (await read(name)),
    read,
  };
}

export interface FileTestStore extends TestStore {
  dir: string;
  /** The names of the files in the secret's folder. */
  files(name: string): string[];
  remove(): void;
}

/** The file store's documented layout: `<dir>/<path>/v000001.json` per version and a `current` pointer naming one. */
export function fileTestStore(): FileTestStore {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'rotator-file-test-store-'));
  const folder = (name: string) => nodePath.join(dir, 'test', name);
  const versionFile = (name: string, version: string) => nodePath.join(folder(name), `v${version.padStart(6, '0')}.json`);
  return {
    dir,
    providerYaml: ['    type: file', `    dir: "${dir}"`],
    env: {},
    configPath: (name) => `test/${name}`,
    async write(name, value) {
      fs.mkdirSync(folder(name), { recursive: true, mode: 0o700 });
      const versions = fs
        .readdirSync(folder(name))
        .map((f) => /^v(\d+)\.json$/.exec(f)?.[1])
        .filter((v): v is string => !!v)
        .map(Number);
      const version = String(Math.max(0, ...versions) + 1);
      fs.writeFileSync(versionFile(name, version), JSON.stringify(value), { mode: 0o600 });
      fs.writeFileSync(nodePath.join(folder(name), 'current'), JSON.stringify({ version }), { mode: 0o600 });
    },
    async readCurrent(name) {
      const pointer = nodePath.join(folder(name), 'current');
      if (!fs.existsSync(pointer)) return null;
      const { version } = JSON.parse(fs.readFileSync(pointer, 'utf8')) as { version: string | null };
      if (!version) return null;
      return { version, value: JSON.parse(fs.readFileSync(versionFile(name, version), 'utf8')) as SecretValue };
    },
    files: (name) => fs.readdirSync(folder(name)).sort(),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
