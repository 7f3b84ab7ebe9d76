// PostgreSQL target: logins that share one group role's rights; passwords sent as SCRAM verifiers, never as text.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Client, Pool, escapeIdentifier, escapeLiteral } from 'pg';
import { stillWanted } from '../../../src/kernel/attempt';
import { RotatorError } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import type { DatabaseTarget, LoginCredential, SecretValue, VerifiedAt } from '../../types';
import { loginEndpoint } from '../endpoint';
import { CONNECT_TIMEOUT_MS, REQUEST_TIMEOUT_MS, seconds, VERIFY_QUERY_TIMEOUT_MS } from '../../timeouts';
import { CAPABILITIES } from './index';

export interface PostgresConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

const SCRAM_ITERATIONS = 4096;

/**
 * The verifier PostgreSQL itself stores for SCRAM-SHA-256 (what psql's \password sends), so the plaintext never
 * reaches the server's statement log. Our generated passwords are ASCII, for which SASLprep is the identity.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export function postgresPool(admin: PostgresConnection): Pool {
  // query_timeout: a statement to a server that stopped answering fails the attempt, below the step's timeout.
  const pool = new Pool({
    ...admin,
    max: 4,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: REQUEST_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
  });
  // An idle client's error must not crash the worker; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * A fresh connection as `credential` (never a pooled one: the point is a real login) running `query`. Throws the
 * driver's error, whose `code` tells a refused login (28P01, 28000, 53300) from an outage.
 */
