// The three seams of a rotation: a store publishes a credential, a target makes it valid, a consumer picks it up.

/** What a field of a stored value may hold: anything JSON can (stores that keep only text per field hold strings and numbers). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A credential as stores keep it: the field names of the JSON layout AWS uses for database secrets, so one shape
 * reads the same in every store. A stored value may hold any other fields (an operator's `sslmode`, AWS's
 * `dbInstanceIdentifier`): a rotation copies them as they are and replaces only the credential fields it owns.
 */
export interface SecretValue {
  username?: string;
  password?: string;
  engine?: string;
  host?: string;
  port?: number;
  dbname?: string;
  [field: string]: JsonValue | undefined;
}

export interface Versioned<T> {
  version: string;
  value: T;
}

/** Declared, not guessed: the workflow and the activities choose behaviour from these, never from a provider name. */
export interface StoreCapabilities {
  writable: boolean;
  /** Old versions stay readable, so `previous` can be served without a second copy. */
  versions: boolean;
  /** Writes can be conditioned on the version we read (check-and-set). */
  checkAndSet: boolean;
  /**
   * The most write requests each writing method sends to the store's server, for a write budget (mass rotation):
   * one token per request. A method left out counts as one.
   */
  writeRequests?: Partial<Record<WriteMethod, number>>;
}

/** The SecretStore methods that write: the ones a write budget paces. */
export const WRITE_METHODS = ['stagePending', 'discardPending', 'promote', 'rollback'] as const;
export type WriteMethod = (typeof WRITE_METHODS)[number];

export interface PromoteResult {
  version: string;
  previousVersion: string | null;
}

/** A rotation's staged value and the version that was current when it was staged (what promote replaces). */
export interface Pending {
  value: SecretValue;
  baseVersion: string | null;
}

/**
 * Where a credential is published. Every write is idempotent per rotation id, so a step run again (a retried
 * activity, or a whole rotation re-run after a worker death) changes nothing; "already gone" counts as success for
 * discard and rollback.
 *
 * The pending value is also the rotation's claim on the secret: it is created atomically (a second rotation's
 * stage fails with CONFLICT), survives promote, and is only removed by `discardPending` when the rotation ends, so
 * a rotation re-run from any point finds the password and the base version it chose the first time.
 */
/**
 * A write budget's gate for one write request: resolves when the request may be sent, with its release, called once
 * the request has its answer or failed (the budget counts a request from its turn to its answer, and a window more).
 */
export type WriteGate = () => Promise<() => void>;

export interface SecretStore {
  readonly capabilities: StoreCapabilities;
  /** The current value, or null when the secret does not exist yet. */
  readCurrent(path: string): Promise<Versioned<SecretValue> | null>;
  readVersion(path: string, version: string): Promise<SecretValue | null>;
  /**
   * Put the next value where readers of the current one cannot see it, recording `baseVersion` (the current version
   * it was chosen against). Keeps an earlier stage of the same rotation. Fails with CONFLICT when another rotation's
   * pending value is there (under stale_pending: fail), even when both stage at the same moment.
   */
  stagePending(path: string, rotationId: string, value: SecretValue, baseVersion: string | null): Promise<void>;
  /** This rotation's pending value, or null. */
  readPending(path: string, rotationId: string): Promise<Pending | null>;
  /** Who else holds a pending value of this secret (a rotation id or version id, never a value), or null. */
  otherPending(path: string, rotationId: string): Promise<string | null>;
  /** Ends the rotation's claim: removes its pending value. Someone else's is left alone. */
  discardPending(path: string, rotationId: string): Promise<void>;
  /**
   * Make the pending value current; the old one stays readable as previous, and the pending value stays (as the
   * claim) until discarded. Fails with CONFLICT if current moved.
   */
  promote(path: string, rotationId: string, expectedCurrent: string | null): Promise<PromoteResult>;
  /** The version this rotation made current and the one it replaced, if its promote went through; else null. */
  publishedBy(path: string, rotationId: string): Promise<PromoteResult | null>;
  /** Make `toVersion` current again after `fromVersion` was promoted by this rotation. */
  rollback(path: string, rotationId: string, versions: { toVersion: string | null; fromVersion: string }): Promise<void>;
  /** When the current version was written (epoch ms): the sweep's "last rotated". Null when the secret is missing. */
  publishedAt?(path: string): Promise<number | null>;
  /**
   * The same store, calling `gate` before each write request it sends to its server, and the release it answers once
   * the request has its answer (or failed): how a write budget paces a store request by request. A store without it
   * is paced method by method (capabilities.writeRequests tokens each).
   */
  withWriteGate?(gate: WriteGate): SecretStore;
  close(): Promise<void>;
}

