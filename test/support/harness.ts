// A rotator wired to the test stack: a real worker and client per test file, and helpers to look at the results.
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { canLogIn } from '../../activities/targets/postgresql/target';
import type { SecretValue } from '../../activities/types';
import type { CodecKeys } from '../../src/client/codec/aes-gcm-codec';
import { queryStatus } from '../../src/client/rotations';
import type { PhaseName, RotationStatus } from '../../workflows/definitions';
import { startRotator, type Rotator } from './rotator';
import { postgresAdminSecret, rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { vaultClient, vaultTestStore, type TestStore } from './test-stores';

export { vaultClient } from './test-stores';
export { testCodecKeys, workflowBundle } from './rotator';

export function unique(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** The `id:base64` form ROTATOR_CODEC_KEY takes, for a worker process or the CLI sharing the test's key. */
export function codecKeyEnv(keys: CodecKeys): string {
  return `${keys.activeKeyId}:${keys.keys.get(keys.activeKeyId)!.toString('base64')}`;
}

export interface SecretSpec {
  name?: string;
  role?: string;
  strategy?: 'alternating-users' | 'single-user';
  extra?: string; // more YAML lines under rotation:
}

/**
 * Config text for the test stack: an admin secret and one rotatable secret per spec, in Vault under the provider
 * name `vault` (adminPath then is the path under secret/data/), or in `store` under the provider name `store`
 * (adminPath then is the name the store was given the admin secret under).
 */
export function configYaml(
  taskQueue: string,
  specs: Array<Required<Pick<SecretSpec, 'name' | 'role'>> & SecretSpec>,
  adminPath: string,
  store?: TestStore,
): string {
  const provider = store ? 'store' : 'vault';
  const where = store ?? vaultTestStore();
  return rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: provider, yaml: where.providerYaml },
    admin: { name: 'pg_admin', path: store ? store.configPath(adminPath) : `secret/data/${adminPath}` },
    secrets: specs.map((s) => ({
      name: s.name,
      path: where.configPath(s.name),
      type: 'postgresql',
      target: [`role: ${s.role}`],
      // A short drain unless the spec sets its own, so tests with a held session stay quick.
      rotation: [
        `strategy: ${s.strategy ?? 'alternating-users'}`,
        ...(s.extra?.includes('drain:') ? [] : ['drain: { timeout: 2s }']),
      ],
      extra: s.extra,
    })),
  });
}

export function testEnv(): Record<string, string> {
  return { TEST_VAULT_TOKEN: testStack().vault!.token };
}

/** The admin credential rotator manages roles with: the test cluster's superuser, stored in Vault. */
export async function seedAdmin(adminPath: string): Promise<void> {
  await vaultClient().write(`secret/data/${adminPath}`, { data: pgAdminSecret() });
}

export function pgAdminSecret(): SecretValue {
  return postgresAdminSecret(testStack().postgres!);
}

export async function readStore(
  path: string,
  version?: string,
): Promise<{ version: number; data: Record<string, unknown> } | null> {
  try {
    const body = await vaultClient().read(`secret/data/${path}${version ? `?version=${version}` : ''}`);
    return { version: body.data.metadata.version as number, data: body.data.data as Record<string, unknown> };
  } catch (err) {
    if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
    throw err;
  }
}

/** True when the credential logs in and runs a query; false when PostgreSQL refuses it. */
export function canLogin(username: string, password: string): Promise<boolean> {
  return canLogIn(testStack().postgres!, { username, password });
}

export async function adminQuery(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const pg = testStack().postgres!;
  const client = new PgClient({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface Harness extends Rotator {
  taskQueue: string;
  /** Where the admin secret is: a path under secret/data/ in Vault, or its name in the `store` option. */
  adminPath: string;
  /** The config as YAML text, for tests that hand it to the CLI or a worker process. */
  yaml: string;
  /** The configured secrets in the order given, with their generated names and roles. */
  secrets: Array<{ name: string; role: string }>;
}

/** A worker and a client on a fresh task queue, with the given secrets configured; in Vault unless `store` says otherwise. */
export async function startHarness(
  specs: Array<SecretSpec>,
  options: { codec?: boolean; keys?: CodecKeys; store?: TestStore } = {},
): Promise<Harness> {
  const taskQueue = unique('tq');
  const { store } = options;
  const adminPath = store ? unique('pg_admin') : `test/${unique('pg_admin')}`;
  if (store) await store.write(adminPath, pgAdminSecret());
  else await seedAdmin(adminPath);
  const named = specs.map((s) => ({ ...s, name: s.name ?? unique('db'), role: s.role ?? unique('app') }));
  const yaml = configYaml(taskQueue, named, adminPath, store);
  const rotator = await startRotator(yaml, { ...testEnv(), ...store?.env }, options);
  return { ...rotator, taskQueue, adminPath, yaml, secrets: named.map(({ name, role }) => ({ name, role })) };
}

/** Polls the status query until the rotation reaches the phase; fails fast if it ends first. */
export async function untilPhase(handle: WorkflowHandle, phase: PhaseName, timeoutMs = 30_000): Promise<RotationStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await queryStatus(handle).catch(() => null); // null until a worker has run the first task
    if (status?.phase === phase) return status;
    if (status && status.outcome !== 'running') throw new Error(`rotation ended (${status.outcome}) before reaching ${phase}`);
    if (Date.now() > deadline) throw new Error(`rotation did not reach ${phase} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
