// A rotation plan: what one rotation needs to know, derived from config, free of secret values (it is in history).
import { RotatorError } from './errors';
import { targetPlugin } from '../../activities/targets';
import {
  SECRET_REF,
  type Config,
  type ConsumerConfig,
  type PasswordPolicy,
  type RotationConfig,
  type TargetConfig,
} from '../config/schema';

/** Where a secret lives: a provider configured on the worker, and a path inside it. */
export interface StoreLocation {
  provider: string;
  path: string;
}

export interface SecretReference extends StoreLocation {
  /** `secret://name/key` picks one field; without a key the whole secret is meant. */
  key?: string;
}

export type Strategy = RotationConfig['strategy'];

/** The target block of the config with its `secret://` connection resolved to a store location. */
export type TargetPlan = DistributiveOmit<TargetConfig, 'connection'> & { connection: SecretReference };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

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
}

export function resolveReference(config: Config, ref: string, path: string): SecretReference {
  const m = SECRET_REF.exec(ref);
  const entry = m ? config.secrets[m[1]] : undefined;
  if (!m || !entry) throw new RotatorError('CONFIG_INVALID', `cannot resolve ${JSON.stringify(ref)}`, path);
  return { provider: entry.provider, path: entry.path, ...(m[2] ? { key: m[2] } : {}) };
}

export function planRotation(config: Config, secretName: string): RotationPlan {
  const secret = config.secrets[secretName];
  if (!secret) {
    throw new RotatorError(
      'NOT_FOUND',
      `no secret named ${JSON.stringify(secretName)}; known: ${Object.keys(config.secrets).join(', ')}`,
      'secret',
    );
  }
  if (!secret.target || !secret.rotation) {
    throw new RotatorError(
      'CONFIG_INVALID',
      'this secret has no target: and rotation: blocks, so it cannot be rotated',
      `secrets.${secretName}`,
    );
  }
  const { target, rotation } = secret;
  const plugin = targetPlugin(target);
  return {
    secret: secretName,
    store: { provider: secret.provider, path: secret.path },
    target: { ...target, connection: resolveReference(config, target.connection, `secrets.${secretName}.target.connection`) },
    login: plugin.login(target),
    strategy: rotation.strategy,
    gracePeriodMs: rotation.grace_period,
    reconnectWaitMs: rotation.reconnect.wait,
    verifyQuery: rotation.verify.query ?? plugin.defaultVerify,
    password: rotation.password,
    drain: { timeoutMs: rotation.drain.timeout, onTimeout: rotation.drain.on_timeout },
    consumers: secret.consumers,
  };
}

export function rotatableSecrets(config: Config): string[] {
  return Object.entries(config.secrets)
    .filter(([, s]) => s.target && s.rotation)
    .map(([n]) => n);
}

/** One rotation per secret: the workflow id is the secret's name, so Temporal itself refuses a second run. */
export function workflowIdFor(secretName: string): string {
  return `rotate/${secretName}`;
}
