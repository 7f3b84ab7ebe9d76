// What a store, target or consumer plugin exports: its config schema, capabilities, defaults and a factory.
// Plugin modules stay light (zod and constants); each factory imports its driver-backed implementation on first use.
import type { z } from 'zod';
import type { Strategy } from '../src/config/fields';
import type { SecretReference } from '../src/kernel/plan';
import type { KubeConnection } from './kubernetes/connection';
import type { LeaseEngine } from './leases/types';
import type { Endpoint } from './targets/endpoint';
import { parseDuration } from '../src/kernel/duration';
import { SHORT_IO } from '../workflows/lib/policies';
import type {
  AnyTarget,
  Consumer,
  DatabaseTarget,
  IssuingTarget,
  LoginCredential,
  SecretStore,
  SecretValue,
  StoreCapabilities,
  TargetCapabilities,
} from './types';

/** A Kubernetes Secret, and how to reach the API server that keeps it. */
export interface KubernetesSecretLocation {
  namespace: string;
  name: string;
  connection: KubeConnection;
}

/**
 * One line of `rotator plan`: what was checked and how it came out (✓ ok, ✗ fail, ⚠ warn: could not be checked, or
 * will not stop a rotation), with what to do for a ✗ or ⚠. References only, never a value. Checks change nothing.
 */
export interface PreflightCheck {
  check: string;
  status: 'ok' | 'fail' | 'warn';
  detail: string;
  fix?: string;
}

/** What a target's preflight is given besides its block: the admin credential and what the rotation would do. */
export interface TargetPreflightContext {
  strategy: Strategy;
  /** The login the plan derives from (the single user, or the base of `<login>_a` / `<login>_b`). */
  login: string;
  admin: SecretValue;
}

/** A provider block's schema: a strict object whose `type` is the plugin's name. */
type TypedSchema<C> = z.ZodType<C, unknown>;

/**
 * The fields of a plugin's block that hold secrets, as paths inside the block (`token`, `auth.client_secret`, `*` for
 * any key: `headers.*`): the config loader never shows their values and scrubs them from whatever rotator prints.
 */
export interface DeclaresSecrets {
  readonly secretFields?: ReadonlyArray<string>;
}

/** A mapping of a YAML document. */
export type L5Mapping = Record<string, unknown>;

/**
 * What src/config/l5.ts gives a store's L5 translation: the generic steps (issues, where a field was written, the
 * provider a connection block makes). `written(field)` is where the user wrote a field of the secret (its own entry
 * or a `_groups` entry); `at` is the secret's (or its fallback's) path in the normalized document.
 */
export interface L5Context {
  readonly at: string;
  readonly what: 'secret' | 'fallback';
  written(field: string): string;
  issue(path: string, message: string): void;
  /** An issue found in the normalized document at `from` is reported at `to`, where the user wrote it. */
  reportAt(from: string, to: string): void;
  /** Checks `value` (written at `at`), reporting its issues; the parsed value, or undefined. */
  check<T>(schema: z.ZodType<T>, value: unknown, at: string): T | undefined;
  /** Checks the secret's spec fields with `schema`, reporting each issue where its field was written. */
  checkWritten<T>(schema: z.ZodType<T>, s: L5Mapping): T | undefined;
  /** `<location>` (the store's own word for where the secret is) → `path`; `path` itself is accepted instead. */
  location(s: L5Mapping, location: string, value: unknown): L5Mapping;
  /** The provider a connection block makes (named by a hash of the block): its name. `fields`: where each came from. */
  provider(block: L5Mapping, fields: Record<string, string>): string;
  /** The provider declared under `providers:` by that name, if any. */
  declared(name: string): unknown;
  /** A provider named like the spec's kind is used: it must be of this store's type (an issue otherwise). */
  sameType(): void;
  /** Adds a provider of this name once (the same for every secret that uses it). */
  synthesize(name: string, block: L5Mapping): void;
  /** The secret is valid by the spec, but this build cannot serve it: left out, with why. */
  defer(path: string, message: string): void;
}

/**
 * The spec's per-store read options a secret of this store may carry under `read:` (the version a reader takes, who
 * reads): src/config/l5.ts composes every store's into one schema. rotator itself always reads the current value.
 */
export interface L5ReadOptions {
  /** Each option's schema; a store shares an option with another by sharing its schema object (the same one). */
  readonly fields: Readonly<Record<string, z.ZodType>>;
  /** Checks across this store's options (one of two, not both), reporting at the option's path inside `read:`. */
  check?(read: Readonly<Record<string, unknown>>, ctx: z.RefinementCtx): void;
}

/** A store's spelling in the L5 spec: the spec's `provider:` name for it, and how a secret written so becomes rotator's. */
export interface L5Spelling {
  /** The spec's `provider:` value (`aws_secrets_manager`). */
  readonly provider: string;
  /** The read options its secrets may carry (`read:`), if any. */
  readonly read?: L5ReadOptions;
  /** The secret (or fallback) in rotator's form: connection → a provider, location → `path`; undefined: left out. */
  translate(s: L5Mapping, ctx: L5Context): L5Mapping | undefined;
}

