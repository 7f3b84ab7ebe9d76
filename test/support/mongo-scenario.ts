// A MongoDB secret on the stack's FerretDB, seeded with a working first version, and the checks of a finished rotation
// (the fault matrix uses it, as it uses test/support/mysql-scenario.ts for MariaDB).
import { randomBytes } from 'node:crypto';
import type { SecretValue } from '../../activities/types';
import { unique } from './harness';
import { adminCommand, mongoAdminSecret, mongoLogin, mongoUser } from './mongo-harness';
import { allPasswords, build, storedInVault, storeProblems, vaultVersion, type Scenario } from './rotation-scenarios';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';

export type MongoStrategy = 'alternating-users' | 'single-user';

const password = () => randomBytes(24).toString('base64url');

/** The roles both users share (alternating-users needs some; FerretDB 1.x holds none, so the target applies none). */
const ROLES = '[{ role: read, db: admin }]';

/** A MongoDB secret whose first version already works: `<user>_a` for alternating-users, or the single user `<user>`. */
export async function mongoScenario(strategy: MongoStrategy, taskQueue: string, rotation: string[] = []): Promise<Scenario> {
  const f = testStack().ferretdb!;
  const secret = unique('mongo');
  const user = unique('app');
  const adminName = unique('mongo_admin');
  const store = vaultTestStore();
  await store.write(adminName, mongoAdminSecret());
  const first = password();
  const login = strategy === 'alternating-users' ? `${user}_a` : user;
  await adminCommand({ createUser: login, pwd: first, roles: [], mechanisms: ['SCRAM-SHA-256'] });
  await store.write(secret, { username: login, password: first, host: f.host, port: f.port, dbname: 'admin', engine: 'mongo' });
  const path = `test/${secret}`;
  const target = [`user: ${user}`, 'database: admin', `roles: ${ROLES}`];
  const built = build(strategy, secret, taskQueue, { type: 'mongodb', lines: target, admin: adminName }, rotation);
  const logins = strategy === 'alternating-users' ? [`${user}_a`, `${user}_b`] : [user];
  const logsIn = async (c: SecretValue) => (await mongoLogin(String(c.username), String(c.password))) === 'ok';
  return {
    strategy,
    secret,
    ...built,
    ...storedInVault(path, logsIn),
    async problems(status, before) {
      const problems = await storeProblems(path, status, before, logsIn);
      // FerretDB shows no password hash to compare: a user that exists and takes none of the stored passwords holds one
      // no store version has (an orphaned login).
      const known = await allPasswords(path, (await vaultVersion(path))!.version);
      for (const l of logins) {
        if (!(await mongoUser(l))) continue;
        let takes = false;
        for (const p of known) if ((takes = (await mongoLogin(l, p)) === 'ok')) break;
        if (!takes) problems.push(`user ${l} logs in with a password no store version has`);
      }
      return problems;
    },
    async close() {
      for (const l of logins) await adminCommand({ dropUser: l }).catch(() => undefined);
    },
  };
}
