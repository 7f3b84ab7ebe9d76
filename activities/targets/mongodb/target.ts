// MongoDB target: users sharing the target's roles, checked by a SCRAM login; also speaks to FerretDB 1.x, which has no roles.
import {
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type Db,
  type Document,
  type MongoClientOptions,
} from 'mongodb';
import { stillWanted } from '../../../src/kernel/attempt';
import { RotatorError } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import { logger } from '../../../src/kernel/log';
import type { DatabaseTarget, LoginCredential, SecretValue, VerifiedAt } from '../../types';
import { loginEndpoint } from '../endpoint';
import { REQUEST_TIMEOUT_MS } from '../../timeouts';
import { CAPABILITIES } from './index';

export interface MongoConnection {
  host: string;
  port: number;
  username: string;
  password: string;
  /** The database the admin user authenticates against. */
  authSource: string;
}

export interface MongoRole {
  role: string;
  db: string;
}

export interface MongoUsers {
  /** The database the rotated users are created in and authenticate against. */
  database: string;
  roles: MongoRole[];
}

const TIMEOUT_MS = 5_000;
const MECHANISM = 'SCRAM-SHA-256';

// Server error codes we act on (mongo's src/mongo/base/error_codes.yml; FerretDB answers with the same).
const USER_NOT_FOUND = 11;
const UNAUTHORIZED = 13;
const AUTHENTICATION_FAILED = 18;
const COMMAND_NOT_FOUND = 59;
const NOT_IMPLEMENTED = 238;
const USER_ALREADY_EXISTS = 51003;

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+)$/;

/** Host and port only: credentials travel in the options object, so no URI escaping can go wrong and no URI leaks them. */
function mongoUri(host: string, port: number): string {
  if (!HOST.test(host))
    throw new RotatorError('CONFIG_INVALID', `not a host name or address: ${JSON.stringify(host)}`, 'target.host');
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `mongodb://${bracketed}:${port}/`;
}

function clientOptions(username: string, password: string, authSource: string): MongoClientOptions {
  return {
    auth: { username, password },
    authSource,
    serverSelectionTimeoutMS: TIMEOUT_MS,
    connectTimeoutMS: TIMEOUT_MS,
    // A command to a server that stopped answering ends below the step's timeout (activities/timeouts.ts).
    socketTimeoutMS: REQUEST_TIMEOUT_MS,
    appName: 'rotator',
  };
}

function mongoError(err: unknown, action: string, secrets: ReadonlyArray<string | undefined>): RotatorError {
  if (err instanceof RotatorError) return err; // ours already (an ended attempt's command, not sent)
  const text = redact(err instanceof Error ? err.message : String(err), secrets);
  if (err instanceof MongoServerError) {
    switch (err.code) {
      case USER_NOT_FOUND:
        return new RotatorError('NOT_FOUND', `mongodb: ${text}`);
      case AUTHENTICATION_FAILED:
      case UNAUTHORIZED:
        return new RotatorError('PERMISSION_DENIED', `mongodb refused to ${action}: ${text}`);
      case COMMAND_NOT_FOUND:
      case NOT_IMPLEMENTED:
        return new RotatorError('UNSUPPORTED', `mongodb cannot ${action}: ${text}`);
    }
  }
  return new RotatorError('TRANSIENT', `mongodb ${action} failed: ${text}`);
}

interface ServerTraits {
  /** FerretDB 1.x implements no authorization: createUser/updateUser refuse any role, and every user may do everything. */
  roles: boolean;
  description: string;
}

export function mongoAdminClient(connection: MongoConnection): MongoClient {
  return new MongoClient(mongoUri(connection.host, connection.port), {
    ...clientOptions(connection.username, connection.password, connection.authSource),
    maxPoolSize: 4,
  });
}

/**
 * The admin's client for rotation steps, shared by every target on the same server and admin credential. The driver
 * leaves a client whose first connection failed (the server down or unreachable when a step first needs it) on a
 * closed topology: every later command fails with "Topology is closed", for as long as the worker runs, whatever the
 * server does (fault matrix, mongodb applyCredential × FerretDB down: its compensation's dropUser then failed until
 * the rotation was given up). Such a client is replaced by a fresh one, so the next command connects again.
 */