export interface LoginCredential {
  username: string;
  password: string;
}

/** Where a verify logged in (`host:port[/database]`, never a credential) and whose endpoint that was. */
export interface VerifiedAt {
  endpoint: string;
  from: 'stored value' | 'target connection';
}

/** Declared by each target; the workflow and config validation choose a strategy from these. */
export interface TargetCapabilities {
  /** One login can hold two passwords at once (Redis ACL), so rotation needs no second login. */
  dualPassword: boolean;
  /** Sessions can be counted per login, so revoke can wait for the old login's sessions to drain. */
  sessionsPerLogin: boolean;
}

/** Where a credential is valid: a database that can set, check and withdraw a login. All calls are idempotent. */
export interface DatabaseTarget {
  readonly capabilities: TargetCapabilities;
  /** Connection fields a secret's first value gets beside the credential (host, port, dbname, engine). */
  readonly endpoint: Pick<SecretValue, 'engine' | 'host' | 'port' | 'dbname'>;
  /**
   * The fields of a stored value a rotation owns, given the new credential: it replaces exactly these in a copy of
   * the current value (a field set to undefined is removed). Without it: `username` and `password`.
   */
  credentialFields?(credential: LoginCredential): Readonly<Record<string, JsonValue | undefined>>;
  /** alternating-users: create the login if missing, with the rights every login of this target shares; set its password. */
  upsertLogin(username: string, password: string): Promise<void>;
  /** single-user: replace the password of an existing login (NOT_FOUND if it does not exist). */
  setPassword(username: string, password: string): Promise<void>;
  /** dual-password: give the login one more valid password; the others keep working. */
  addPassword(username: string, password: string): Promise<void>;
  /** dual-password: withdraw one password of the login; the others keep working. Already gone counts as success. */
  removePassword(username: string, password: string): Promise<void>;
  /**
   * Log in with the credential and run the verify command; throws VERIFY_FAILED otherwise. `stored`, the value the
   * credential is (or will be) published as: the login goes to the endpoint it names (host, port, database: what
   * consumers use), else to the target's connection. Says which endpoint it used.
   */
  verify(credential: LoginCredential, query: string, stored?: SecretValue): Promise<VerifiedAt>;
  /** Withdraw the login so its password is refused. Already withdrawn or missing counts as success. */
  disableLogin(username: string): Promise<void>;
  liveSessions(username: string): Promise<number>;
  /** When the login stops working on its own (PostgreSQL VALID UNTIL), if the target has such a thing; else null. */
  loginExpiry?(username: string): Promise<number | null>;
  terminateSessions(username: string): Promise<number>;
  close(): Promise<void>;
}

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
export type AnyTarget = DatabaseTarget | IssuingTarget;

/** Whether a target issues its own credentials (an IssuingTarget). */
export function isIssuing(target: AnyTarget): target is IssuingTarget {
  return (target as Partial<IssuingTarget>).issues === true;
}

export interface ConsumerEvent {
  secret: string;
  version: string;
  username: string;
  /** The rotation that published the version, so a receiver can tell a retry from a new event; absent from older callers. */
  rotationId?: string;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** One Kubernetes workload a rollout consumer restarts. */
export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

/** Where a rollout stands, by `kubectl rollout status` rules; `failed` will not get better by waiting. */
export interface RolloutState {
  state: 'done' | 'waiting' | 'failed';
  message: string;
}

/**
 * A consumer that picks the new credential up by restarting: the workflow restarts its workloads batch by batch
 * and waits for each, so a worker death resumes at the batch it was in. Every call is idempotent. Its `notify`
 * (for callers that do not drive batches, such as a lease keeper) restarts every workload at once and does not wait.
 */
export interface RolloutConsumer extends Consumer {
  readonly rollsOut: true;
  /** The configured workloads in order, label selectors expanded (sorted by name). */
  workloads(): Promise<WorkloadRef[]>;
  /** The workloads in a namespace whose pods use the Secret `name` (mounted, envFrom, secretKeyRef). */
  usersOf(secret: { namespace: string; name: string }): Promise<WorkloadRef[]>;
  /**
   * Sets the pod-template annotation (a restart), unless it already has this value, or (with `onlyIf`) unless it
   * has that one: an undo restarts only what was restarted onto the version it undoes.
   */
  restart(
    w: WorkloadRef,
    annotation: { key: string; value: string; onlyIf?: string },
  ): Promise<{ generation: number; restarted: boolean }>;
  progress(w: WorkloadRef): Promise<RolloutState>;
}

/** Who must pick the new credential up: notify or roll out. */
export interface Consumer {
  notify(event: ConsumerEvent): Promise<void>;
}
