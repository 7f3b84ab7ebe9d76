// IAM users and their access keys on moto, seen from outside rotator (raw SDK clients), and a rotator whose secrets
// rotate them: the admin key and each rotated key kept in Vault.
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  type AccessKeyMetadata,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { SecretValue } from '../../activities/types';
import { unique, vaultClient } from './harness';
import { startRotator, type Rotator } from './rotator';
import { rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { MOTO_REGION, vaultTestStore } from './test-stores';

export function iamAdmin(endpoint = testStack().moto!.endpoint): IAMClient {
  return new IAMClient({ region: MOTO_REGION, endpoint, credentials: { accessKeyId: 'AKIAADMIN', secretAccessKey: 'admin' } });
}

export interface Key {
  AccessKeyId: string;
  SecretAccessKey: string;
}

/** A fresh IAM user with one key, the one a store would hold before its first rotation. */
export async function userWithKey(iam: IAMClient, prefix = 'app'): Promise<{ user: string; key: Key }> {
  const user = unique(prefix);
  await iam.send(new CreateUserCommand({ UserName: user }));
  const out = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
  return { user, key: { AccessKeyId: out.AccessKey!.AccessKeyId!, SecretAccessKey: out.AccessKey!.SecretAccessKey! } };
}

export async function keysOf(iam: IAMClient, user: string): Promise<AccessKeyMetadata[]> {
  return (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata ?? [];
}

/** The ARN STS answers for a key (moto: a default `user/moto` for a key it does not know). */
export async function callerOf(key: Key, endpoint = testStack().moto!.endpoint): Promise<string | undefined> {
  const sts = new STSClient({
    region: MOTO_REGION,
    endpoint,
    credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
  });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn;
  } finally {
    sts.destroy();
  }
}

export interface IamScenario {
  taskQueue: string;
  yaml: string;
  env: Record<string, string>;
  /** Per rotated secret: its name, its IAM user, and the path under secret/data/ in Vault. */
  secrets: Array<{ name: string; user: string; path: string }>;
}

export interface IamHarness extends Rotator, IamScenario {}

/**
 * Config for secrets that each rotate one IAM user's key (stored first as that user's only key), kept in Vault, with
 * the admin key in Vault too. `target` / `rotation`: more lines under each block, for every secret.
 */
export async function iamScenario(
  iam: IAMClient,
  count: number,
  options: { target?: string[]; rotation?: string[]; taskQueue?: string } = {},
): Promise<IamScenario> {
  const taskQueue = options.taskQueue ?? unique('tq');
  const store = vaultTestStore();
  const adminName = unique('iam_admin');
  await store.write(adminName, { AccessKeyId: 'AKIAADMIN', SecretAccessKey: 'admin' });
  const secrets: IamScenario['secrets'] = [];
  for (let i = 0; i < count; i++) {
    const { user, key } = await userWithKey(iam);
    const name = unique('keys');
    await store.write(name, { ...key, note: 'kept by the operator' });
    secrets.push({ name, user, path: `test/${name}` });
  }
  const yaml = rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'vault', yaml: store.providerYaml },
    admin: { name: 'iam_admin', path: store.configPath(adminName) },
    secrets: secrets.map((s) => ({
      name: s.name,
      path: store.configPath(s.name),
      type: 'aws-iam',
      target: [`user: ${s.user}`, `endpoint: "${testStack().moto!.endpoint}"`, ...(options.target ?? [])],
      rotation: options.rotation ?? ['grace_period: 0s'],
    })),
  });
  return { taskQueue, yaml, env: store.env, secrets };
}

/** A worker (in this process) and a client for an iamScenario. */
export async function startIamHarness(
  iam: IAMClient,
  count: number,
  options: { target?: string[]; rotation?: string[]; taskQueue?: string; codec?: boolean } = {},
): Promise<IamHarness> {
  const scenario = await iamScenario(iam, count, options);
  const rotator = await startRotator(scenario.yaml, scenario.env, options.codec === false ? { codec: false } : {});
  return { ...rotator, ...scenario };
}

/** The current value of a secret in Vault (path under secret/data/), with its version. */
export async function storedKey(path: string): Promise<{ version: number; value: SecretValue } | null> {
  try {
    const body = await vaultClient().read(`secret/data/${path}`);
    return { version: body.data.metadata.version as number, value: body.data.data as SecretValue };
  } catch (err) {
    if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
    throw err;
  }
}
