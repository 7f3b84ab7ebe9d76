// Leased credentials: what the lease keeper needs from an engine that issues them (OpenBao/Vault database engine).

/** A credential just issued. The password stays inside the activity that asked for it: it goes to a store, never to history. */
export interface IssuedCredential {
  leaseId: string;
  /** Seconds the lease is valid from now, as the engine granted it. */
  leaseDurationSec: number;
  renewable: boolean;
  username: string;
  password: string;
}

export interface LeaseInfo {
  leaseId: string;
  /** When the lease ends unless renewed (ISO 8601, from the engine). */
  expireTime: string;
  ttlSec: number;
  issueTime: string | null;
  lastRenewal: string | null;
  renewable: boolean;
}

export interface RenewResult {
  /** Seconds the lease is valid from now after this renewal. */
  leaseDurationSec: number;
  /** The engine granted less than asked: the lease is near its max_ttl, and only a new credential lasts longer. */
  capped: boolean;
}

/**
 * An engine that issues leased credentials. Errors are RotatorErrors: NOT_FOUND for a lease the engine no longer
 * knows (expired, revoked, never existed), PERMISSION_DENIED, TRANSIENT for outages; never a credential in a message.
 */
export interface LeaseEngine {
  /** Issue a new credential for `role` under the engine's `mount` (e.g. `database`, role `app-readonly`). */
  issue(mount: string, role: string): Promise<IssuedCredential>;
  /** The lease's state, or null when the engine does not know it (expired or revoked). */
  lookup(leaseId: string): Promise<LeaseInfo | null>;
  /** Extend the lease by `incrementSec` (the engine may grant less); NOT_FOUND when it is gone. */
  renew(leaseId: string, incrementSec: number): Promise<RenewResult>;
  /**
   * Revoke the lease now (the engine drops the login). A lease already gone counts as success. When the engine
   * cannot drop the login (its revocation statements fail), a TRANSIENT error, and the engine still holds the lease.
   */
  revoke(leaseId: string): Promise<void>;
  /**
   * The role's max_ttl in seconds: no lease of it outlives issue + max_ttl, so the keeper times the next credential
   * from it. Null when the role sets none (the mount's default applies) or this token may not read roles.
   */
  roleMaxTtl(mount: string, role: string): Promise<number | null>;
  /** Lease ids the engine holds under `mount/creds/role`. */
  list(mount: string, role: string): Promise<string[]>;
  close(): Promise<void>;
}
