// Leased credentials from the database secrets engine of OpenBao or Vault: issue, look up, renew, revoke, list.
import type vault from 'node-vault';
import { currentToken, vaultClient, type VaultConnection } from './client';
import { RotatorError } from '../../../src/kernel/errors';
import type { IssuedCredential, LeaseEngine, LeaseInfo, RenewResult } from '../../leases/types';

/** The same connection fields as the `vault` store plugin: a token, or the provider's login session. */
/** `release`: called once on close (the provider's Vault session the engine logged in with). */
export type VaultDatabaseOptions = VaultConnection & { release?: () => void };

// A hung server must not hold an activity past its own timeout: the activity cannot cancel an HTTP call.
const REQUEST_TIMEOUT_MS = 30_000;

interface VaultHttpError {
  response?: { statusCode?: number; body?: { errors?: unknown } };
  message?: string;
}

interface CredsBody {
  lease_id?: string;
  lease_duration?: number;
  renewable?: boolean;
  data?: { username?: unknown; password?: unknown } | null;
}
interface LookupBody {
  data?: {
    id?: string;
    expire_time?: string | null;
    ttl?: number;
    issue_time?: string | null;
    last_renewal?: string | null;
    renewable?: boolean;
  } | null;
}
interface RenewBody {
  lease_duration?: number;
  warnings?: string[] | null;
}
interface ListBody {
  data?: { keys?: string[] } | null;
}

const SEGMENT = /^[\w.-]+$/;

