// The key rotation's seam and activities: an encryption key (OpenBao transit) gets a new version, the ciphertexts a
// store holds are rewrapped onto it, and only then may the key stop decrypting the old versions. Activities pass
// references and counts, never a ciphertext or a plaintext; every one converges when run again for the same rotation.
import type { z } from 'zod';
import type { Config } from '../src/config/schema';
import { RotatorError } from '../src/kernel/errors';
import type { KeyPlan } from '../workflows/key-definitions';
import { guardedAll } from './guarded';
import type { ConfigIssue, DeclaresSecrets, PreflightCheck } from './plugin';
import type { ProviderRegistry } from './registry';
import { keyTargetPlugin } from './targets';
import type { SecretStore, SecretValue } from './types';

/** Where a key stands: its newest version and the oldest it still decrypts. */
export interface KeyState {
  latest: number;
  minDecryption: number;
}

/** An encryption key kept by a service that never hands it out: it rotates, rewraps and decrypts on request. */
export interface KeyTarget {
  /** `transit/keys/orders`: where the key is, for messages. */
  readonly describe: string;
  state(): Promise<KeyState>;
  /** Adds a new version and makes it the one new ciphertexts use. */
  rotate(): Promise<void>;
  /** The key version a stored field's value was encrypted with, or null when the value is not a ciphertext of this kind. */
  versionOf(value: string): number | null;
  /** The same plaintexts encrypted with `version`, in order; the plaintext never leaves the key service. */
  rewrap(ciphertexts: string[], version: number): Promise<string[]>;
  /** Throws VERIFY_FAILED naming the index of the first ciphertext the key refuses to decrypt. The plaintexts are dropped. */
  decryptable(ciphertexts: string[]): Promise<void>;
  /** Sets the oldest version the key decrypts (raised after a rotation; lowered again to undo that). */
  setMinDecryption(version: number): Promise<void>;
  close(): Promise<void>;
}

/** What a key plugin exports (the `encryption_key:` block of a secret whose store holds ciphertexts). */
export interface KeyTargetPlugin<C extends { type: string }> extends DeclaresSecrets {
  readonly schema: z.ZodType<C, unknown>;
  /** Checks beyond the schema that need the config's providers (the service the key lives in). */
  check?(config: C, providers: Readonly<Record<string, { type: string }>>): ConfigIssue[];
  /** `rotator plan`: whether the key can be read, rotated and reconfigured with the provider's credential. */
  preflight?(config: C, providers: Readonly<Record<string, unknown>>): Promise<PreflightCheck[]>;
  create(config: C, providers: Readonly<Record<string, unknown>>): Promise<KeyTarget>;
}
export type AnyKeyTargetPlugin = KeyTargetPlugin<{ type: string }>;

/** How many ciphertexts a path holds and how many of them are on versions older than `version`. */
export interface PathCount {
  path: string;
  total: number;
  old: number;
}

export interface RewrapResult extends PathCount {
  /** Fields rewrapped by this run (0 when a run before it got there: the store already held them on `version`). */
  rewrapped: number;
}

/** How often a rewrap retries when the store's current value moved under it (another writer). */
const CAS_ATTEMPTS = 5;

/** The fields of a stored value that hold a ciphertext of this key, and the version of each. */
function ciphertextsOf(key: KeyTarget, value: SecretValue): Array<{ field: string; text: string; version: number }> {
  return Object.entries(value).flatMap(([field, v]) => {
    const version = typeof v === 'string' ? key.versionOf(v) : null;
    return version === null ? [] : [{ field, text: v as string, version }];
  });
}

export interface KeyActivityDeps {
  /** The worker's provider blocks: a key plugin reaches the service it lives in through one of them. */
  providers: Config['providers'];
  stores: ProviderRegistry;
  secrets: ReadonlyArray<string>;
}

