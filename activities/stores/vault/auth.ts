// How a vault provider gets its token: the one given to it, or a login (AppRole, Kubernetes) kept fresh by the worker.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { vaultClient, type TokenSource } from './client';
import { RotatorError } from '../../../src/kernel/errors';
import { redact } from '../../../src/kernel/redact';
import type { schema } from './index';

type VaultProvider = z.infer<typeof schema>;
/** What a session needs of a vault provider's block. */
export type VaultLoginConfig = Pick<VaultProvider, 'address' | 'token' | 'namespace' | 'auth'>;
type Auth = NonNullable<VaultProvider['auth']>;

/** The pod's own service account token, where Kubernetes mounts it. */
export const DEFAULT_JWT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

// A hung server must not hold a login (and every request waiting on it) forever.
const LOGIN_TIMEOUT_MS = 30_000;

export interface LoginResult {
  /** Seconds the token is valid from its login; 0 for a token that does not expire. */
  ttlSec: number;
  renewable: boolean;
}

/** `auth/<mount>` as the error messages name it: the mount given, or the method's own name. */
function mountOf(auth: Auth): string {
  return (auth.mount ?? auth.method).replace(/^\/+|\/+$/g, '').replace(/^auth\//, '');
}

function statusOf(err: unknown): number | undefined {
  return (err as { response?: { statusCode?: number } })?.response?.statusCode;
}

/** Vault's first error, on one line. */
function vaultText(err: unknown): string {
  return ((err as Error)?.message ?? String(err))
    .replace(/\d+ errors? occurred:/, '')
    .replace(/\s*\n\s*\*?\s*/g, ' ')
    .trim();
}

/**
 * The token of one vault provider, for all its clients: the store, the lease engine and the renewer of one worker
 * share it, so a renewal or a new login serves them all. A session with a given token only hands it out; one that
 * logs in does so on `ready()` and again whenever the token is refused as invalid or the renewer replaces it.
 */
export class VaultSession implements TokenSource {
  private current = '';
  private pending: Promise<LoginResult> | null = null;
  private holders = 1;

  constructor(
    private readonly config: VaultLoginConfig,
    private readonly onReleased: () => void = () => undefined,
  ) {
    const method = config.auth?.method ?? 'token';
    if (method === 'aws')
      throw new RotatorError(
        'UNSUPPORTED',
        'auth.method aws: logging in with AWS IAM credentials is not implemented in this build; use approle, kubernetes or a token',
      );
    if (method === 'token') this.current = config.token;
  }

  /** False for a token given to rotator: there is nothing to log in with when it is refused. */
  get canLogin(): boolean {
    return (this.config.auth?.method ?? 'token') !== 'token';
  }

  /** `approle at auth/approle`: which login this is, for messages (never a credential). */
  get describe(): string {
    const auth = this.config.auth;
    return auth && auth.method !== 'token' ? `${auth.method} at auth/${mountOf(auth)}` : 'token';
  }

  token(): string {
    return this.current;
  }

  /** Logged in (once), or the token given: a wrong or expired credential fails here with PERMISSION_DENIED. */
  async ready(): Promise<void> {
    if (this.canLogin && !this.current) await this.login();
  }

  /** Log in now, replacing the token; concurrent callers share one login. */
  login(): Promise<LoginResult> {
    if (!this.canLogin)
      return Promise.reject(new RotatorError('UNSUPPORTED', 'a vault token given to rotator cannot log in again'));
    if (!this.pending) {
      this.pending = this.loginOnce().finally(() => (this.pending = null));
    }
    return this.pending;
  }

  async refused(used: string): Promise<boolean> {
    if (!this.canLogin) return false;
    if (this.pending) {
      await this.pending;
      return true;
    }
    if (this.current && this.current !== used) return true; // another caller logged in meanwhile
    if (used && (await this.stillValid(used))) return false;
    if (this.current !== used) return true; // logged in while we asked
    await this.login();
    return true;
  }

  /** Another holder of the same login (store, lease engine, renewer). */
  acquire(): this {
    this.holders += 1;
    return this;
  }

  release(): void {
    this.holders -= 1;
    if (this.holders === 0 && this.canLogin) {
      this.onReleased();
      // The token is dropped, not revoked: leases it issued live on until it expires.
      this.current = '';
    }
  }

  /** A 403 on a valid token is a policy denial; only an invalid one (expired, revoked) calls for a new login. */
  private async stillValid(token: string): Promise<boolean> {
    try {
      await vaultClient({ ...this.connection(), token }, LOGIN_TIMEOUT_MS).tokenLookupSelf();
      return true;
    } catch (err) {
      // Only a refusal says the token is gone; an outage says nothing, and the original 403 stands.
      return statusOf(err) !== 403;
    }
  }

  private connection(): { address: string; namespace?: string } {
    return { address: this.config.address, ...(this.config.namespace ? { namespace: this.config.namespace } : {}) };
  }

  private async loginOnce(): Promise<LoginResult> {
    const auth = this.config.auth!;
    const mount = mountOf(auth);
    let body: Record<string, string>;
    let secrets: string[];
    if (auth.method === 'approle') {
      body = { role_id: auth.role_id!, secret_id: auth.secret_id! };
      secrets = [auth.role_id!, auth.secret_id!];
    } else {
      const jwt = await readJwt(auth.jwt_path ?? DEFAULT_JWT_PATH);
      body = { role: auth.role!, jwt };
      secrets = [jwt];
    }
    const client = vaultClient({ ...this.connection(), token: '' }, LOGIN_TIMEOUT_MS);
    let out: { auth?: { client_token?: string; lease_duration?: number; renewable?: boolean } };
    try {
      out = (await client.write(`auth/${mount}/login`, body)) as typeof out;
    } catch (err) {
      throw loginError(err, this.describe, secrets);
    }
    const token = out?.auth?.client_token;
    if (!token) throw new RotatorError('TRANSIENT', `vault ${this.describe} login answered without a token`);
    this.current = token;
    return { ttlSec: out.auth?.lease_duration ?? 0, renewable: out.auth?.renewable ?? false };
  }
}

/** A projected service account token is rotated by the kubelet: it is read at each login, never kept. */
async function readJwt(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new RotatorError('CONFIG_INVALID', `cannot read the service account token at ${file} (${code})`, 'auth.jwt_path');
  }
  const jwt = text.trim();
  if (!jwt) throw new RotatorError('CONFIG_INVALID', `the service account token at ${file} is empty`, 'auth.jwt_path');
  return jwt;
}

