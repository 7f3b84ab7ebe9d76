// Redis target: ACL users that can hold two passwords at once; passwords sent as SHA-256 hashes, never as text.
import { createHash } from 'node:crypto';
import Redis, { ReplyError, type RedisOptions } from 'ioredis';
import { CAPABILITIES, REDIS_GRANT_RULE } from './index';
import { RotatorError, type ErrorCode } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import type { DatabaseTarget, LoginCredential, SecretValue, VerifiedAt } from '../../types';
import { loginEndpoint } from '../endpoint';

export interface RedisConnection {
  host: string;
  port: number;
  username: string;
  password: string;
}

const CONNECT_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 10_000;

/**
 * ACL SETUSER takes `#<hex sha256>` as an already hashed password (and `!<hex>` to remove one), so the plaintext
 * never shows up in SLOWLOG, MONITOR or the server's own error replies, which echo the failing modifier.
 */
export function redisPasswordHash(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex');
}

/**
 * Rules that touch passwords or the on/off switch would let the config undo what rotation does (`nopass` makes
 * every password valid), so the shared rules may only grant or deny commands, keys and channels.
 */

/** Redis refuses names with spaces or NUL itself, but we never want to send one and read a confusing reply. */
function checkUsername(username: string): void {
  if (username === '' || /[\s\0]/.test(username)) {
    throw new RotatorError('CONFIG_INVALID', `${JSON.stringify(username)} is not a usable redis user name`, 'target.user');
  }
}

interface ReplyErrorLike {
  message?: string;
  code?: string;
}

/** Options shared by the admin client and verify connections: fail fast, never queue, never reconnect on our own. */
function clientOptions(conn: { host: string; port: number }, credential: LoginCredential, name: string): RedisOptions {
  return {
    host: conn.host,
    port: conn.port,
    username: credential.username,
    password: credential.password,
    connectionName: name,
    lazyConnect: true,
    enableOfflineQueue: false,
    // The admin user need not be allowed INFO, and the handshake already proved the login.
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    // Activities retry on TRANSIENT; a client that reconnects by itself would hide an outage behind a hang.
    retryStrategy: () => null,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
  };
}

/**
 * Connects, reporting why the server refused: ioredis rejects connect() with a bare "Connection is closed." and
 * delivers the WRONGPASS of the handshake only as an 'error' event.
 */
async function connectReporting(client: Redis, lastError: { current: unknown }): Promise<void> {
  try {
    await client.connect();
  } catch (err) {
    throw lastError.current ?? err;
  }
}

/**
 * Disconnects and waits until the client says so: its status stays 'ready' until the socket's close event, so a
 * reconnect attempted right after disconnect() would pick the dead connection again.
 */
async function closed(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => {
    client.once('end', () => resolve());
    setTimeout(resolve, CONNECT_TIMEOUT_MS).unref();
  });
  client.disconnect();
  await ended;
}

function watchErrors(client: Redis): { current: unknown } {
  const lastError: { current: unknown } = { current: null };
  // Without a listener ioredis prints the error (and its command arguments) to the console.
  client.on('error', (err: unknown) => {
    lastError.current = err;
  });
  return lastError;
}

/** The server's reply text, scrubbed; the driver's error object itself is dropped because it carries the command's arguments. */
function messageOf(err: unknown, secrets: ReadonlyArray<string | undefined>): string {
  const e = err as ReplyErrorLike;
  return redact(e?.message ?? String(err), secrets);
}

function redisError(err: unknown, action: string, secrets: ReadonlyArray<string | undefined>): RotatorError {
  const text = messageOf(err, secrets);
  const code: ErrorCode = /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(text)
    ? 'PERMISSION_DENIED'
    : /^ERR Error in ACL SETUSER modifier/.test(text)
      ? 'CONFIG_INVALID'
      : 'TRANSIENT';
  if (code === 'PERMISSION_DENIED') return new RotatorError(code, `redis refused to ${action}: ${text}`);
  if (code === 'CONFIG_INVALID')
    return new RotatorError(code, `redis rejected an ACL rule while trying to ${action}: ${text}`, 'target.acl');
  return new RotatorError(code, `redis ${action} failed: ${text}`);
}

