// A rotation plan: what one rotation needs to know, derived from config, free of secret values (it is in history).
// Types only: the plan is made and checked in src/config/plan.ts, over the config and the plugin maps.
import type { ReaderBound } from '../config/readers';
import type { ConsumerConfig, PasswordPolicy, RotationConfig, TargetConfig } from '../config/schema';

/** Where a secret lives: a provider configured on the worker, and a path inside it. */
export interface StoreLocation {
  provider: string;
  path: string;
}

export interface SecretReference extends StoreLocation {
  /** `secret://name/key` picks one field; without a key the whole secret is meant. */
  key?: string;
}

export type Strategy = NonNullable<RotationConfig['strategy']>;

/**
 * The target block of the config with its `secret://` connection resolved to a store location. A target with no
 * system to manage (a key rotator generates itself) has no connection, and keeps none.
 */
export type TargetPlan = WithResolvedConnection<TargetConfig>;
type WithResolvedConnection<T> = T extends { connection: string }
  ? Omit<T, 'connection'> & { connection: SecretReference }
  : T & { connection?: undefined };

export type TargetType = TargetConfig['type'];

export interface RotationPlan {
  secret: string;
  store: StoreLocation;
  target: TargetPlan;
  /** The login name rotation derives from: the single user itself, or the base of `<login>_a` / `<login>_b`. */
  login: string;
  strategy: Strategy;
  gracePeriodMs: number;
  reconnectWaitMs: number;
  verifyQuery: string;
  password: PasswordPolicy;
  drain: { timeoutMs: number; onTimeout: 'terminate' | 'keep' };
  /** Told about the new version after publish; absent in plans of rotations started before consumers existed. */
  consumers?: ConsumerConfig[];
  /** How long a forward step waits out an unreachable store or target (`rotation.outage_tolerance`); absent in older plans. */
  outageToleranceMs?: number;
  /** Present when a person must approve first (`rotation.approval: required`); absent in older plans. */
  approval?: { timeoutMs: number };
  /** The longest reader cache the config declares (config/readers.ts), named in revoke's note; absent when none. */
  readers?: ReaderBound;
  /**
   * Set by a mass rotation: the store's writes take tokens from the shared budget `key` (a provider) at `perSecond`
   * before they are sent (activities/write-budget.ts). Absent otherwise, and in older plans.
   */
  writeBudget?: { key: string; perSecond: number };
}