export async function loginAndQuery(
  server: Pick<PostgresConnection, 'host' | 'port' | 'database'>,
  credential: LoginCredential,
  query: string,
): Promise<void> {
  const client = new Client({
    host: server.host,
    port: server.port,
    database: server.database,
    user: credential.username,
    password: credential.password,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: VERIFY_QUERY_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(query);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** 28P01 bad password, 28000 not permitted to log in / no such role, 53300 the role's connection limit. */
export function isLoginRefused(err: unknown): boolean {
  const code = (err as PgError | undefined)?.code;
  return code === '28P01' || code === '28000' || code === '53300';
}

/** True when PostgreSQL accepts the login; false when it refuses it; an outage still throws. */
export async function canLogIn(
  server: Pick<PostgresConnection, 'host' | 'port' | 'database'>,
  credential: LoginCredential,
): Promise<boolean> {
  try {
    await loginAndQuery(server, credential, 'select 1');
    return true;
  } catch (err) {
    if (isLoginRefused(err)) return false;
    throw err;
  }
}

/**
 * The server could not be reached or was not serving: a socket error (no SQLSTATE), class 08 (connection exception),
 * 57P01–57P03 (shut down, crashed, starting up) or 53 (out of resources: connections, memory). Anything else with a
 * SQLSTATE is the server's answer (a refused login, a failing query).
 */
export function isUnreachable(err: unknown): boolean {
  const { code, message = '' } = (err as PgError | undefined) ?? {};
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  // A role's own connection limit ("too many connections for role") is a refusal of that login, not an outage.
  if (code === '53300' && /for role/i.test(message)) return false;
  return code.startsWith('08') || code.startsWith('53') || /^57P0[123]$/.test(code);
}

interface PgError {
  code?: string;
  message?: string;
}

/**
 * Why PostgreSQL gave no answer (a timeout, a refused or dropped connection, a server shutting down or starting up),
 * naming the server; null when it did answer (a refused login, a failed statement). Never the driver's full text.
 */
export function pgOutage(err: unknown, server: Pick<PostgresConnection, 'host' | 'port'>, queryTimeoutMs: number): string | null {
  const e = err as PgError | undefined;
  const at = `PostgreSQL at ${server.host}:${server.port}`;
  const text = e?.message ?? '';
  if (/Query read timeout/i.test(text)) return `${at} did not answer within ${seconds(queryTimeoutMs)}`;
  if (/connection timeout|timeout expired|timeout exceeded when trying to connect/i.test(text))
    return `${at} did not accept a connection within ${seconds(CONNECT_TIMEOUT_MS)}`;
  const code = e?.code ?? '';
  if (/^E[A-Z]+$/.test(code)) return `${at} is unreachable (${code})`;
  // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, class 08: connection exceptions
  if (/^57P0[123]$/.test(code) || code.startsWith('08')) return `${at} is unavailable (${code})`;
  if (!code && /Connection terminated|ECONNRESET|socket hang up/i.test(text)) return `${at} closed the connection`;
  return null;
}

function pgError(
  err: unknown,
  action: string,
  secrets: ReadonlyArray<string | undefined>,
  server?: Pick<PostgresConnection, 'host' | 'port'>,
): RotatorError {
  const down = server ? pgOutage(err, server, REQUEST_TIMEOUT_MS) : null;
  if (down) return new RotatorError('TRANSIENT', `${down} (${action})`);
  const e = err as PgError;
  const text = redact(e?.message ?? String(err), secrets);
  // 42501 insufficient_privilege, 28P01 invalid_password, 28000 invalid_authorization_specification
  if (e?.code === '42704') return new RotatorError('NOT_FOUND', `postgresql: ${text}`); // undefined_object: the role does not exist
  if (e?.code === '42501' || e?.code === '28P01' || e?.code === '28000') {
    return new RotatorError('PERMISSION_DENIED', `postgresql refused to ${action}: ${text}`);
  }
  return new RotatorError('TRANSIENT', `postgresql ${action} failed: ${text}`);
}

export class PostgresTarget implements DatabaseTarget {
  readonly capabilities = CAPABILITIES;
  readonly endpoint: DatabaseTarget['endpoint'];
  private readonly pool: Pool;

  private readonly ownsPool: boolean;

  /**
   * `group` is the NOLOGIN role whose rights both alternating logins inherit. `pool`, from postgresPool(), may be
   * shared by every target on the same server and admin credential; without one the target makes its own.
   */
  constructor(
    private readonly admin: PostgresConnection,
    private readonly group: string,
    pool?: Pool,
    /** Each password set is valid this long (VALID UNTIL), when given. */
    private readonly validForMs?: number,
  ) {
    this.endpoint = { engine: 'postgres', host: admin.host, port: admin.port, dbname: admin.database };
    this.ownsPool = !pool;
    this.pool = pool ?? postgresPool(admin);
  }

  /**
   * One statement, not sent for an attempt its step already gave up on (src/kernel/attempt.ts): a step of several
   * statements that waited on a slow server must not go on after the rotation's compensation ran (fault matrix,
   * alternating-users applyCredential × PostgreSQL latency above the timeout: the password was set after disableLogin).
   */
  private async run(action: string, sql: string, params: unknown[] = [], secrets: string[] = []) {
    stillWanted(`PostgreSQL ${action}`);
    try {
      return await this.pool.query(sql, params);
    } catch (err) {
      throw pgError(err, action, [this.admin.password, ...secrets], this.admin);
    }
  }

  private async roleExists(role: string): Promise<boolean> {
    const res = await this.run(`look up role ${role}`, 'select 1 from pg_roles where rolname = $1', [role]);
    return (res.rowCount ?? 0) > 0;
  }

  private async createRoleIfMissing(role: string, clause: string): Promise<void> {
    if (await this.roleExists(role)) return;
    stillWanted(`PostgreSQL create role ${role}`);
    try {
      await this.pool.query(`create role ${escapeIdentifier(role)} ${clause}`);
    } catch (err) {
      // 42710 duplicate_object: a racing retry made it
      if ((err as PgError).code !== '42710') throw pgError(err, `create role ${role}`, [this.admin.password], this.admin);
    }
  }

  async upsertLogin(username: string, password: string): Promise<void> {
    const user = escapeIdentifier(username);
    const group = escapeIdentifier(this.group);
    await this.createRoleIfMissing(this.group, 'nologin');
    await this.createRoleIfMissing(username, `login in role ${group}`);
    await this.run(`grant ${this.group} to ${username}`, `grant ${group} to ${user}`);
    // Objects the login creates then belong to the group, so the two logins never drift apart.
    await this.run(`configure ${username}`, `alter role ${user} set role = ${group}`);
    await this.setPassword(username, password);
  }

  async setPassword(username: string, password: string): Promise<void> {
    const verifier = scramSha256Verifier(password);
    const until = this.validForMs ? ` valid until ${escapeLiteral(new Date(Date.now() + this.validForMs).toISOString())}` : '';
    await this.run(
      `set the password of ${username}`,
      `alter role ${escapeIdentifier(username)} with login password ${escapeLiteral(verifier)}${until}`,
      [],
      [password, verifier],
    );
  }

  /** The login's VALID UNTIL (epoch ms), or null when it has none or does not exist. */
  async loginExpiry(username: string): Promise<number | null> {
    const res = await this.run(`read the expiry of ${username}`, 'select rolvaliduntil from pg_roles where rolname = $1', [
      username,
    ]);
    const until = (res.rows[0] as { rolvaliduntil?: Date | null } | undefined)?.rolvaliduntil;
    return until instanceof Date && Number.isFinite(until.getTime()) ? until.getTime() : null;
  }

  async addPassword(): Promise<void> {
    throw new RotatorError('UNSUPPORTED', 'postgresql keeps one password per role; use alternating-users', 'rotation.strategy');
  }

  async removePassword(): Promise<void> {
    throw new RotatorError('UNSUPPORTED', 'postgresql keeps one password per role; use alternating-users', 'rotation.strategy');
  }

  /** Logs in where the stored value says (host, port, dbname), else through the admin's connection. */
  async verify(credential: LoginCredential, query: string, stored?: SecretValue): Promise<VerifiedAt> {
    const { endpoint, at } = loginEndpoint(stored, {
      host: this.admin.host,
      port: this.admin.port,
      database: this.admin.database,
    });
    try {
      await loginAndQuery({ host: endpoint.host, port: endpoint.port, database: endpoint.database! }, credential, query);
    } catch (err) {
      // An outage says nothing about the credential: it is retried as one, naming the server, not reported as a
      // credential that does not work. VERIFY_FAILED is for a refused login or a verify query that failed.
      const down = pgOutage(err, endpoint, VERIFY_QUERY_TIMEOUT_MS);
      if (down) {
        throw new RotatorError(
          'TRANSIENT',
          `${down} (log in as ${credential.username} at ${at.endpoint} (${at.from}) and run the verify query)`,
        );
      }
      const text = redact((err as PgError)?.message ?? String(err), [credential.password, this.admin.password]);
      // An outage is not a verdict on the credential: the step waits for the server like every other.
      if (isUnreachable(err)) {
        throw new RotatorError(
          'TRANSIENT',
          `could not reach postgresql at ${at.endpoint} (${at.from}) to verify ${credential.username}: ${text}`,
        );
      }
      throw new RotatorError(
        'VERIFY_FAILED',
        `${credential.username} could not log in at ${at.endpoint} (${at.from}) and run the verify query: ${text}`,
      );
    }
    return at;
  }

  async disableLogin(username: string): Promise<void> {
    if (!(await this.roleExists(username))) return;
    await this.run(`disable login of ${username}`, `alter role ${escapeIdentifier(username)} with nologin password null`);
  }

  async liveSessions(username: string): Promise<number> {
    const res = await this.run(
      `count sessions of ${username}`,
      'select count(*)::int as n from pg_stat_activity where usename = $1',
      [username],
    );
    return (res.rows[0] as { n: number }).n;
  }

  async terminateSessions(username: string): Promise<number> {
    const res = await this.run(
      `end sessions of ${username}`,
      'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where usename = $1 and pid <> pg_backend_pid()',
      [username],
    );
    return (res.rows[0] as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

/** Admin connection from the secret `target.connection` points at, overridden by the target block's fields. */
export function postgresConnectionFrom(
  admin: SecretValue,
  overrides: { host?: string; port?: number; database?: string },
): PostgresConnection {
  const field = (name: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '') {
      throw new RotatorError('CONFIG_INVALID', `the admin secret has no ${name}`, 'target.connection');
    }
    return value;
  };
  const port = Number(overrides.port ?? admin.port ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RotatorError('CONFIG_INVALID', 'the admin secret has no valid port', 'target.connection');
  }
  return {
    host: overrides.host ?? field('host', admin.host),
    port,
    database: overrides.database ?? (typeof admin.dbname === 'string' ? admin.dbname : 'postgres'),
    user: field('username', admin.username),
    password: field('password', admin.password),
  };
}
