// `rotator plan` for a MongoDB target: the admin logs in and holds createUser/updateUser/dropUser on the users' database.
// connectionStatus with showPrivileges reads the admin's own privileges; nothing is created or changed here.
import { MongoClient, type Document } from 'mongodb';
import type { z } from 'zod';
import { redact } from '../../../src/kernel/redact';
import type { PreflightCheck, TargetPlanOf, TargetPreflightContext } from '../../plugin';
import type { schema } from './index';
import { mongoAdminClient, mongoConnectionFrom } from './target';

type Plan = TargetPlanOf<z.infer<typeof schema>>;

/** What rotation runs as the admin: usersInfo (viewUser), createUser, updateUser, dropUser. */
const ACTIONS = ['viewUser', 'createUser', 'changePassword', 'grantRole', 'dropUser'] as const;

interface Privilege {
  resource?: { db?: string; collection?: string; cluster?: boolean; anyResource?: boolean };
  actions?: string[];
}

function covers(p: Privilege, db: string): boolean {
  const r = p.resource ?? {};
  return r.anyResource === true || ((r.db === db || r.db === '') && (r.collection === '' || r.collection === undefined));
}

export async function preflight(target: Plan, context: TargetPreflightContext): Promise<PreflightCheck[]> {
  const conn = mongoConnectionFrom(context.admin, target);
  const scrub = (text: string) => redact(text, [conn.password]);
  const where = `${conn.host}:${conn.port}`;
  let client: MongoClient | undefined;
  let status: Document;
  try {
    client = mongoAdminClient(conn);
    status = await client.db(target.database).command({ connectionStatus: 1, showPrivileges: true });
  } catch (err) {
    await client?.close().catch(() => undefined);
    return [
      {
        check: 'mongodb: admin logs in',
        status: 'fail',
        detail: `${conn.username} could not log in to ${where}: ${scrub((err as Error).message)}`,
        fix: `check the admin secret ${target.connection.provider}:${target.connection.path} and that the server is reachable`,
      },
    ];
  }
  try {
    const checks: PreflightCheck[] = [
      {
        check: 'mongodb: admin logs in',
        status: 'ok',
        detail: `${conn.username} logged in to ${where} (auth db ${conn.authSource})`,
      },
    ];
    if (context.strategy !== 'alternating-users') checks.push(await userExists(client, target.database, context.login));
    const privileges = (status.authInfo as { authenticatedUserPrivileges?: Privilege[] } | undefined)
      ?.authenticatedUserPrivileges;
    const check = `mongodb: admin may manage users in ${target.database}`;
    if (!Array.isArray(privileges) || privileges.length === 0) {
      // FerretDB 1.x answers connectionStatus without privileges (it implements no authorization): say so, not ✓.
      checks.push({
        check,
        status: 'warn',
        detail: 'not checked: the server reported no privileges for the admin (FerretDB 1.x implements no roles)',
        fix: `make sure ${conn.username} may createUser, updateUser and dropUser in ${target.database}`,
      });
      return checks.map((c) => ({ ...c, detail: scrub(c.detail), ...(c.fix ? { fix: scrub(c.fix) } : {}) }));
    }
    const held = new Set(privileges.filter((p) => covers(p, target.database)).flatMap((p) => p.actions ?? []));
    const missing = ACTIONS.filter((a) => !held.has(a));
    checks.push(
      missing.length === 0
        ? { check, status: 'ok', detail: `${conn.username} holds ${ACTIONS.join(', ')} on ${target.database}` }
        : {
            check,
            status: 'fail',
            detail: `${conn.username} lacks ${missing.join(', ')} on ${target.database}`,
            fix: `db.getSiblingDB(${JSON.stringify(conn.authSource)}).grantRolesToUser(${JSON.stringify(conn.username)}, [{ role: "userAdmin", db: ${JSON.stringify(target.database)} }])`,
          },
    );
    return checks.map((c) => ({ ...c, detail: scrub(c.detail), ...(c.fix ? { fix: scrub(c.fix) } : {}) }));
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** single-user changes the password of an existing user; it never creates one. */
async function userExists(client: MongoClient, database: string, user: string): Promise<PreflightCheck> {
  const check = `mongodb: user ${user} exists`;
  try {
    const res = await client.db(database).command({ usersInfo: { user, db: database } });
    return Array.isArray(res.users) && res.users.length > 0
      ? { check, status: 'ok', detail: `${user} exists in ${database}` }
      : {
          check,
          status: 'fail',
          detail: `there is no user ${user} in ${database}: single-user changes the password of an existing user`,
          fix: 'create it and store its credential, or use alternating-users',
        };
  } catch (err) {
    return { check, status: 'warn', detail: `could not look it up: ${(err as Error).message.split('\n')[0]}` };
  }
}
