// A PostgreSQL secret kept in AWS Secrets Manager (the stack's moto), seeded with a working first version, and the
// checks of a finished rotation: AWSCURRENT logs in, AWSPREVIOUS is the version before, no AWSPENDING is left, and no
// login holds a password neither label has (the fault matrix uses it).
import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { canLogIn, PostgresTarget, postgresConnectionFrom } from '../../activities/targets/postgresql/target';
import type { SecretValue } from '../../activities/types';
import { parseConfig } from '../../src/config/load';
import { planRotation } from '../../src/config/plan';
import { pgAdminSecret, unique } from './harness';
import { pgRolePasswords, scramMatches, type Scenario } from './rotation-scenarios';
import { rotatorYaml } from './rotator-config';
import { testStack } from './stack';
import { secretsManagerTestStore } from './test-stores';

const password = () => randomBytes(24).toString('base64url');

export interface AwsScenario extends Scenario {
  /** Publishes the current value again with `host` and `port` (a proxy's), as the start of the rotation sees it. */
  pointAt(host: string, port: number): Promise<void>;
}

/**
 * alternating-users on PostgreSQL, the secret and the admin's in Secrets Manager under a provider called `store` (so
 * a message that names the system does so in its own words, not the test's provider name).
 */
export async function awsPostgresScenario(taskQueue: string, rotation: string[] = []): Promise<AwsScenario> {
  const sm = secretsManagerTestStore();
  const secret = unique('smdb');
  const role = unique('app');
  const adminName = unique('pg_admin');
  const pg = testStack().postgres!;
  await sm.write(adminName, pgAdminSecret());
  const first = password();
  const login = `${role}_a`;
  const target = new PostgresTarget(postgresConnectionFrom(pgAdminSecret(), {}), role);
  await target.upsertLogin(login, first);
  await target.close();
  await sm.write(secret, {
    username: login,
    password: first,
    host: pg.host,
    port: pg.port,
    dbname: pg.database,
    engine: 'postgres',
  });
  const yaml = rotatorYaml({
    temporalAddress: testStack().temporal!.address,
    taskQueue,
    provider: { name: 'store', yaml: sm.providerYaml },
    admin: { name: 'admin', path: sm.configPath(adminName) },
    secrets: [
      {
        name: secret,
        path: sm.configPath(secret),
        type: 'postgresql',
        target: [`role: ${role}`],
        rotation: ['strategy: alternating-users', 'drain: { timeout: 1s }', ...rotation],
      },
    ],
  });
  const logins = [`${role}_a`, `${role}_b`];
  const logsIn = (c: SecretValue) => canLogIn(pg, { username: String(c.username), password: String(c.password) });
  const current = async () => {
    const got = (await sm.readStage(secret, 'AWSCURRENT'))!;
    return { version: got.version as unknown as number, value: got.value };
  };
  /** Every password any version of the secret holds, labelled or not (a discarded pending version's too). */
  const everyPassword = async () => {
    const out: string[] = [];
    for (const version of Object.keys(await sm.labels(secret))) {
      const got = await sm.client.send(new GetSecretValueCommand({ SecretId: sm.configPath(secret), VersionId: version }));
      const value = JSON.parse(got.SecretString!) as SecretValue;
      if (typeof value.password === 'string') out.push(value.password);
    }
    return out;
  };
  return {
    strategy: 'alternating-users',
    secret,
    yaml,
    env: sm.env,
    plan: planRotation(parseConfig(yaml, sm.env), secret),
    current,
    logsIn,
    passwords: everyPassword,
    async pointAt(host, port) {
      const { value } = await current();
      await sm.write(secret, { ...value, host, port });
    },
    async problems(status, before) {
      const problems: string[] = [];
      const now = await current();
      const previous = await sm.readStage(secret, 'AWSPREVIOUS');
      if (!(await logsIn(now.value))) problems.push(`the store's current credential (${String(now.value.username)}) is refused`);
      const oldStillWorks = await logsIn(before.value);
      if (status.outcome === 'succeeded') {
        if (oldStillWorks) problems.push('the previous credential still logs in after revoke');
        if (String(now.version) === String(before.version)) problems.push('AWSCURRENT is still the version before');
        if (String(now.version) !== String(status.version))
          problems.push(`AWSCURRENT is ${String(now.version)}, the rotation says it published ${String(status.version)}`);
        if (previous?.version !== String(before.version))
          problems.push(`AWSPREVIOUS is ${previous?.version ?? 'on no version'}, not the version before`);
      } else if (status.outcome === 'rolled-back') {
        if (!oldStillWorks) problems.push('the previous credential is refused after a rollback');
        if (now.value.password !== before.value.password) problems.push('the store does not serve the old credential again');
      } else {
        problems.push(`outcome ${status.outcome}: ${status.error?.code ?? ''} ${status.error?.message ?? ''}`);
      }
      if (Object.values(await sm.labels(secret)).some((l) => l.includes('AWSPENDING')))
        problems.push('an AWSPENDING version is left');
      const known = [now.value.password, previous?.value.password, before.value.password].filter(
        (p): p is string => typeof p === 'string',
      );
      for (const [name, { canLogin, verifier }] of await pgRolePasswords(logins)) {
        if (canLogin && verifier && !known.some((p) => scramMatches(verifier, p)))
          problems.push(`login ${name} holds a password neither AWSCURRENT nor AWSPREVIOUS has`);
      }
      return problems;
    },
    async close() {
      sm.client.destroy();
    },
  };
}
