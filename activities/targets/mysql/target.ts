// MySQL / MariaDB target: 'user'@'host' accounts. A driver error is never passed on: mysql2 keeps the whole statement
// in `err.sql` (a password included) and a syntax error quotes it, so every error is rebuilt from its code and a
// message with every secret of the statement redacted.
import { escape as escapeText } from 'mysql2';
import { createConnection, createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import { stillWanted } from '../../../src/kernel/attempt';
import { RotatorError } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import type { DatabaseTarget, LoginCredential, SecretValue, TargetCapabilities, VerifiedAt } from '../../types';
import { loginEndpoint, type Endpoint } from '../endpoint';
import { CONNECT_TIMEOUT_MS, REQUEST_TIMEOUT_MS, seconds, VERIFY_QUERY_TIMEOUT_MS } from '../../timeouts';
import { CAPABILITIES, type MysqlConfig } from './index';
import {
  account,
  addPasswordSql,
  copiedGrant,
  createLockedSql,
  discardOldPasswordSql,
  flavourOf,
  grantRoleSql,
  lockSql,
  parseAccount,
  setPasswordSql,
  supportsDualPassword,
  type ServerFlavour,
} from './sql';

export interface MysqlConnection {
  host: string;
  port: number;
  database?: string;
  user: string;
  password: string;
}

interface MysqlError {
  code?: string;
  errno?: number;
  message?: string;
}

/** Server answers that refuse a login: bad password, locked account, no access to the database, a connection limit. */
const LOGIN_REFUSED = new Set([
  'ER_ACCESS_DENIED_ERROR', // 1045
  'ER_DBACCESS_DENIED_ERROR', // 1044
  'ER_ACCOUNT_HAS_BEEN_LOCKED', // 3118 (MySQL)
  'ER_TOO_MANY_USER_CONNECTIONS', // 1203
  'ER_USER_LIMIT_REACHED', // 1226
  'ER_MUST_CHANGE_PASSWORD_LOGIN', // 1862
]);
/** MariaDB's "this account is locked" (4151) has no name in mysql2's table. */
const LOGIN_REFUSED_ERRNO = new Set([1045, 1044, 3118, 4151, 1203, 1226, 1862]);

export function isLoginRefused(err: unknown): boolean {
  const e = err as MysqlError | undefined;
  return LOGIN_REFUSED.has(e?.code ?? '') || LOGIN_REFUSED_ERRNO.has(e?.errno ?? 0);
}

/**
 * Why the server gave no answer (unreachable, a dropped connection, too many connections, shutting down), naming it;
 * null when it did answer (a refused login, a failed statement). Never the driver's text.
 */
export function mysqlOutage(err: unknown, server: Pick<Endpoint, 'host' | 'port'>, timeoutMs: number): string | null {
  const e = err as MysqlError | undefined;
  const code = e?.code ?? '';
  const at = `MySQL at ${server.host}:${server.port}`;
  if (code === 'ETIMEDOUT' || code === 'PROTOCOL_SEQUENCE_TIMEOUT' || /timeout/i.test(e?.message ?? ''))
    return `${at} did not answer within ${seconds(timeoutMs)}`;
  if (/^E[A-Z]+$/.test(code)) return `${at} is unreachable (${code})`;
  if (code === 'PROTOCOL_CONNECTION_LOST' || code === 'ER_CON_COUNT_ERROR' || code === 'ER_SERVER_SHUTDOWN')
    return `${at} is unavailable (${code})`;
  return null;
}

function mysqlError(err: unknown, action: string, secrets: ReadonlyArray<string | undefined>, server: Endpoint): RotatorError {
  const down = mysqlOutage(err, server, REQUEST_TIMEOUT_MS);
  if (down) return new RotatorError('TRANSIENT', `${down} (${action})`);
  const e = err as MysqlError | undefined;
  const text = redact(e?.message ?? String(err), secrets);
  const code = e?.code ?? 'no code';
  // 1227 ER_SPECIFIC_ACCESS_DENIED_ERROR (needs CREATE USER, SUPER, …), 1044/1045, 1142 table, 1410 grant to a user
  if ([1227, 1044, 1045, 1142, 1410, 1698, 1133].includes(e?.errno ?? 0) || code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR')
    return new RotatorError('PERMISSION_DENIED', `mysql refused to ${action}: ${text} (${code})`);
  if (e?.errno === 1396) return new RotatorError('NOT_FOUND', `mysql: ${action}: ${text}`); // ER_CANNOT_USER
  // 1064 ER_PARSE_ERROR: this server does not know the statement (MySQL 8 syntax on MariaDB); retrying will not help
  if (e?.errno === 1064) return new RotatorError('UNSUPPORTED', `mysql could not ${action}: ${text}`);
  return new RotatorError('TRANSIENT', `mysql ${action} failed: ${text} (${code})`);
}

export function mysqlPool(admin: MysqlConnection): Pool {
  const options: PoolOptions = {
    host: admin.host,
    port: admin.port,
    user: admin.user,
    password: admin.password,
    connectionLimit: 4,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Idle connections a dead server left are found by the next query, not held forever.
    idleTimeout: 30_000,
    maxIdle: 2,
    enableKeepAlive: true,
  };
  const pool = createPool(options);
  // An idle connection's error must not crash the worker; the next query reports it.
  pool.on('connection', (c) => c.on('error', () => undefined));
  return pool;
}

/**
 * Logs in as `credential` on a fresh connection (never a pooled one: the point is a real login) and runs `query`.
 * Throws VERIFY_FAILED for a refused login or a failed query, TRANSIENT for an outage; `secrets` are redacted too.
 */
export async function verifyLogin(
  connection: Endpoint,
  credential: LoginCredential,
  query: string,
  stored: SecretValue | undefined,
  secrets: ReadonlyArray<string>,
): Promise<VerifiedAt> {
  const { endpoint, at } = loginEndpoint(stored, connection);
  try {
    await loginAndQuery(endpoint, credential, query);
  } catch (err) {
    const down = mysqlOutage(err, endpoint, VERIFY_QUERY_TIMEOUT_MS);
    if (down) {
      throw new RotatorError(
        'TRANSIENT',
        `${down} (log in as ${credential.username} at ${at.endpoint} (${at.from}) and run the verify query)`,
      );
    }
    const text = redact((err as MysqlError)?.message ?? String(err), [credential.password, ...secrets]);
    throw new RotatorError(
      'VERIFY_FAILED',
      `${credential.username} could not log in at ${at.endpoint} (${at.from}) and run the verify query: ${text}`,
    );
  }
  return at;
}

/** A fresh connection as `credential` running `query`; the driver's error as it is (callers classify and redact). */
export async function loginAndQuery(server: Endpoint, credential: LoginCredential, query: string): Promise<void> {
  const conn = await createConnection({
    host: server.host,
    port: server.port,
    ...(server.database ? { database: server.database } : {}),
    user: credential.username,
    password: credential.password,
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
  conn.on('error', () => undefined);
  try {
    await conn.query({ sql: query, timeout: VERIFY_QUERY_TIMEOUT_MS });
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

/** True when the server accepts the login; false when it refuses it; an outage still throws. */
export async function canLogIn(server: Endpoint, credential: LoginCredential): Promise<boolean> {
  try {
    await loginAndQuery(server, credential, 'SELECT 1');
    return true;
  } catch (err) {
    if (isLoginRefused(err)) return false;
    throw err;
  }
}

export class MysqlTarget implements DatabaseTarget {
  readonly capabilities: TargetCapabilities;
  readonly endpoint: DatabaseTarget['endpoint'];
  private readonly accountHost: string;
  private readonly ownsPool: boolean;

  private constructor(
    private readonly admin: MysqlConnection,
    private readonly config: Pick<MysqlConfig, 'role' | 'template' | 'account_host'>,
    private readonly pool: Pool,
    ownsPool: boolean,
    /** The server, read from VERSION() when the target is made. */
    readonly flavour: ServerFlavour,
  ) {
    this.ownsPool = ownsPool;
    this.accountHost = config.account_host ?? '%';
    this.capabilities = { ...CAPABILITIES, dualPassword: supportsDualPassword(flavour) };
    this.endpoint = {
      engine: flavour.mariadb ? 'mariadb' : 'mysql',
      host: admin.host,
      port: admin.port,
      ...(admin.database ? { dbname: admin.database } : {}),
    };
  }

  /** Reads the server's VERSION() (its flavour decides the password syntax and whether dual passwords exist). */
  static async connect(
    admin: MysqlConnection,
    config: Pick<MysqlConfig, 'role' | 'template' | 'account_host'>,
    pool?: Pool,
    /** Tests only: take this flavour instead of the server's (to send MySQL 8's syntax to MariaDB and see it refused). */
    flavour?: ServerFlavour,
  ): Promise<MysqlTarget> {
    const p = pool ?? mysqlPool(admin);
    try {
      const [rows] = await p.query({ sql: 'SELECT VERSION() AS v', timeout: REQUEST_TIMEOUT_MS });
      const found = flavourOf(String((rows as Array<{ v: string }>)[0]?.v ?? ''));
      return new MysqlTarget(admin, config, p, !pool, flavour ?? found);
    } catch (err) {
      if (!pool) await p.end().catch(() => undefined);
      throw mysqlError(err, 'read the server version', [admin.password], admin);
    }
  }

  private acct(username: string): string {
    return account(username, this.accountHost);
  }

  /**
   * One statement, not sent for an attempt its step already gave up on (src/kernel/attempt.ts): upsertLogin is several,
   * and the ones after a statement that waited on a slow server must not run after the rotation's compensation did.
   */
  private async run(action: string, sql: string, secrets: string[] = []): Promise<unknown> {
    stillWanted(`MySQL ${action}`);
    try {
      const [rows] = await this.pool.query({ sql, timeout: REQUEST_TIMEOUT_MS });
      return rows;
    } catch (err) {
      throw mysqlError(err, action, [this.admin.password, ...secrets], this.admin);
    }
  }

  private async exists(username: string): Promise<boolean> {
    const rows = (await this.run(
      `look up ${username}@${this.accountHost}`,
      `SELECT 1 AS x FROM mysql.user WHERE User = ${escapeText(username)} AND Host = ${escapeText(this.accountHost)}`,
    )) as unknown[];
    return rows.length > 0;
  }

  /** The grants both alternating logins share: the role's, or a copy of the template account's. */
  private async grantShared(username: string): Promise<void> {
    const acct = this.acct(username);
    if (this.config.role) {
      for (const sql of grantRoleSql(this.flavour, this.config.role, acct))
        await this.run(`grant role ${this.config.role} to ${username}@${this.accountHost}`, sql);
      return;
    }
    if (!this.config.template) return;
    const tpl = parseAccount(this.config.template)!;
    const lines = (await this.run(
      `read the grants of template ${tpl.user}@${tpl.host}`,
      `SHOW GRANTS FOR ${account(tpl.user, tpl.host)}`,
    )) as Array<Record<string, string>>;
    for (const row of lines) {
      const sql = copiedGrant(Object.values(row)[0] ?? '', tpl.user, tpl.host, acct);
      if (sql) await this.run(`copy a grant of ${tpl.user}@${tpl.host} to ${username}@${this.accountHost}`, sql);
    }
  }

  async upsertLogin(username: string, password: string): Promise<void> {
    const acct = this.acct(username);
    await this.run(`create ${username}@${this.accountHost}`, createLockedSql(acct));
    await this.grantShared(username);
    await this.setPasswordOf(username, password);
  }

  private async setPasswordOf(username: string, password: string): Promise<void> {
    const { sql, secrets } = setPasswordSql(this.flavour, this.acct(username), password);
    await this.run(`set the password of ${username}@${this.accountHost}`, sql, secrets);
  }

  async setPassword(username: string, password: string): Promise<void> {
    if (!(await this.exists(username))) {
      throw new RotatorError(
        'NOT_FOUND',
        `mysql: there is no account ${username}@${this.accountHost}: single-user changes the password of an existing one`,
      );
    }
    await this.setPasswordOf(username, password);
  }

  private dualPasswordRefused(): RotatorError {
    return new RotatorError(
      'UNSUPPORTED',
      `${this.flavour.text} keeps one password per account (dual passwords need MySQL 8.0.14 or later); use alternating-users`,
      'rotation.strategy',
    );
  }

  async addPassword(username: string, password: string): Promise<void> {
    if (!this.capabilities.dualPassword) throw this.dualPasswordRefused();
    if (!(await this.exists(username)))
      throw new RotatorError('NOT_FOUND', `mysql: there is no account ${username}@${this.accountHost}`);
    const { sql, secrets } = addPasswordSql(this.acct(username), password);
    await this.run(`add a password to ${username}@${this.accountHost}`, sql, secrets);
  }

  /**
   * MySQL keeps at most one retained (secondary) password: withdrawing is DISCARD OLD PASSWORD. A password that no
   * longer logs in is gone already; one that is the primary cannot be withdrawn alone (refused, nothing changed).
   */
  async removePassword(username: string, password: string): Promise<void> {
    if (!this.capabilities.dualPassword) throw this.dualPasswordRefused();
    if (!(await this.exists(username))) return;
    const server = { host: this.admin.host, port: this.admin.port };
    if (!(await canLogIn(server, { username, password }).catch(() => true))) return;
    await this.run(`discard the old password of ${username}@${this.accountHost}`, discardOldPasswordSql(this.acct(username)));
    if (await canLogIn(server, { username, password }).catch(() => false)) {
      throw new RotatorError(
        'CONFLICT',
        `mysql: the password to withdraw is ${username}@${this.accountHost}'s primary one; MySQL withdraws only the retained one`,
      );
    }
  }

  async verify(credential: LoginCredential, query: string, stored?: SecretValue): Promise<VerifiedAt> {
    return verifyLogin(
      { host: this.admin.host, port: this.admin.port, ...(this.admin.database ? { database: this.admin.database } : {}) },
      credential,
      query,
      stored,
      [this.admin.password],
    );
  }

  /** ACCOUNT LOCK: the account and its grants stay (a rollback unlocks it with a password); new logins are refused. */
  async disableLogin(username: string): Promise<void> {
    await this.run(`lock ${username}@${this.accountHost}`, lockSql(this.acct(username)));
  }

  private async sessionIds(username: string): Promise<number[]> {
    const rows = (await this.run(
      `list the sessions of ${username}`,
      `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ${escapeText(username)} AND ID <> CONNECTION_ID()`,
    )) as Array<{ id: number }>;
    return rows.map((r) => Number(r.id));
  }

  /** Sessions of the user name from the process list (every host pattern of that name: the list shows no pattern). */
  async liveSessions(username: string): Promise<number> {
    return (await this.sessionIds(username)).length;
  }

  async terminateSessions(username: string): Promise<number> {
    let ended = 0;
    for (const id of await this.sessionIds(username)) {
      stillWanted(`MySQL end session ${Number(id)} of ${username}`);
      try {
        await this.pool.query({ sql: `KILL CONNECTION ${Number(id)}`, timeout: REQUEST_TIMEOUT_MS });
        ended++;
      } catch (err) {
        // 1094 ER_NO_SUCH_THREAD: it ended on its own meanwhile
        if ((err as MysqlError).errno !== 1094)
          throw mysqlError(err, `end a session of ${username}`, [this.admin.password], this.admin);
      }
    }
    return ended;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

/** Admin connection from the secret `target.connection` points at, overridden by the target block's fields. */
export function mysqlConnectionFrom(
  admin: SecretValue,
  overrides: { host?: string; port?: number; database?: string },
): MysqlConnection {
  const field = (name: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '') {
      throw new RotatorError('CONFIG_INVALID', `the admin secret has no ${name}`, 'target.connection');
    }
    return value;
  };
  const port = Number(overrides.port ?? admin.port ?? 3306);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RotatorError('CONFIG_INVALID', 'the admin secret has no valid port', 'target.connection');
  }
  const database = overrides.database ?? (typeof admin.dbname === 'string' && admin.dbname !== '' ? admin.dbname : undefined);
  return {
    host: overrides.host ?? field('host', admin.host),
    port,
    ...(database ? { database } : {}),
    user: field('username', admin.username),
    password: field('password', admin.password),
  };
}