export class MongoAdminClient {
  private client: MongoClient;
  private connecting?: Promise<MongoClient>;

  constructor(private readonly connection: MongoConnection) {
    this.client = mongoAdminClient(connection);
  }

  /**
   * The database `name` on a connected client, for one command (`action`, as messages name it) of the attempt this
   * runs in: none for an attempt its step already gave up on (src/kernel/attempt.ts). A command that waited on the
   * server must not be sent after the rotation's compensation ran (fault matrix, mongodb applyCredential × FerretDB
   * down: the abandoned attempt created the user after disableLogin had found none to drop).
   */
  async db(name: string, action: string): Promise<Db> {
    this.connecting ??= this.client.connect().catch((err: unknown) => {
      const failed = this.client;
      this.client = mongoAdminClient(this.connection);
      this.connecting = undefined;
      void failed.close().catch(() => undefined);
      throw err;
    });
    const client = await this.connecting;
    stillWanted(`mongodb ${action}`);
    return client.db(name);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export class MongoTarget implements DatabaseTarget {
  /** Declared by the plugin (./index). */
  readonly capabilities = CAPABILITIES;
  readonly endpoint: DatabaseTarget['endpoint'];
  private readonly uri: string;
  private readonly admin: MongoAdminClient;
  private traits?: Promise<ServerTraits>;
  private warnedNoRoles = false;

  private readonly ownsClient: boolean;

  /** `admin` may be shared by every target on the same server and admin credential. */
  constructor(
    private readonly connection: MongoConnection,
    private readonly users: MongoUsers,
    admin?: MongoAdminClient,
  ) {
    this.uri = mongoUri(connection.host, connection.port);
    this.endpoint = { engine: 'mongo', host: connection.host, port: connection.port, dbname: users.database };
    this.ownsClient = !admin;
    this.admin = admin ?? new MongoAdminClient(connection);
  }

  private async run(action: string, command: Document, secrets: string[] = []): Promise<Document> {
    try {
      return await (await this.admin.db(this.users.database, action)).command(command);
    } catch (err) {
      throw mongoError(err, action, [this.connection.password, ...secrets]);
    }
  }

  /** Asked once per target: whether the server can hold the configured roles at all. */
  private serverTraits(): Promise<ServerTraits> {
    this.traits ??= (async () => {
      const info = await this.run('read the server build info', { buildInfo: 1 });
      const ferret = typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined;
      if (ferret && /^v?1\./.test(ferret)) return { roles: false, description: `FerretDB ${ferret}` };
      return { roles: true, description: ferret ? `FerretDB ${ferret}` : `MongoDB ${String(info.version)}` };
    })().catch((err: unknown) => {
      this.traits = undefined; // a failed probe is retried by the next call, not remembered
      throw err;
    });
    return this.traits;
  }

  /** The roles createUser/updateUser get: the configured ones, or none on a server that cannot hold any. */
  private async rolesToGrant(): Promise<MongoRole[]> {
    const traits = await this.serverTraits();
    if (traits.roles) return this.users.roles;
    if (!this.warnedNoRoles && this.users.roles.length > 0) {
      this.warnedNoRoles = true;
      // Not fatal: the admin user has no roles on such a server either; every authenticated user may do everything.
      logger.warn(
        { server: traits.description, roles: this.users.roles },
        'this server implements no roles; target.roles are not applied',
      );
    }
    return [];
  }

  private async userExists(username: string): Promise<boolean> {
    const res = await this.run(`look up user ${username}`, { usersInfo: { user: username, db: this.users.database } });
    return Array.isArray(res.users) && res.users.length > 0;
  }

  async upsertLogin(username: string, password: string): Promise<void> {
    const roles = await this.rolesToGrant();
    // MongoDB takes the plaintext pwd (the server salts and hashes it for SCRAM-SHA-256); TLS is what protects it.
    const update = { updateUser: username, pwd: password, roles, mechanisms: [MECHANISM] };
    if (await this.userExists(username)) {
      await this.run(`update user ${username}`, update, [password]);
      return;
    }
    try {
      const db = await this.admin.db(this.users.database, `create user ${username}`);
      await db.command({ createUser: username, pwd: password, roles, mechanisms: [MECHANISM] });
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === USER_ALREADY_EXISTS)) {
        throw mongoError(err, `create user ${username}`, [this.connection.password, password]);
      }
      await this.run(`update user ${username}`, update, [password]); // a retried activity or a racing worker made it
    }
  }

