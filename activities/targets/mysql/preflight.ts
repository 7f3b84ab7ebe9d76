// `rotator plan` for a MySQL / MariaDB target: the admin logs in and holds the privileges the strategy needs, the
// accounts and the role or template exist, the alternating logins hold the same grants. Reads only: SHOW GRANTS,
// information_schema and mysql.user; nothing is created, altered or granted here.
import { escape } from 'mysql2';
import { createConnection, type Connection } from 'mysql2/promise';
import type { z } from 'zod';
import { redact } from '../../../src/kernel/redact';
import type { PreflightCheck, TargetPlanOf, TargetPreflightContext } from '../../plugin';
import type { schema } from './index';
import { account, flavourOf, normalisedGrants, parseAccount, supportsDualPassword, type ServerFlavour } from './sql';
import { mysqlConnectionFrom } from './target';

type Plan = TargetPlanOf<z.infer<typeof schema>>;

/** The current account as information_schema writes a grantee: `'user'@'host'`. */
const GRANTEE = `CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`;

export async function preflight(target: Plan, context: TargetPreflightContext): Promise<PreflightCheck[]> {
  const conn = mysqlConnectionFrom(context.admin, target);
  const where = `${conn.host}:${conn.port}`;
  const scrub = (text: string) => redact(text, [conn.password]);
  let client: Connection;
  try {
    client = await createConnection({
      host: conn.host,
      port: conn.port,
      user: conn.user,
      password: conn.password,
      connectTimeout: 5_000,
    });
  } catch (err) {
    return [
      {
        check: 'mysql: admin logs in',
        status: 'fail',
        detail: `${conn.user} could not log in to ${where}: ${scrub((err as Error).message)}`,
        fix: `check the admin secret ${target.connection.provider}:${target.connection.path} and that the server is reachable`,
      },
    ];
  }
  client.on('error', () => undefined);
  try {
    const rows = async <T>(sql: string): Promise<T[]> => (await client.query(sql))[0] as T[];
    const version = (await rows<{ v: string; me: string }>('SELECT VERSION() AS v, CURRENT_USER() AS me'))[0];
    const flavour = flavourOf(version.v);
    const me = version.me;
    const checks: PreflightCheck[] = [
      { check: 'mysql: admin logs in', status: 'ok', detail: `${conn.user} logged in to ${where} (${flavour.text}) as ${me}` },
    ];
    const privileges = new Map(
      (
        await rows<{ p: string; g: string }>(
          `SELECT PRIVILEGE_TYPE AS p, IS_GRANTABLE AS g FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ${GRANTEE}`,
        )
      ).map((r) => [r.p.toUpperCase(), r.g === 'YES']),
    );
    const adminAcct = account(me.split('@')[0], me.slice(me.indexOf('@') + 1));
    checks.push(strategyCheck(flavour, context));
    checks.push(privilegeCheck('CREATE USER', privileges, adminAcct, 'it cannot create accounts or set their passwords'));
    checks.push(sessionsCheck(privileges, adminAcct));

    const host = target.account_host ?? '%';
    const exists = async (user: string, h: string) =>
      (await rows(`SELECT 1 AS x FROM mysql.user WHERE User = ${escape(user)} AND Host = ${escape(h)}`)).length > 0;
    const alternating = context.strategy === 'alternating-users';
    const logins = alternating ? [`${context.login}_a`, `${context.login}_b`] : [context.login];
    for (const login of logins) {
      const check = `mysql: account ${login}@${host}`;
      if (await exists(login, host)) checks.push({ check, status: 'ok', detail: `${account(login, host)} exists` });
      else if (alternating)
        checks.push({ check, status: 'ok', detail: `${account(login, host)} does not exist yet: the first rotation creates it` });
      else
        checks.push({
          check,
          status: 'fail',
          detail: `there is no account ${account(login, host)}: ${context.strategy} changes the password of an existing one`,
          fix: `CREATE USER ${account(login, host)}; and store its credential, or use alternating-users`,
        });
    }
    if (alternating && target.role) checks.push(await roleCheck(rows, target.role, privileges, adminAcct));
    if (alternating && target.template) checks.push(await templateCheck(rows, target.template));
    if (alternating) {
      const present = [];
      for (const l of logins) if (await exists(l, host)) present.push(l);
      if (present.length === 2) checks.push(await sameGrantsCheck(rows, present as [string, string], host, target));
    }
    return checks.map((c) => ({ ...c, detail: scrub(c.detail), ...(c.fix ? { fix: scrub(c.fix) } : {}) }));
  } catch (err) {
    return [
      {
        check: 'mysql: admin may read the grants',
        status: 'fail',
        detail: `reading privileges at ${where} failed: ${scrub((err as Error).message)}`,
        fix: 'grant the admin SELECT on mysql.user (or CREATE USER, which also lets it read the accounts)',
      },
    ];
  } finally {
    await client.end().catch(() => client.destroy());
  }
}