export interface StorePlugin<C extends { type: string }> extends DeclaresSecrets {
  readonly schema: TypedSchema<C>;
  /** How the L5 secret spec writes a secret kept in this store, if it does. */
  readonly l5?: L5Spelling;
  readonly capabilities: StoreCapabilities;
  /**
   * The write requests per second the provider's API allows, when it has such a limit (Secrets Manager: 50 TPS per
   * region): a mass rotation's write budget for providers of this type that `mass_rotation.write_budgets` leaves out.
   */
  readonly writeBudget?: number;
  /**
   * What the store is, as a step's messages name it ("promote of orders_db (store secrets: AWS Secrets Manager, …)"),
   * when neither the provider's name nor the store's own errors need say so.
   */
  readonly system?: string;
  /** A provider of this type that a secret may name without declaring it (`provider: vault`), with ${ENV} defaults. */
  readonly builtIn?: Record<string, unknown>;
  /** Why a secret's `path:` can never work in this store, or null: checked by `rotator validate`. */
  checkPath?(path: string): string | null;
  /**
   * Why `version` (a `secret://` URI's `?version=`) can never name a version in this store, or null: checked before
   * any read, so a malformed version is bad input rather than a miss or an outage. Stores without versions omit it.
   */
  checkVersion?(version: string): string | null;
  /** For a store that keeps a path in a Kubernetes Secret: which one (rollout consumers look for its other users). */
  kubernetesSecret?(config: C, path: string): KubernetesSecretLocation;
  /** `rotator plan`: whether this store would accept a rotation's writes at `path`, found out without writing. */
  preflight?(config: C, path: string): Promise<PreflightCheck[]>;
  /**
   * `stores` builds another store from a nested provider block by the same plugin map (checked by that store's
   * schema): a store kept over another one (transit encryption, SOPS) takes its inner store from it.
   */
  create(config: C, stores: StoreBuilder): Promise<SecretStore>;
  /** What a worker keeps running for a provider of this store while it runs (a token's renewal), or null. */
  keepAlive?(config: C): Promise<KeepAlive | null>;
  /**
   * Its provider may back a dynamic secret: the engine that issues its leased credentials (the lease keeper's), logged
   * in with the provider's credentials; its close() releases them. Stores without leases omit it.
   */
  leaseEngine?(config: C): Promise<LeaseEngine>;
}

/** Something a worker runs beside its activities for a provider, stopped when the worker stops. */
export interface KeepAlive {
  stop(): void;
}

/** Builds a store from a provider block (`{ type, … }`) with the plugin its type names; `field` names it in errors. */
export interface StoreBuilder {
  build(config: unknown, field: string): Promise<SecretStore>;
}

/** Where a lease keeper verifies a credential it issued (a lease block's `verify:`, without its `type`). */
export interface LeaseVerifyEndpoint {
  host: string;
  port: number;
  database?: string;
}

/** The target block with its `secret://` connection resolved to where the admin secret is kept (a block without one keeps none). */
export type TargetPlanOf<C> = Omit<C, 'connection'> &
  (C extends { connection: string } ? { connection: SecretReference } : { connection?: SecretReference });

export interface ConfigIssue {
  /** Relative to the secret's entry, e.g. ['target', 'acl']. */
  path: string[];
  message: string;
}

/** Pooled clients shared by the targets of one worker (one pool per server and admin credential). */
export interface SharedClients {
  shared<T>(key: string, create: () => T, close: (client: T) => Promise<void>): T;
}

