// One rotatable secret per strategy on the real stack, seeded with a working first version, and the checks that tell
// whether a finished rotation left the store and the database agreeing with each other and with its outcome.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import {
  canLogIn,
  PostgresTarget,
  postgresConnectionFrom,
  scramSha256Verifier,
} from '../../activities/targets/postgresql/target';
import { redisPasswordHash } from '../../activities/targets/redis/target';
import type { SecretValue } from '../../activities/types';
import { parseConfig } from '../../src/config/load';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import type { RotationStatus } from '../../workflows/definitions';
import { adminQuery, pgAdminSecret, unique, vaultClient } from './harness';
import { createRedisAdmin, redisLogin, rootCall, type RedisAdmin } from './redis-harness';
import { rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';

export type ScenarioStrategy = 'alternating-users' | 'single-user' | 'dual-password';

export interface Scenario {
  strategy: ScenarioStrategy;
  secret: string;
  yaml: string;
  env: Record<string, string>;
  plan: RotationPlan;
  /** The store's current version and value, as a consumer reads it. */
  current(): Promise<{ version: number; value: SecretValue }>;
  /** Logs in with `credential` the way a consumer would: true if accepted, false if refused; an outage throws. */
  logsIn(credential: SecretValue): Promise<boolean>;
  /**
   * Everything wrong with the end state after a rotation that started from `before` (the current version then):
   * empty when the store and the database agree with each other and with the outcome.
   */
  problems(status: RotationStatus, before: { version: number; value: SecretValue }): Promise<string[]>;
  /** Every password any version of the secret has held. */
  passwords(): Promise<string[]>;
  close(): Promise<void>;
}

const password = () => randomBytes(24).toString('base64url');

export async function vaultVersion(path: string, version?: number): Promise<{ version: number; value: SecretValue } | null> {
  try {
    const body = await vaultClient().read(`secret/data/${path}${version ? `?version=${version}` : ''}`);
    return { version: body.data.metadata.version as number, value: body.data.data as SecretValue };
  } catch (err) {
    if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
    throw err;
  }
}

async function vaultMetadata(path: string): Promise<Record<string, string>> {
  const body = await vaultClient().read(`secret/metadata/${path}`);
  return (body.data.custom_metadata ?? {}) as Record<string, string>;
}

/** Every published password of the secret, versions 1..current. */
export async function allPasswords(path: string, upTo: number): Promise<string[]> {
  const out: string[] = [];
  for (let v = 1; v <= upTo; v++) {
    const found = await vaultVersion(path, v);
    if (typeof found?.value.password === 'string') out.push(found.value.password);
  }
  return out;
}

/** True when PostgreSQL's stored SCRAM verifier was made from `candidate` (same salt and iterations). */
export function scramMatches(verifier: string, candidate: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const salted = pbkdf2Sync(candidate, Buffer.from(m[2], 'base64'), Number(m[1]), 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  return storedKey.toString('base64') === m[3];
}

/**
 * The checks every strategy shares: one publish (or the old value back), no pending left, metadata naming the right
 * versions, the current credential logging in and the old one refused after revoke (still valid after a rollback).
 */
export async function storeProblems(
  path: string,
  status: RotationStatus,
  before: { version: number; value: SecretValue },
  logsIn: (c: SecretValue) => Promise<boolean>,
): Promise<string[]> {
  const problems: string[] = [];
  const current = (await vaultVersion(path))!;
  if (!(await logsIn(current.value)))
    problems.push(`the store's current credential (${String(current.value.username)}) is refused`);
  const oldStillWorks = await logsIn(before.value);
  if (status.outcome === 'succeeded' && oldStillWorks) problems.push('the previous credential still logs in after revoke');
  if (status.outcome === 'rolled-back' && !oldStillWorks) problems.push('the previous credential is refused after a rollback');
  if (status.outcome === 'succeeded') {
    if (current.version !== before.version + 1)
      problems.push(`store is at version ${current.version}, expected ${before.version + 1} (published once)`);
    const meta = await vaultMetadata(path);
    if (meta.rotator_previous_version !== String(before.version))
      problems.push(`metadata previous version ${meta.rotator_previous_version}, expected ${before.version}`);
    if (meta.rotator_version !== String(before.version + 1))
      problems.push(`metadata version ${meta.rotator_version}, expected ${before.version + 1}`);
  } else if (status.outcome === 'rolled-back') {
    if (current.value.password !== before.value.password) problems.push('the store does not serve the old credential again');
  } else {
    problems.push(`outcome ${status.outcome}: ${status.error?.code ?? ''} ${status.error?.message ?? ''}`);
  }
  if (await vaultVersion(`rotator-pending/${path}`)) problems.push('a pending value is left');
  return problems;
}

/** What every scenario reads from its secret in Vault: the current version, every password it has held. */
export function storedInVault(path: string, logsIn: (c: SecretValue) => Promise<boolean>) {
  return {
    current: async () => (await vaultVersion(path))!,
    passwords: async () => allPasswords(path, (await vaultVersion(path))!.version),
    logsIn,
  };
}

export async function pgRolePasswords(roles: string[]): Promise<Map<string, { canLogin: boolean; verifier: string | null }>> {
  const rows = await adminQuery('select rolname, rolcanlogin, rolpassword from pg_authid where rolname = any($1)', [roles]);
  return new Map(
    rows.map((r) => [
      String(r.rolname),
      { canLogin: Boolean(r.rolcanlogin), verifier: (r.rolpassword as string | null) ?? null },
    ]),
  );
}

export function build(
  strategy: ScenarioStrategy,
  secret: string,
  taskQueue: string,
  target: { type: string; lines: string[]; admin: string },
  rotation: string[],
): { yaml: string; env: Record<string, string>; plan: RotationPlan } {
  const store = vaultTestStore();
  const yaml = rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'vault', yaml: store.providerYaml },
    admin: { name: 'admin', path: store.configPath(target.admin) },
    secrets: [
      {
        name: secret,
        path: store.configPath(secret),
        type: target.type,
        target: target.lines,
        rotation: [`strategy: ${strategy}`, 'drain: { timeout: 1s }', ...rotation],
      },
    ],
  });
  return { yaml, env: store.env, plan: planRotation(parseConfig(yaml, store.env), secret) };
}

