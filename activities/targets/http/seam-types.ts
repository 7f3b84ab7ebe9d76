// TEMPORARY: the seam's types (SEAM.md) until branch seam is merged; deleted then.
import type { JsonValue, SecretValue, VerifiedAt } from '../../types';
/** What an issuing target made: a name consumers see (access key id, certificate serial, key id) and its secret. */
export interface IssuedCredential {
  /** Not secret: logged, shown in status, put in history. */
  id: string;
  /** The secret part (secret access key, API key, private key PEM, random key). Never logged. */
  secret: string;
  /** Other fields the stored value gets (certificate chain, public JWKS, key type). Not secret unless the plugin lists them in secretFields. */
  fields?: Record<string, JsonValue>;
}

/**
 * A target that makes its own credentials (an IAM access key, an API key from a hook, a certificate) instead of taking
 * a password rotator generated. Every call is idempotent. The rotation issues straight into the store's pending value,
 * so a credential's secret never passes through history.
 */
export interface IssuingTarget {
  readonly issues: true;
  /** Connection fields a secret's first value gets beside the credential (may be {}). */
  readonly endpoint: Readonly<Record<string, JsonValue>>;
  /** The stored fields a credential owns (e.g. { AccessKeyId, SecretAccessKey }), replaced in a copy of the current value; undefined removes a field. */
  credentialFields(
    credential: IssuedCredential,
    previous: IssuedCredential | null,
  ): Readonly<Record<string, JsonValue | undefined>>;
  /** The way back: the credential a stored value holds, or null when it holds none. */
  credentialOf(value: SecretValue): IssuedCredential | null;
  /**
   * Makes a new credential for this rotation. `current` is the credential the store publishes now (null: none yet).
   * A re-run for the same rotationId (after a worker death between issue and stage) must not leave a second live
   * credential behind: return the same one (an idempotency key) or withdraw what it made and cannot return.
   * `startedAt` (epoch ms) is when the rotation started, for telling its own leftovers from older credentials.
   */
  issue(request: {
    rotationId: string;
    startedAt: number;
    current: IssuedCredential | null;
    value: SecretValue | null;
  }): Promise<IssuedCredential>;
  /** Proves the credential works (STS GetCallerIdentity signed with it, a TLS handshake, the hook's verify). VERIFY_FAILED when refused; TRANSIENT when the system cannot be reached. */
  verify(credential: IssuedCredential, stored: SecretValue): Promise<VerifiedAt>;
  /** Reversibly takes a credential out of service (IAM: Inactive). Optional. */
  suspend?(credential: IssuedCredential): Promise<void>;
  /** Undo of suspend. Optional (present when suspend is). */
  resume?(credential: IssuedCredential): Promise<void>;
  /** Withdraws a credential for good; already gone counts as success. The old one after the grace period; this rotation's own on rollback. */
  withdraw(credential: IssuedCredential): Promise<void>;
  /** Fields of the current stored value to replace once the previous credential is withdrawn (drop the old public key from a JWKS, drop `previous_*`). Optional. */
  afterWithdraw?(current: SecretValue): Readonly<Record<string, JsonValue | undefined>> | null;
  close(): Promise<void>;
}

/** What a target plugin makes: a database whose logins rotator sets, or a system that issues its own credentials. */
