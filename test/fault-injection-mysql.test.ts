// Kill the real worker process (SIGKILL) before and after every step of a MySQL rotation on the stack's MariaDB,
// start a fresh worker, and check that the rotation still ends in a state the store and the database agree on: for
// alternating-users (logins granted a role) and single-user. (MariaDB has no dual password: no row for it.)
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nativePasswordHash } from '../activities/targets/mysql/sql';
import { MysqlTarget, mysqlConnectionFrom } from '../activities/targets/mysql/target';
import { adminSecret, asAdmin, mysqlLogin } from '../activities/targets/mysql/test-support';
import type { SecretValue } from '../activities/types';
import { followRotation, startRotation } from '../src/client/rotations';
import {
  type FaultHarness,
  faultTrial,
  killPointsToRun,
  killTable,
  type KillTrial,
  pool,
  startFaultHarness,
} from './support/fault-harness';
import { killPointName } from './support/fault-injection';
import { unique } from './support/harness';
import { allPasswords, build, storedInVault, storeProblems, vaultVersion, type Scenario } from './support/rotation-scenarios';
import { testStack } from './support/stack';
import { vaultTestStore } from './support/test-stores';

type MysqlStrategy = 'alternating-users' | 'single-user';
const STRATEGIES: MysqlStrategy[] = ['alternating-users', 'single-user'];
/** In npm test, the steps that run SQL on MariaDB are killed (see killPointsToRun); `npm run chaos` kills every step. */
const OWN_STEPS = ['applyCredential', 'verifyCredential', 'waitForDrain', 'revokeLogin', 'disableLogin', 'restorePassword'];
/** Trials at once: each is mostly waiting for the server to hand a dead worker's task on. */
const CONCURRENCY = 6;

const mariadb = testStack().mariadb!;
const password = () => randomBytes(24).toString('base64url');

/** A MySQL secret whose first version already works: `<user>_a` (granted the role) or the single account `<user>`. */
async function mysqlScenario(strategy: MysqlStrategy, taskQueue: string): Promise<Scenario> {
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
  const built = build(strategy, secret, taskQueue, { type: 'mysql', lines: target, admin: adminName }, []);
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

type Trial = KillTrial;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(strategy: MysqlStrategy, killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const scenario = await mysqlScenario(strategy, taskQueue);
  const before = await scenario.current();
  try {
    return await faultTrial(
      harness,
      { yaml: scenario.yaml, env: scenario.env, taskQueue },
      killAt,
      async () => (await startRotation(harness.client, taskQueue, scenario.plan)).handle,
      async (handle, { killed, steps }) => {
        const { status } = await followRotation(handle);
        return { killAt, killed, outcome: status.outcome, problems: await scenario.problems(status, before), steps };
      },
    );
  } finally {
    await scenario.close();
  }
}

function table(strategy: string, trials: Trial[]): string {
  return killTable(`mysql ${strategy}`, trials);
}

describe('a worker process killed at any step of a MySQL rotation', () => {
  for (const strategy of STRATEGIES) {
    it(
      `${strategy}: every kill point before and after each step ends succeeded, with store and MariaDB agreeing`,
      async () => {
        const clean = await trial(strategy, null);
        expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
        const points = clean.steps.flatMap((s) => [killPointName({ ...s, when: 'before' }), killPointName(s)]);
        expect(points.length).toBeGreaterThan(10);

        const trials = await pool(killPointsToRun(points, OWN_STEPS), CONCURRENCY, (p) => trial(strategy, p));
        const report = table(strategy, trials);
        const out = resolve(__dirname, '../.rotator');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, `fault-injection-mysql-${strategy}.md`), report + '\n');
        process.stderr.write(`\n${report}\n`);

        expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
        expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
      },
      15 * 60_000,
    );
  }
});
