// `rotator plan` for a PostgreSQL target: the admin logs in and may manage the logins; alternating logins share rights.
// Reads the catalogs only: no role is created, altered or granted here.
import { Client, escapeIdentifier } from 'pg';
import type { z } from 'zod';
import { redact } from '../../../src/kernel/redact';
import type { PreflightCheck, TargetPlanOf, TargetPreflightContext } from '../../plugin';
import type { schema } from './index';
import { postgresConnectionFrom } from './target';

type Plan = TargetPlanOf<z.infer<typeof schema>>;

interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolcanlogin: boolean;
}

/** What a login holds that the other of the pair should hold too: memberships and table privileges, as GRANTs. */
interface Rights {
  memberships: Set<string>;
  /** `SELECT ON "schema"."table"` */
  tablePrivileges: Set<string>;
}

const ROLE_SQL = 'select rolname, rolsuper, rolcreaterole, rolcanlogin from pg_roles where rolname = $1';
const MEMBERSHIPS_SQL = `select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid
  join pg_roles r on r.oid = m.member where r.rolname = $1`;
const TABLE_PRIVILEGES_SQL = `select n.nspname, c.relname, a.privilege_type
  from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a
  join pg_roles r on r.oid = a.grantee where r.rolname = $1`;

const q = escapeIdentifier;