  async setPassword(username: string, password: string): Promise<void> {
    // No mechanisms: MongoDB keeps the user's own, which its clients may depend on.
    await this.run(`set the password of ${username}`, { updateUser: username, pwd: password }, [password]);
  }

  async addPassword(): Promise<void> {
    throw new RotatorError('UNSUPPORTED', 'mongodb keeps one password per user; use alternating-users', 'rotation.strategy');
  }

  async removePassword(): Promise<void> {
    throw new RotatorError('UNSUPPORTED', 'mongodb keeps one password per user; use alternating-users', 'rotation.strategy');
  }

  /** `query` is a command document as JSON; a `$db` field picks the database it runs in (default: the users' database). */
  async verify(credential: LoginCredential, query: string, stored?: SecretValue): Promise<VerifiedAt> {
    const { $db, ...command } = parseCommand(query);
    // Where the stored value says (host, port), else the admin's connection; users always authenticate against
    // the users' database, whatever `dbname` the value names.
    const { endpoint, at } = loginEndpoint(stored, { host: this.connection.host, port: this.connection.port });
    const client = new MongoClient(mongoUri(endpoint.host, endpoint.port), {
      ...clientOptions(credential.username, credential.password, this.users.database),
      maxPoolSize: 1,
      retryReads: false,
      retryWrites: false,
    });
    try {
      await client.db(typeof $db === 'string' ? $db : this.users.database).command(command);
    } catch (err) {
      const text = redact(err instanceof Error ? err.message : String(err), [credential.password, this.connection.password]);
      // Only the server's answer is a verdict on the credential; not reaching the server is an outage to wait out.
      if ((err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) && !/auth/i.test(text)) {
        throw new RotatorError(
          'TRANSIENT',
          `could not reach mongodb at ${at.endpoint} (${at.from}) to verify ${credential.username}: ${text}`,
        );
      }
      throw new RotatorError(
        'VERIFY_FAILED',
        `${credential.username} could not log in at ${at.endpoint} (${at.from}) and run the verify command: ${text}`,
      );
    } finally {
      await client.close().catch(() => undefined);
    }
    return at;
  }

  async disableLogin(username: string): Promise<void> {
    try {
      await (await this.admin.db(this.users.database, `drop user ${username}`)).command({ dropUser: username });
    } catch (err) {
      if (err instanceof MongoServerError && err.code === USER_NOT_FOUND) return;
      throw mongoError(err, `drop user ${username}`, [this.connection.password]);
    }
  }

  /** Always 0: see `capabilities`; the drain wait then ends at once instead of waiting on a count it cannot get. */
  async liveSessions(): Promise<number> {
    return 0;
  }

  /** Always 0: see `capabilities`. */
  async terminateSessions(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.admin.close();
  }
}

function parseCommand(query: string): Document {
  let parsed: unknown;
  try {
    parsed = JSON.parse(query);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `expected a command document as JSON, like {"ping":1}; got ${JSON.stringify(query)}`,
      'rotation.verify.query',
    );
  }
  return parsed as Document;
}

/**
 * Admin connection from the secret `target.connection` points at, host and port overridden by the target block. The
 * admin authenticates against the secret's dbname when it names one (it describes the admin login), else against the
 * users' database.
 */
export function mongoConnectionFrom(
  admin: SecretValue,
  target: { host?: string; port?: number; database: string },
): MongoConnection {
  const field = (name: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '') {
      throw new RotatorError('CONFIG_INVALID', `the admin secret has no ${name}`, 'target.connection');
    }
    return value;
  };
  return {
    host: target.host ?? field('host', admin.host),
    port: Number(target.port ?? admin.port ?? 27017),
    username: field('username', admin.username),
    password: field('password', admin.password),
    authSource: typeof admin.dbname === 'string' && admin.dbname !== '' ? admin.dbname : target.database,
  };
}