function strategyCheck(flavour: ServerFlavour, context: TargetPreflightContext): PreflightCheck {
  const check = `mysql: server supports ${context.strategy}`;
  if (context.strategy !== 'dual-password')
    return { check, status: 'ok', detail: `${flavour.text} sets passwords with ALTER USER` };
  if (supportsDualPassword(flavour))
    return { check, status: 'ok', detail: `${flavour.text} keeps a retained password (RETAIN CURRENT PASSWORD)` };
  return {
    check,
    status: 'fail',
    detail: `${flavour.text} keeps one password per account: dual passwords need MySQL 8.0.14 or later (MariaDB has none)`,
    fix: 'use rotation.strategy: alternating-users (with role: or template:)',
  };
}

function privilegeCheck(privilege: string, privileges: Map<string, boolean>, admin: string, without: string): PreflightCheck {
  const check = `mysql: admin has ${privilege}`;
  if (privileges.has(privilege)) return { check, status: 'ok', detail: `${admin} holds ${privilege} on *.*` };
  return {
    check,
    status: 'fail',
    detail: `${admin} lacks the global ${privilege} privilege: ${without}`,
    fix: `as an administrator: GRANT ${privilege} ON *.* TO ${admin};`,
  };
}

function sessionsCheck(privileges: Map<string, boolean>, admin: string): PreflightCheck {
  const check = 'mysql: admin sees and ends other sessions';
  const sees = privileges.has('PROCESS');
  const kills = privileges.has('SUPER') || privileges.has('CONNECTION ADMIN') || privileges.has('CONNECTION_ADMIN');
  if (sees && kills) return { check, status: 'ok', detail: `${admin} holds PROCESS and may kill other sessions` };
  const missing = [...(sees ? [] : ['PROCESS']), ...(kills ? [] : ['CONNECTION ADMIN (MySQL 8: CONNECTION_ADMIN)'])];
  return {
    check,
    status: 'warn',
    detail: `${admin} lacks ${missing.join(' and ')}: revoke cannot count the old login's sessions to drain, or end them`,
    fix: `GRANT ${missing.map((m) => m.replace(/ \(.*\)$/, '')).join(', ')} ON *.* TO ${admin};`,
  };
}

type Rows = <T>(sql: string) => Promise<T[]>;

async function roleCheck(rows: Rows, role: string, privileges: Map<string, boolean>, admin: string): Promise<PreflightCheck> {
  const check = `mysql: role ${role}`;
  const found = await rows(`SELECT 1 AS x FROM mysql.user WHERE User = ${escape(role)}`);
  if (found.length === 0)
    return {
      check,
      status: 'fail',
      detail: `there is no role ${role}`,
      fix: `CREATE ROLE ${role}; and grant it what the application needs`,
    };
  // MariaDB grants a role with its ADMIN OPTION (the role's creator has it); a superuser-like admin may grant any.
  const mayGrant = privileges.get('CREATE USER') === true || privileges.has('SUPER');
  if (mayGrant) return { check, status: 'ok', detail: `${role} exists and ${admin} may grant it` };
  return {
    check,
    status: 'warn',
    detail: `${role} exists; ${admin} may need its ADMIN OPTION to grant it`,
    fix: `GRANT ${role} TO ${admin} WITH ADMIN OPTION;`,
  };
}

async function templateCheck(rows: Rows, template: string): Promise<PreflightCheck> {
  const t = parseAccount(template)!;
  const check = `mysql: template ${account(t.user, t.host)}`;
  const found = await rows(`SELECT 1 AS x FROM mysql.user WHERE User = ${escape(t.user)} AND Host = ${escape(t.host)}`);
  if (found.length > 0) return { check, status: 'ok', detail: `${account(t.user, t.host)} exists: both logins copy its grants` };
  return {
    check,
    status: 'fail',
    detail: `there is no account ${account(t.user, t.host)} to copy grants from`,
    fix: `CREATE USER ${account(t.user, t.host)} ACCOUNT LOCK; and grant it what the application needs`,
  };
}

async function sameGrantsCheck(rows: Rows, [a, b]: [string, string], host: string, target: Plan): Promise<PreflightCheck> {
  const check = `mysql: ${a} and ${b} hold the same grants`;
  const grants = async (user: string) =>
    normalisedGrants(
      (await rows<Record<string, string>>(`SHOW GRANTS FOR ${account(user, host)}`)).map((r) => Object.values(r)[0] ?? ''),
      user,
      host,
    );
  const [ga, gb] = [await grants(a), await grants(b)];
  const differences: string[] = [];
  const fixes: string[] = [];
  const compare = (from: string[], to: string[], fromName: string, toName: string) => {
    for (const g of from) {
      if (to.includes(g)) continue;
      differences.push(`${fromName} has "${g.replace('?', fromName)}", ${toName} has not`);
      fixes.push(`${g.replace('?', account(toName, host))};`);
    }
  };
  compare(ga, gb, a, b);
  compare(gb, ga, b, a);
  if (differences.length === 0) return { check, status: 'ok', detail: `${a} and ${b} hold the same ${ga.length} grant(s)` };
  const source = target.role ? `the role ${target.role}` : target.template ? `the template ${target.template}` : 'one role';
  return {
    check,
    status: 'fail',
    detail: differences.join('; '),
    fix: `${fixes.join(' ')} (better: grant rights to ${source} only)`,
  };
}