export async function preflight(target: Plan, context: TargetPreflightContext): Promise<PreflightCheck[]> {
  const conn = postgresConnectionFrom(context.admin, target);
  const where = `${conn.host}:${conn.port}/${conn.database}`;
  const scrub = (text: string) => redact(text, [conn.password]);
  const client = new Client({ ...conn, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return [
      {
        check: 'postgresql: admin logs in',
        status: 'fail',
        detail: `${conn.user} could not log in to ${where}: ${scrub((err as Error).message)}`,
        fix: `check the admin secret ${target.connection.provider}:${target.connection.path} and that the server is reachable`,
      },
    ];
  }
  try {
    const checks: PreflightCheck[] = [
      { check: 'postgresql: admin logs in', status: 'ok', detail: `${conn.user} logged in to ${where}` },
    ];
    const role = async (name: string) => (await client.query<RoleRow>(ROLE_SQL, [name])).rows[0] ?? null;
    const admin = (await role(conn.user))!;
    const version = Number((await client.query<{ v: string }>('show server_version_num')).rows[0].v);
    checks.push(createRoleCheck(admin));
    const mayManage = admin.rolsuper || admin.rolcreaterole;
    const logins = context.strategy === 'alternating-users' ? [`${context.login}_a`, `${context.login}_b`] : [context.login];
    const creates = context.strategy === 'alternating-users';
    for (const login of logins)
      checks.push(await manageCheck(client, admin, await role(login), login, version, mayManage, creates));
    if (context.strategy === 'alternating-users') {
      checks.push(await groupCheck(client, admin, await role(context.login), context.login, version, mayManage));
      checks.push(await sameRightsCheck(client, logins as [string, string], context.login));
    }
    return checks.map((c) => ({ ...c, detail: scrub(c.detail), ...(c.fix ? { fix: scrub(c.fix) } : {}) }));
  } finally {
    await client.end().catch(() => undefined);
  }
}

function grantCreateRole(admin: RoleRow): string {
  return `as a superuser: ALTER ROLE ${q(admin.rolname)} CREATEROLE;`;
}

function createRoleCheck(admin: RoleRow): PreflightCheck {
  const check = 'postgresql: admin has CREATEROLE';
  if (admin.rolsuper) return { check, status: 'ok', detail: `${admin.rolname} is a superuser` };
  if (admin.rolcreaterole) return { check, status: 'ok', detail: `${admin.rolname} has CREATEROLE` };
  return {
    check,
    status: 'fail',
    detail: `${admin.rolname} has neither CREATEROLE nor SUPERUSER: it cannot create logins or set their passwords`,
    fix: grantCreateRole(admin),
  };
}

/** Whether `admin` holds ADMIN OPTION on `role` (PostgreSQL 16+ asks for it to alter or grant a role). */
async function hasAdminOption(client: Client, admin: string, role: string): Promise<boolean> {
  const res = await client.query<{ ok: boolean }>(`select pg_has_role($1, $2, 'USAGE WITH ADMIN OPTION') as ok`, [admin, role]);
  return res.rows[0]?.ok === true;
}

/** The admin may set this login's password (ALTER ROLE), or create it if it is missing and the strategy may. */
async function manageCheck(
  client: Client,
  admin: RoleRow,
  login: RoleRow | null,
  name: string,
  version: number,
  mayManage: boolean,
  /** alternating-users creates a missing login; single-user needs it to exist. */
  creates: boolean,
): Promise<PreflightCheck> {
  const check = `postgresql: admin can manage ${name}`;
  if (!login) {
    if (!creates) {
      return {
        check,
        status: 'fail',
        detail: `there is no role ${name}: single-user changes the password of an existing login`,
        fix: `create it (CREATE ROLE ${q(name)} LOGIN;) and store its credential, or use alternating-users`,
      };
    }
    return mayManage
      ? { check, status: 'ok', detail: `${name} does not exist yet: the first rotation that uses it creates it` }
      : { check, status: 'fail', detail: `${name} does not exist and the admin cannot create it`, fix: grantCreateRole(admin) };
  }
  if (admin.rolsuper) return { check, status: 'ok', detail: `${name} exists; the admin is a superuser` };
  if (login.rolsuper) {
    return {
      check,
      status: 'fail',
      detail: `${name} is a superuser: only a superuser may change its password`,
      fix: `use a superuser admin, or ALTER ROLE ${q(name)} NOSUPERUSER; (as a superuser)`,
    };
  }
  if (!admin.rolcreaterole)
    return { check, status: 'fail', detail: `${name} exists; the admin lacks CREATEROLE`, fix: grantCreateRole(admin) };
  if (version >= 160000 && !(await hasAdminOption(client, admin.rolname, name))) {
    return {
      check,
      status: 'fail',
      detail: `PostgreSQL ${Math.floor(version / 10000)} asks for ADMIN OPTION on ${name} besides CREATEROLE`,
      fix: `as a superuser: GRANT ${q(name)} TO ${q(admin.rolname)} WITH ADMIN OPTION;`,
    };
  }
  return { check, status: 'ok', detail: `${name} exists; CREATEROLE lets the admin alter it` };
}

/** alternating-users grants the group role to each login it sets up: the admin must be allowed to. */
async function groupCheck(
  client: Client,
  admin: RoleRow,
  group: RoleRow | null,
  name: string,
  version: number,
  mayManage: boolean,
): Promise<PreflightCheck> {
  const check = `postgresql: admin can grant ${name}`;
  if (!group) {
    return mayManage
      ? { check, status: 'ok', detail: `group role ${name} does not exist yet: the first rotation creates it (NOLOGIN)` }
      : {
          check,
          status: 'fail',
          detail: `group role ${name} does not exist and the admin cannot create it`,
          fix: grantCreateRole(admin),
        };
  }
  if (admin.rolsuper) return { check, status: 'ok', detail: `group role ${name} exists; the admin is a superuser` };
  if (group.rolsuper) {
    return {
      check,
      status: 'fail',
      detail: `group role ${name} is a superuser: only a superuser may grant it`,
      fix: `use a superuser admin, or ALTER ROLE ${q(name)} NOSUPERUSER;`,
    };
  }
  if (!admin.rolcreaterole) return { check, status: 'fail', detail: `the admin lacks CREATEROLE`, fix: grantCreateRole(admin) };
  if (version >= 160000 && !(await hasAdminOption(client, admin.rolname, name))) {
    return {
      check,
      status: 'fail',
      detail: `PostgreSQL ${Math.floor(version / 10000)} asks for ADMIN OPTION on ${name} to grant it`,
      fix: `as a superuser: GRANT ${q(name)} TO ${q(admin.rolname)} WITH ADMIN OPTION;`,
    };
  }
  return { check, status: 'ok', detail: `group role ${name} exists; CREATEROLE lets the admin grant it` };
}

async function rightsOf(client: Client, login: string): Promise<Rights> {
  const memberships = (await client.query<{ rolname: string }>(MEMBERSHIPS_SQL, [login])).rows.map((r) => r.rolname);
  const tables = (await client.query<{ nspname: string; relname: string; privilege_type: string }>(TABLE_PRIVILEGES_SQL, [login]))
    .rows;
  return {
    memberships: new Set(memberships),
    tablePrivileges: new Set(tables.map((t) => `${t.privilege_type} ON ${q(t.nspname)}.${q(t.relname)}`)),
  };
}

/**
 * Consumers switch between the two logins at every rotation, so a right only one of them holds comes and goes. The
 * group role is left out: rotation grants it to each login it sets up.
 */
async function sameRightsCheck(client: Client, [a, b]: [string, string], group: string): Promise<PreflightCheck> {
  const check = 'postgresql: both logins have the same rights';
  const exists = async (name: string) => ((await client.query(ROLE_SQL, [name])).rowCount ?? 0) > 0;
  const [hasA, hasB] = [await exists(a), await exists(b)];
  if (!hasA || !hasB) {
    const missing = [hasA ? null : a, hasB ? null : b].filter(Boolean).join(' and ');
    return { check, status: 'ok', detail: `${missing} will be created as a member of ${group}, with its rights` };
  }
  const [ra, rb] = [await rightsOf(client, a), await rightsOf(client, b)];
  ra.memberships.delete(group);
  rb.memberships.delete(group);
  const fixes: string[] = [];
  const differences: string[] = [];
  const compare = (from: Rights, to: Rights, toName: string, fromName: string) => {
    for (const m of from.memberships) {
      if (to.memberships.has(m)) continue;
      differences.push(`${fromName} is a member of ${m}, ${toName} is not`);
      fixes.push(`GRANT ${q(m)} TO ${q(toName)};`);
    }
    for (const p of from.tablePrivileges) {
      if (to.tablePrivileges.has(p)) continue;
      differences.push(`${fromName} has ${p}, ${toName} has not`);
      fixes.push(`GRANT ${p} TO ${q(toName)};`);
    }
  };
  compare(ra, rb, b, a);
  compare(rb, ra, a, b);
  if (differences.length === 0)
    return { check, status: 'ok', detail: `${a} and ${b} hold the same memberships and table privileges` };
  return {
    check,
    status: 'fail',
    detail: differences.join('; '),
    fix: `${fixes.join(' ')} (better: grant rights to the group role ${group} only)`,
  };
}
