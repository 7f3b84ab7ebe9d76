// A MySQL secret on the stack's MariaDB, seeded with a working first version, and the checks of a finished rotation
// (the kill harness of test/fault-injection-mysql.test.ts and the fault matrix use it).
import { randomBytes } from 'node:crypto';
import { nativePasswordHash } from '../../activities/targets/mysql/sql';
import { MysqlTarget, mysqlConnectionFrom } from '../../activities/targets/mysql/target';
import { adminSecret, asAdmin, mysqlLogin } from '../../activities/targets/mysql/test-support';
import type { SecretValue } from '../../activities/types';
import { unique } from './harness';
import { allPasswords, build, storedInVault, storeProblems, vaultVersion, type Scenario } from './rotation-scenarios';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';

export type MysqlStrategy = 'alternating-users' | 'single-user';

const password = () => randomBytes(24).toString('base64url');

/** A MySQL secret whose first version already works: `<user>_a` (granted the role) or the single account `<user>`. */
export async function mysqlScenario(strategy: MysqlStrategy, taskQueue: string, rotation: string[] = []): Promise<Scenario> {
  const mariadb = testStack().mariadb!;
  const secret = unique('mydb');
  const user = unique('app');
  const role = unique('app_role');
  const adminName = unique('my_admin');
  const store = vaultTestStore();
  await store.write(adminName, adminSecret(mariadb));
  const first = password();
  const login = strategy === 'alternating-users' ? `${user}_a` : user;
  await asAdmin(mariadb, `CREATE ROLE ${role}`, `GRANT SELECT ON mysql.db TO ${role}`);
  if (strategy === 'alternating-users') {
    const target = await MysqlTarget.connect(mysqlConnectionFrom(adminSecret(mariadb), {}), { role });
    await target.upsertLogin(login, first);
    await target.close();
  } else {
    await asAdmin(mariadb, `CREATE USER '${login}'@'%' IDENTIFIED BY PASSWORD '${nativePasswordHash(first)}'`);
  }
  await store.write(secret, { username: login, password: first, host: mariadb.host, port: mariadb.port, engine: 'mariadb' });
  const path = `test/${secret}`;
  const target = [`user: ${user}`, ...(strategy === 'alternating-users' ? [`role: ${role}`] : [])];
  const built = build(strategy, secret, taskQueue, { type: 'mysql', lines: target, admin: adminName }, rotation);
  const logins = strategy === 'alternating-users' ? [`${user}_a`, `${user}_b`] : [user];
  const logsIn = (c: SecretValue) => mysqlLogin(mariadb, String(c.username), String(c.password));
  return {
    strategy,
    secret,
    ...built,
    ...storedInVault(path, logsIn),
    async problems(status, before) {
      const problems = await storeProblems(path, status, before, logsIn);
      const known = new Set((await allPasswords(path, (await vaultVersion(path))!.version)).map(nativePasswordHash));
      const rows = await asAdmin<{ User: string; Priv: string | Record<string, unknown> }>(
        mariadb,
        `SELECT User, Priv FROM mysql.global_priv WHERE User IN (${logins.map((l) => `'${l}'`).join(', ')}) AND Host = '%'`,
      );
      for (const r of rows) {
        // mysql2 parses the JSON column itself
        const priv = (typeof r.Priv === 'string' ? JSON.parse(r.Priv) : r.Priv) as {
          authentication_string?: string;
          account_locked?: boolean;
        };
        if (!priv.account_locked && priv.authentication_string && !known.has(priv.authentication_string))
          problems.push(`account ${r.User} logs in with a password no store version has`);
      }
      return problems;
    },
    async close() {
      await asAdmin(mariadb, ...logins.map((l) => `DROP USER IF EXISTS '${l}'@'%'`), `DROP ROLE IF EXISTS ${role}`);
    },
  };
}
