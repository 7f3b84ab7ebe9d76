// For tests only (test/targets.test.ts, the mysql tests): the stack's MariaDB as the contract suite and the scenarios
// use it. Plain mysql2 clients, not the target's own code, answer whether a login works.
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import type { SecretValue } from '../../types';
import { MysqlTarget, mysqlConnectionFrom } from './target';
import { account } from './sql';

/** The stack's MariaDB (StackInfo.mariadb). */
export interface MariadbServer {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export function adminSecret(server: MariadbServer): SecretValue {
  return { username: server.user, password: server.password, host: server.host, port: server.port, engine: 'mariadb' };
}

/** Runs statements as the stack's admin (setting up roles and templates, reading back what a rotation did). */
export async function asAdmin<T = unknown>(server: MariadbServer, ...statements: string[]): Promise<T[]> {
  const c = await createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  try {
    let last: T[] = [];
    for (const sql of statements) last = (await c.query(sql))[0] as T[];
    return last;
  } finally {
    await c.end();
  }
}

/** Whether the server lets `user` in with `password` (a plain client; a refusal is false, an outage throws). */
export async function mysqlLogin(server: MariadbServer, user: string, password: string): Promise<boolean> {
  try {
    const c = await createConnection({ host: server.host, port: server.port, user, password, connectTimeout: 5_000 });
    await c.end();
    return true;
  } catch (err) {
    if (/^ER_/.test((err as { code?: string }).code ?? '') || (err as { errno?: number }).errno === 4151) return false;
    throw err;
  }
}

/** What describeTargetContract needs (test/contract/target-contract.ts), for the stack's MariaDB. */
export async function contractTarget(stack: { mariadb?: MariadbServer }, serverLog: string) {
  const server = stack.mariadb!;
  const role = uniqueName('contract_role');
  await asAdmin(server, `CREATE ROLE ${role}`, `GRANT SELECT ON mysql.db TO ${role}`);
  const target = await MysqlTarget.connect(mysqlConnectionFrom(adminSecret(server), {}), { role });
  return {
    target,
    login: () => `${uniqueName('contract')}_a`,
    verifyQuery: 'SELECT 1',
    canLogin: (user: string, password: string) => mysqlLogin(server, user, password),
    async openSession(user: string, password: string) {
      const c = await createConnection({ host: server.host, port: server.port, user, password });
      c.on('error', () => undefined); // a killed connection reports itself as an error
      const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
      // mysql2 learns of a KILL only when it next reads: a pending query sees the connection end.
      void c.query('SELECT SLEEP(600)').catch(() => undefined);
      return { ended, close: () => c.end().catch(() => c.destroy()) };
    },
    adminPassword: server.password,
    serverLog,
    cleanup: async () => {
      const users = await asAdmin<{ User: string; Host: string }>(
        server,
        `SELECT User, Host FROM mysql.user WHERE User LIKE 'contract\\_%' AND Host <> ''`,
      );
      await asAdmin(server, ...users.map((u) => `DROP USER IF EXISTS ${account(u.User, u.Host)}`), `DROP ROLE IF EXISTS ${role}`);
    },
  };
}