/** Each `user=` field of CLIENT LIST; user names cannot contain spaces, so a field ends at the next one. */
export function clientListUsers(list: string): string[] {
  const users: string[] = [];
  for (const line of list.split(/\r?\n/)) {
    const m = /(?:^| )user=(\S*)/.exec(line);
    if (m) users.push(m[1]);
  }
  return users;
}

export class RedisTarget implements DatabaseTarget {
  readonly capabilities = CAPABILITIES;
  readonly endpoint: DatabaseTarget['endpoint'];
  private readonly client: Redis;
  private readonly lastError: { current: unknown };
  private connecting: Promise<void> | null = null;

  /** `acl` are the rules every alternating login gets, each sent as its own argument of ACL SETUSER. */
  constructor(
    private readonly admin: RedisConnection,
    private readonly acl: ReadonlyArray<string> = [],
  ) {
    for (const rule of acl) {
      if (!REDIS_GRANT_RULE.test(rule)) {
        throw new RotatorError(
          'CONFIG_INVALID',
          `${JSON.stringify(rule)} is not allowed here: the rules may grant commands, keys and channels, not set passwords or switch the login`,
          'target.acl',
        );
      }
    }
    this.endpoint = { engine: 'redis', host: admin.host, port: admin.port };
    this.client = new Redis(clientOptions(admin, admin, 'rotator-admin'));
    this.lastError = watchErrors(this.client);
  }

  /** The admin client, (re)connected on demand: after a dropped connection the next activity attempt reconnects. */
  private async ready(): Promise<Redis> {
    const status = this.client.status;
    if (status === 'ready') return this.client;
    this.connecting ??= (async () => {
      this.lastError.current = null;
      if (status === 'wait' || status === 'end' || status === 'close') await connectReporting(this.client, this.lastError);
    })().finally(() => {
      this.connecting = null;
    });
    try {
      await this.connecting;
    } catch (err) {
      throw redisError(err, `connect as ${this.admin.username}`, [this.admin.password]);
    }
    if (this.client.status !== 'ready') throw new RotatorError('TRANSIENT', `redis connection is ${this.client.status}`);
    return this.client;
  }