/** Names go into URL paths, where `..` would reach another mount and `?`, `#` or `%` would change the request. */
function checkName(field: 'mount' | 'role', value: string): void {
  const segments = field === 'mount' ? value.split('/') : [value];
  if (segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..'))
    throw new RotatorError(
      'CONFIG_INVALID',
      `expected ${field === 'mount' ? 'plain path segments' : 'one plain path segment'} (letters, digits, _ . -; no empty, . or ..), got ${JSON.stringify(value)}`,
      field,
    );
}

function checkLeaseId(leaseId: string): void {
  if (typeof leaseId !== 'string' || leaseId.trim() === '')
    throw new RotatorError('CONFIG_INVALID', 'expected a lease id', 'leaseId');
}

function statusOf(err: unknown): number | undefined {
  return (err as VaultHttpError)?.response?.statusCode;
}

export class VaultDatabaseEngine implements LeaseEngine {
  private readonly client: vault.client;

  constructor(private options: VaultDatabaseOptions) {
    this.client = vaultClient(options, REQUEST_TIMEOUT_MS);
  }

  /**
   * OpenBao's message, first error only, on one line. A database quotes statement fragments in its errors, and the
   * fragment of a failing creation statement can be the new password: quoted text never leaves this module.
   */
  private failure(err: unknown, action: string): RotatorError {
    if (err instanceof RotatorError) return err; // a new login the refused token called for failed: it says why
    const status = statusOf(err);
    let text = ((err as VaultHttpError)?.message ?? String(err))
      .replace(/\d+ errors? occurred:/, '')
      .replace(/resp: \(\*logical\.Response\)\(nil\) /, '')
      .replace(/\s*\n\s*\*?\s*/g, ' ')
      .replace(/"[^"]*"|'[^']*'/g, '"…"')
      .trim();
    const token = currentToken(this.options);
    if (token) text = text.split(token).join('***');
    if (status === 401 || status === 403) return new RotatorError('PERMISSION_DENIED', `vault refused to ${action}: ${text}`);
    if (status === 404 || /lease not found|invalid lease|unknown role/i.test(text))
      return new RotatorError('NOT_FOUND', `vault could not ${action}: ${text}`);
    return new RotatorError('TRANSIENT', `vault could not ${action}: ${text}`);
  }

  private async put<T>(apiPath: string, body: Record<string, unknown>, action: string): Promise<T> {
    try {
      return (await this.client.request({ path: `/${apiPath}`, method: 'PUT', json: body, timeout: REQUEST_TIMEOUT_MS })) as T;
    } catch (err) {
      throw this.failure(err, action);
    }
  }

  async issue(mount: string, role: string): Promise<IssuedCredential> {
    checkName('mount', mount);
    checkName('role', role);
    const action = `issue a credential from ${mount}/creds/${role}`;
    let body: CredsBody;
    try {
      body = (await this.client.read(`${mount}/creds/${role}`)) as CredsBody;
    } catch (err) {
      throw this.failure(err, action);
    }
    const { username, password } = body.data ?? {};
    if (!body.lease_id || typeof username !== 'string' || typeof password !== 'string')
      throw new RotatorError('TRANSIENT', `vault could not ${action}: the answer has no lease id, username or password`);
    return {
      leaseId: body.lease_id,
      leaseDurationSec: body.lease_duration ?? 0,
      renewable: body.renewable ?? false,
      username,
      password,
    };
  }

  async lookup(leaseId: string): Promise<LeaseInfo | null> {
    checkLeaseId(leaseId);
    let body: LookupBody;
    try {
      body = await this.put<LookupBody>('sys/leases/lookup', { lease_id: leaseId }, `look up lease ${leaseId}`);
    } catch (err) {
      if (err instanceof RotatorError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
    const data = body.data;
    if (!data?.expire_time)
      throw new RotatorError('TRANSIENT', `vault could not look up lease ${leaseId}: the answer has no expire_time`);
    return {
      leaseId: data.id ?? leaseId,
      expireTime: data.expire_time,
      ttlSec: data.ttl ?? 0,
      issueTime: data.issue_time ?? null,
      lastRenewal: data.last_renewal ?? null,
      renewable: data.renewable ?? false,
    };
  }

  async renew(leaseId: string, incrementSec: number): Promise<RenewResult> {
    checkLeaseId(leaseId);
    if (!Number.isInteger(incrementSec) || incrementSec <= 0)
      throw new RotatorError('CONFIG_INVALID', `expected a whole number of seconds > 0, got ${incrementSec}`, 'incrementSec');
    const body = await this.put<RenewBody>(
      'sys/leases/renew',
      { lease_id: leaseId, increment: incrementSec },
      `renew lease ${leaseId}`,
    );
    const leaseDurationSec = body.lease_duration ?? 0;
    // OpenBao warns "TTL of … exceeded the effective max_ttl …; TTL value is capped accordingly".
    const warned = (body.warnings ?? []).some((w) => /max_ttl|capped/i.test(w));
    return { leaseDurationSec, capped: warned || leaseDurationSec < incrementSec };
  }

  /**
   * OpenBao answers 204 for a lease it does not know. When the database refuses the revocation statements it answers
   * 400 "failed to revoke entry" and keeps the lease: that is a TRANSIENT error, and lookup still finds the lease.
   */
  async revoke(leaseId: string): Promise<void> {
    checkLeaseId(leaseId);
    try {
      await this.put('sys/leases/revoke', { lease_id: leaseId }, `revoke lease ${leaseId}`);
    } catch (err) {
      if (err instanceof RotatorError && err.code === 'NOT_FOUND') return;
      throw err;
    }
  }

  async roleMaxTtl(mount: string, role: string): Promise<number | null> {
    checkName('mount', mount);
    checkName('role', role);
    try {
      const body = (await this.client.read(`${mount}/roles/${role}`)) as { data?: { max_ttl?: unknown } | null };
      const maxTtl = Number(body.data?.max_ttl ?? 0);
      return Number.isFinite(maxTtl) && maxTtl > 0 ? maxTtl : null;
    } catch (err) {
      const failure = this.failure(err, `read role ${mount}/roles/${role}`);
      if (failure.code === 'PERMISSION_DENIED') return null; // renewals will find the cap instead
      throw failure;
    }
  }

  async list(mount: string, role: string): Promise<string[]> {
    checkName('mount', mount);
    checkName('role', role);
    const prefix = `${mount}/creds/${role}/`;
    let body: ListBody;
    try {
      body = (await this.client.list(`sys/leases/lookup/${prefix}`)) as ListBody;
    } catch (err) {
      // No leases under the prefix: 404 with an empty error list.
      const errors = (err as VaultHttpError)?.response?.body?.errors;
      if (statusOf(err) === 404 && Array.isArray(errors) && errors.length === 0) return [];
      throw this.failure(err, `list leases under ${prefix}`);
    }
    return (body.data?.keys ?? []).filter((k) => !k.endsWith('/')).map((k) => prefix + k);
  }

  async close(): Promise<void> {
    // node-vault holds no connection of its own to close; the session it logged in with is released.
    const release = this.options.release;
    this.options = { ...this.options, release: undefined };
    release?.();
  }
}