/**
 * A PostgreSQL secret (alternating-users or single-user) whose first version already works: for alternating-users
 * `<role>_a` holds it, so a rotation sets up `<role>_b` and then revokes `<role>_a`.
 */
export async function postgresScenario(
  strategy: 'alternating-users' | 'single-user',
  taskQueue: string,
  rotation: string[] = [],
): Promise<Scenario> {
  const secret = unique('db');
  const role = unique('app');
  const adminName = unique('pg_admin');
  const pg = testStack().postgres!;
  const store = vaultTestStore();
  await store.write(adminName, pgAdminSecret());
  const first = password();
  const login = strategy === 'alternating-users' ? `${role}_a` : role;
  if (strategy === 'alternating-users') {
    const target = new PostgresTarget(postgresConnectionFrom(pgAdminSecret(), {}), role);
    await target.upsertLogin(login, first);
    await target.close();
  } else {
    await adminQuery(`create role ${escapeIdentifier(login)} login password ${escapeLiteral(scramSha256Verifier(first))}`);
  }
  await store.write(secret, {
    username: login,
    password: first,
    host: pg.host,
    port: pg.port,
    dbname: pg.database,
    engine: 'postgres',
  });
  const path = `test/${secret}`;
  const built = build(strategy, secret, taskQueue, { type: 'postgresql', lines: [`role: ${role}`], admin: adminName }, rotation);
  const logins = strategy === 'alternating-users' ? [`${role}_a`, `${role}_b`] : [role];
  const logsIn = (c: SecretValue) => canLogIn(pg, { username: String(c.username), password: String(c.password) });
  return {
    strategy,
    secret,
    ...built,
    ...storedInVault(path, logsIn),
    async problems(status, before) {
      const problems = await storeProblems(path, status, before, logsIn);
      const known = await allPasswords(path, (await vaultVersion(path))!.version);
      for (const [name, { canLogin, verifier }] of await pgRolePasswords(logins)) {
        if (canLogin && verifier && !known.some((p) => scramMatches(verifier, p)))
          problems.push(`login ${name} holds a password no store version has`);
      }
      return problems;
    },
    async close() {},
  };
}

/** A Redis dual-password secret: one ACL user whose first password already works. */
export async function redisDualScenario(taskQueue: string, rotation: string[] = []): Promise<Scenario> {
  const secret = unique('cache');
  const user = unique('app');
  const adminName = unique('redis_admin');
  const admin: RedisAdmin = await createRedisAdmin();
  const store = vaultTestStore();
  await store.write(adminName, { ...admin, engine: 'redis' });
  const first = password();
  await rootCall('ACL', 'SETUSER', user, 'reset', 'on', `#${redisPasswordHash(first)}`, '~*', '+@read', '+ping');
  const { host, port } = testStack().redis!;
  await store.write(secret, { username: user, password: first, host, port, engine: 'redis' });
  const path = `test/${secret}`;
  const built = build(
    'dual-password',
    secret,
    taskQueue,
    { type: 'redis', lines: [`user: ${user}`], admin: adminName },
    rotation,
  );
  const logsIn = async (c: SecretValue) => {
    const answer = await redisLogin(String(c.username), String(c.password));
    if (answer === 'ok') return true;
    if (answer === 'WRONGPASS') return false;
    throw new Error(`redis answered ${answer}`);
  };
  return {
    strategy: 'dual-password',
    secret,
    ...built,
    ...storedInVault(path, logsIn),
    async problems(status, before) {
      const problems = await storeProblems(path, status, before, logsIn);
      const reply = (await rootCall('ACL', 'GETUSER', user)) as unknown[];
      const hashes = reply[reply.indexOf('passwords') + 1] as string[];
      const known = new Set((await allPasswords(path, (await vaultVersion(path))!.version)).map(redisPasswordHash));
      if (hashes.some((h) => !known.has(h))) problems.push(`${user} holds a password no store version has`);
      return problems;
    },
    async close() {
      await rootCall('ACL', 'DELUSER', user, admin.username);
    },
  };
}

export function scenarioFor(strategy: ScenarioStrategy, taskQueue: string, rotation: string[] = []): Promise<Scenario> {
  return strategy === 'dual-password' ? redisDualScenario(taskQueue, rotation) : postgresScenario(strategy, taskQueue, rotation);
}