  private async call(action: string, args: string[], secrets: ReadonlyArray<string | undefined> = []): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.ready();
      try {
        return await client.call(args[0], ...args.slice(1));
      } catch (err) {
        // A connection the server just dropped can still read as 'ready' until its close event runs: reconnect once.
        if (attempt === 0 && !(err instanceof ReplyError)) {
          await closed(client);
          continue;
        }
        throw redisError(err, action, [this.admin.password, ...secrets]);
      }
    }
  }

  private async userExists(username: string): Promise<boolean> {
    checkUsername(username);
    return (await this.call(`look up user ${username}`, ['ACL', 'GETUSER', username])) !== null;
  }

  /** ACL SETUSER creates a missing user, so every call that must not create one looks first. */
  private async requireUser(username: string): Promise<void> {
    if (!(await this.userExists(username))) throw new RotatorError('NOT_FOUND', `redis has no user ${username}`, 'target.user');
  }

  private async setUser(action: string, username: string, rules: string[], password?: string): Promise<void> {
    const secrets = password ? [password, redisPasswordHash(password)] : [];
    await this.call(action, ['ACL', 'SETUSER', username, ...rules], secrets);
  }

  /**
   * `reset` first, so the login ends up with exactly the configured rules whatever it held before: otherwise a
   * rule removed from the config would linger on one login of the pair and the two would drift apart. One
   * ACL SETUSER is atomic, so the login is never seen reset but not yet re-enabled.
   */
  async upsertLogin(username: string, password: string): Promise<void> {
    checkUsername(username);
    await this.setUser(
      `set up login ${username}`,
      username,
      ['reset', 'on', `#${redisPasswordHash(password)}`, ...this.acl],
      password,
    );
  }

  async setPassword(username: string, password: string): Promise<void> {
    await this.requireUser(username);
    await this.setUser(`set the password of ${username}`, username, ['resetpass', `#${redisPasswordHash(password)}`], password);
  }

  /** Does not switch the login on: a login someone disabled stays disabled, and verify then fails and rolls back. */
  async addPassword(username: string, password: string): Promise<void> {
    await this.requireUser(username);
    await this.setUser(`add a password to ${username}`, username, [`#${redisPasswordHash(password)}`], password);
  }

  async removePassword(username: string, password: string): Promise<void> {
    if (!(await this.userExists(username))) return;
    try {
      await this.setUser(`remove a password of ${username}`, username, [`!${redisPasswordHash(password)}`], password);
    } catch (err) {
      // Redis answers "The password you are trying to remove from the user does not exist": already gone.
      if (err instanceof RotatorError && /password you are trying to remove .* does not exist/.test(err.message)) return;
      throw err;
    }
  }

  /**
   * Logs in on a fresh connection and runs the verify command, so a password that authenticates but lacks the
   * rights the app needs fails too. Configure a command the app itself runs (e.g. "GET orders:probe"): the default
   * PING only proves the login.
   */
  async verify(credential: LoginCredential, query: string, stored?: SecretValue): Promise<VerifiedAt> {
    checkUsername(credential.username);
    const [command, ...args] = query.trim().split(/\s+/);
    if (!command) throw new RotatorError('CONFIG_INVALID', 'the verify command is empty', 'rotation.verify.query');
    const secrets = [credential.password, this.admin.password];
    // Where the stored value says (host, port), else the admin's connection; redis logins name no database.
    const { endpoint, at } = loginEndpoint(stored, { host: this.admin.host, port: this.admin.port });
    const client = new Redis(clientOptions(endpoint, credential, 'rotator-verify'));
    const lastError = watchErrors(client);
    try {
      try {
        await connectReporting(client, lastError);
      } catch (err) {
        const text = messageOf(err, secrets);
        if (/^WRONGPASS\b/.test(text)) {
          throw new RotatorError(
            'VERIFY_FAILED',
            `redis at ${at.endpoint} (${at.from}) refused the login of ${credential.username}: ${text}`,
          );
        }
        throw new RotatorError(
          'TRANSIENT',
          `could not reach redis at ${at.endpoint} (${at.from}) to verify ${credential.username}: ${text}`,
        );
      }
      try {
        await client.call(command, ...args);
      } catch (err) {
        // Any reply error means the login cannot do what the app needs (NOPERM most often).
        throw new RotatorError(
          'VERIFY_FAILED',
          `${credential.username} logged in but could not run the verify command ${command}: ${messageOf(err, secrets)}`,
        );
      }
    } finally {
      // QUIT waits for the server to close the connection, so it is gone from CLIENT LIST when we return.
      await client.quit().catch(() => client.disconnect());
    }
    return at;
  }

  /** Sessions already logged in stay open after `off`; revoke ends them with terminateSessions. */
  async disableLogin(username: string): Promise<void> {
    if (!(await this.userExists(username))) return;
    await this.setUser(`disable login ${username}`, username, ['off', 'resetpass']);
  }

  async liveSessions(username: string): Promise<number> {
    checkUsername(username);
    const list = await this.call(`count sessions of ${username}`, ['CLIENT', 'LIST']);
    const text = Buffer.isBuffer(list) ? list.toString('utf8') : String(list);
    return clientListUsers(text).filter((u) => u === username).length;
  }

  async terminateSessions(username: string): Promise<number> {
    checkUsername(username);
    try {
      return Number(await this.call(`end sessions of ${username}`, ['CLIENT', 'KILL', 'USER', username]));
    } catch (err) {
      if (err instanceof RotatorError && /No such user/.test(err.message)) return 0;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}

/** Admin connection from the secret `target.connection` points at, overridden by the target block's fields. */
export function redisConnectionFrom(admin: SecretValue, overrides: { host?: string; port?: number }): RedisConnection {
  const host = overrides.host ?? admin.host;
  if (typeof host !== 'string' || host === '') {
    throw new RotatorError('CONFIG_INVALID', 'the admin secret has no host', 'target.connection');
  }
  if (typeof admin.password !== 'string' || admin.password === '') {
    throw new RotatorError('CONFIG_INVALID', 'the admin secret has no password', 'target.connection');
  }
  const port = Number(overrides.port ?? admin.port ?? 6379);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RotatorError('CONFIG_INVALID', 'the admin secret has no valid port', 'target.connection');
  }
  // A secret with only a password is the requirepass style, which authenticates as the default user.
  const username = typeof admin.username === 'string' && admin.username !== '' ? admin.username : 'default';
  checkUsername(username);
  return { host, port, username, password: admin.password };
}