/** Vault answers a wrong or expired credential with 400 (AppRole) or 403; neither the secret_id nor the JWT is quoted. */
function loginError(err: unknown, describe: string, secrets: ReadonlyArray<string>): RotatorError {
  const status = statusOf(err);
  const text = redact(vaultText(err), secrets);
  if (status === 400 || status === 401 || status === 403)
    return new RotatorError('PERMISSION_DENIED', `vault refused the ${describe} login (HTTP ${status}): ${text}`);
  if (status === 404)
    return new RotatorError('CONFIG_INVALID', `vault has no ${describe} login (HTTP 404): ${text}`, 'auth.mount');
  return new RotatorError('TRANSIENT', `vault ${describe} login failed${status ? ` (HTTP ${status})` : ''}: ${text}`);
}

/** Logins shared by the holders of the same provider block in this process; dropped with their last holder. */
const sessions = new Map<string, VaultSession>();

/**
 * The session of a vault provider: a new one for a given token, the shared one for a login (the same credentials
 * give the same session, so a worker's store, lease engine and renewer use one token). Each call is a holder: call
 * `release()` when done. Throws UNSUPPORTED for auth.method aws.
 */
export function vaultSession(config: VaultLoginConfig): VaultSession {
  if ((config.auth?.method ?? 'token') === 'token') return new VaultSession(config);
  // Keyed by a digest: the map holds no credential in its keys.
  const key = createHash('sha256')
    .update(JSON.stringify([config.address, config.namespace ?? '', config.auth]))
    .digest('hex');
  const shared = sessions.get(key);
  if (shared) return shared.acquire();
  const session = new VaultSession(config, () => sessions.delete(key));
  sessions.set(key, session);
  return session;
}