export function createKeyActivities(deps: KeyActivityDeps) {
  const opened = new Map<string, Promise<KeyTarget>>();
  const open = (plan: KeyPlan): Promise<KeyTarget> => {
    const cacheKey = JSON.stringify(plan.key);
    let key = opened.get(cacheKey);
    if (!key) {
      key = keyTargetPlugin(plan.key).create(plan.key as never, deps.providers);
      key.catch(() => opened.delete(cacheKey));
      opened.set(cacheKey, key);
    }
    return key;
  };

  async function count(key: KeyTarget, store: SecretStore, path: string, version: number): Promise<PathCount> {
    const current = await store.readCurrent(path);
    if (!current) throw new RotatorError('NOT_FOUND', `no value at ${path} in the store`, 'rewrap.paths');
    const all = ciphertextsOf(key, current.value);
    return { path, total: all.length, old: all.filter((c) => c.version < version).length };
  }

  const activities = {
    /** The key's versions before the rotation: a regular activity, so a re-run compares with what it saw first. */
    async keyState(plan: KeyPlan): Promise<KeyState> {
      return (await open(plan)).state();
    },

    /**
     * Gives the key a new version unless it has one newer than `from` already (this rotation's, made by a run that
     * died before reporting it, or someone else's: either way a newer version is there to rewrap onto).
     */
    async keyRotate(plan: KeyPlan, from: number): Promise<KeyState> {
      const key = await open(plan);
      const before = await key.state();
      if (before.latest > from) return before;
      await key.rotate();
      return key.state();
    },

    /**
     * Rewraps every ciphertext at `path` older than `version` onto it, through the store's own write (stage under
     * `claim`, promote on the version read, discard): only those fields change, a concurrent writer makes it read
     * again. Run again, it finds them on `version` and writes nothing.
     */
    async keyRewrap(plan: KeyPlan, path: string, version: number, claim: string): Promise<RewrapResult> {
      const key = await open(plan);
      const store = await deps.stores.store(plan.store);
      for (let attempt = 1; ; attempt++) {
        const current = await store.readCurrent(path);
        if (!current) throw new RotatorError('NOT_FOUND', `no value at ${path} in the store`, 'rewrap.paths');
        const all = ciphertextsOf(key, current.value);
        const old = all.filter((c) => c.version < version);
        if (old.length === 0) {
          await store.discardPending(path, claim);
          return { path, total: all.length, old: 0, rewrapped: 0 };
        }
        const fresh = await key.rewrap(
          old.map((c) => c.text),
          version,
        );
        const next: SecretValue = { ...current.value };
        old.forEach((c, i) => (next[c.field] = fresh[i]));
        const staged = await store.readPending(path, claim);
        if (staged && staged.baseVersion !== current.version) await store.discardPending(path, claim);
        try {
          await store.stagePending(path, claim, next, current.version);
          await store.promote(path, claim, current.version);
        } catch (err) {
          // Another writer moved the value: start over from what it wrote.
          if (!(err instanceof RotatorError && err.code === 'CONFLICT') || attempt >= CAS_ATTEMPTS) throw err;
          await store.discardPending(path, claim);
          continue;
        }
        await store.discardPending(path, claim);
        return { path, total: all.length, old: 0, rewrapped: old.length };
      }
    },

    /** Ciphertexts per path and how many are older than `version` (`plan` and the raise read this). */
    async keyCount(plan: KeyPlan, version: number): Promise<PathCount[]> {
      const key = await open(plan);
      const store = await deps.stores.store(plan.store);
      return Promise.all(plan.paths.map((p) => count(key, store, p, version)));
    },

    /**
     * Decrypts up to `plan.sample` ciphertexts of every path (the first ones, by field name) and requires them on
     * `version` or newer: VERIFY_FAILED otherwise. The plaintexts never leave the key service's answer.
     */
    async keyVerify(plan: KeyPlan, version: number): Promise<{ decrypted: number }> {
      const key = await open(plan);
      const store = await deps.stores.store(plan.store);
      let decrypted = 0;
      for (const path of plan.paths) {
        const current = await store.readCurrent(path);
        if (!current) throw new RotatorError('NOT_FOUND', `no value at ${path} in the store`, 'rewrap.paths');
        const sample = ciphertextsOf(key, current.value)
          .sort((a, b) => (a.field < b.field ? -1 : 1))
          .slice(0, plan.sample);
        const behind = sample.find((c) => c.version < version);
        if (behind)
          throw new RotatorError(
            'VERIFY_FAILED',
            `field ${behind.field} at ${path} is on version ${behind.version}, older than ${version}`,
            'verify',
          );
        try {
          await key.decryptable(sample.map((c) => c.text));
        } catch (err) {
          const i = Number((err as { index?: number }).index);
          const field = Number.isInteger(i) ? sample[i]?.field : undefined;
          throw new RotatorError(
            'VERIFY_FAILED',
            `${field ? `field ${field} at ${path}` : path} does not decrypt with ${key.describe}: ${(err as Error).message}`,
            'verify',
          );
        }
        decrypted += sample.length;
      }
      return { decrypted };
    },

    /**
     * Raises the key's oldest decryptable version to `version`, only if every configured path holds none older
     * (counted now, at the raise): CONFLICT naming the paths otherwise, and nothing changes. Never lowers it.
     */
    async keyRaise(plan: KeyPlan, version: number): Promise<KeyState> {
      const key = await open(plan);
      const store = await deps.stores.store(plan.store);
      const counts = await Promise.all(plan.paths.map((p) => count(key, store, p, version)));
      const behind = counts.filter((c) => c.old > 0);
      if (behind.length > 0)
        throw new RotatorError(
          'CONFLICT',
          `${behind.reduce((n, c) => n + c.old, 0)} ciphertexts are still on versions older than ${version} (${behind
            .map((c) => `${c.path}: ${c.old}`)
            .join(', ')}); min_decryption_version stays where it is`,
          'raise',
        );
      const state = await key.state();
      if (state.minDecryption < version) await key.setMinDecryption(version);
      return key.state();
    },

    /** The undo of a raise: the key decrypts `version` again (already so counts as success). */
    async keyLower(plan: KeyPlan, version: number): Promise<void> {
      const key = await open(plan);
      const state = await key.state();
      if (state.minDecryption > version) await key.setMinDecryption(version);
    },
  };

  return {
    activities: guardedAll(activities, deps.secrets),
    async close() {
      const keys = await Promise.allSettled(opened.values());
      opened.clear();
      await Promise.all(keys.flatMap((k) => (k.status === 'fulfilled' ? [k.value.close()] : [])));
    },
  };
}

export type KeyActivities = ReturnType<typeof createKeyActivities>['activities'];