export interface TargetPlugin<C extends { type: string; connection?: string }> extends DeclaresSecrets {
  readonly schema: TypedSchema<C>;
  /**
   * The target makes its own credentials (an IssuingTarget from `create`): rotated by strategy `issued`, which config
   * picks when `rotation.strategy` is left out (any other is refused). Absent or false: a DatabaseTarget, whose logins
   * get passwords rotator generates. Config validation and `plan` read this without opening the target.
   */
  readonly issues?: boolean;
  readonly capabilities: TargetCapabilities;
  readonly strategies: ReadonlyArray<Strategy>;
  /**
   * Offers dual-password although `capabilities.dualPassword` is false: only some servers of this kind keep two
   * passwords (named here, e.g. "MySQL 8.0.14 or later"). The target finds out when it connects (its own capabilities)
   * and a rotation on any other server is refused at inspect; `plan` says which it is.
   */
  readonly dualPasswordWhere?: string;
  /** The verify command when the config gives none: the cheapest call that proves a login works. */
  readonly defaultVerify: string;
  /** The login rotation derives from: the single user itself, or the base of `<login>_a` / `<login>_b`. */
  login(config: C): string;
  /** Checks beyond the schema that depend on the strategy (e.g. the rules both alternating logins share). */
  check?(config: C, strategy: Strategy): ConfigIssue[];
  /** `rotator plan`: whether the admin may do what the strategy needs, found out without changing anything. */
  preflight?(target: TargetPlanOf<C>, context: TargetPreflightContext): Promise<PreflightCheck[]>;
  /**
   * Where the target's connection goes (its block over the admin credential), without connecting: `plan` and
   * `validate` compare it with the host and port a stored value names.
   */
  connectionEndpoint?(target: TargetPlanOf<C>, admin: SecretValue): Promise<Endpoint>;
  /**
   * A lease keeper's check (`lease.verify: { type: <this target>, host, port, database, query }`): log in with
   * `credential` where the published `value` names (else at `at`), run `query` (else `defaultVerify`), and close. No
   * admin login is made. A target without it cannot be named by `lease.verify.type`.
   */
  verifyLease?(at: LeaseVerifyEndpoint, credential: LoginCredential, query: string, value: SecretValue): Promise<void>;
  /**
   * When the credential a stored value holds stops working by itself (a certificate's notAfter) and from when it is
   * due for renewal: the sweep makes the secret due from `renewAt` and overdue from `notAfter`. Null: it holds none.
   */
  renewal?(config: C, value: SecretValue): Promise<{ notAfter: number; renewAt: number } | null>;
  /** `adminKey` names the admin credential's version: targets with the same one share pooled clients. */
  create(target: TargetPlanOf<C>, admin: SecretValue, clients: SharedClients, adminKey: string): Promise<AnyTarget>;
}

/** A plugin with `issues: true`: its `create` makes an IssuingTarget. */
export interface IssuingTargetPlugin<C extends { type: string; connection?: string }> extends TargetPlugin<C> {
  readonly issues: true;
  create(target: TargetPlanOf<C>, admin: SecretValue, clients: SharedClients, adminKey: string): Promise<IssuingTarget>;
}

/** A plugin without `issues`: its `create` makes a DatabaseTarget. */
export interface DatabaseTargetPlugin<C extends { type: string; connection?: string }> extends TargetPlugin<C> {
  readonly issues?: false;
  create(target: TargetPlanOf<C>, admin: SecretValue, clients: SharedClients, adminKey: string): Promise<DatabaseTarget>;
}

const NOTIFY_TIMEOUT = SHORT_IO.startToCloseTimeout ?? '30s';

/**
 * How long a secret's consumers may take together, every attempt and wait included: one activity (SHORT_IO) notifies
 * them all, and it must end on its own before its start-to-close timeout, which Temporal would retry (notifying the
 * first consumers again). 5 s of the timeout are kept for reading what they need from the stores.
 */
export const CONSUMER_BUDGET_MS = (typeof NOTIFY_TIMEOUT === 'number' ? NOTIFY_TIMEOUT : parseDuration(NOTIFY_TIMEOUT)) - 5_000;

/** Resolves a `secret://name/key` reference of a consumer block; `field` names the block's field for errors. */
export type ResolveReference = (uri: string, field: string) => SecretReference;

/** What a consumer may use from the worker: values are read when it notifies, never carried in its config. */
export interface ConsumerContext {
  /** The field `ref.key` of the secret's current value in its store; NOT_FOUND naming the reference when missing. */
  readSecret(ref: SecretReference): Promise<string>;
}

export interface ConsumerPlugin<C extends { type: string }> extends DeclaresSecrets {
  readonly schema: TypedSchema<C>;
  /**
   * The block with its `secret://` references replaced by store locations, as the plan carries it (the plan is in
   * history, so it holds where a value is, never the value). Leaves fields that are already resolved alone.
   */
  resolve?(config: C, ref: ResolveReference): C;
  /** The longest one notify can take (all its attempts and waits), so a plan can keep its consumers within the activity's timeout. */
  worstCaseMs?(config: C): number;
  /**
   * The L5 spec's `rotation.on_rotation.action` that means this consumer (`reconnect`, `restart`, `alert`), if any:
   * src/config reads the action → consumer map from these declarations.
   */
  readonly l5Action?: string;
  /** Its consumers are RolloutConsumers: a rotation restarts their workloads batch by batch and waits for each. */
  readonly rollsOut?: boolean;
  /** What its consumers talk to, as a step's messages name it (`kubernetes API server`), when the type does not say. */
  readonly system?: string;
  /** `rotator plan`: whether the consumer can be reached (the block as the plan carries it), without notifying it. */
  preflight?(config: C, context: ConsumerContext): Promise<PreflightCheck[]>;
  create(config: C, context: ConsumerContext): Promise<Consumer>;
}

/** What a map of plugins holds: each entry typed by its own config (methods are checked bivariantly). */
export type AnyStorePlugin = StorePlugin<{ type: string }>;
export type AnyTargetPlugin = TargetPlugin<{ type: string; connection?: string }>;
export type AnyConsumerPlugin = ConsumerPlugin<{ type: string }>;
