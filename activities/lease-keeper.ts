// The lease keeper's activities: issue a leased credential into a store's pending slot, publish, verify, renew,
// revoke. Each is idempotent per claim id (`<keeper run>:<generation>`), so a keeper re-run after a worker death
// finds the credential it issued the first time instead of issuing another.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config/schema';
import { DYNAMIC_PATH, readerLeased } from '../src/config/schema';
import { LeaseSchema, type LeaseConfig } from '../src/config/lifecycle';
import { RotatorError } from '../src/kernel/errors';
import { KeeperStartPacer, startKeeper } from '../src/client/lease-keepers';
import type { LeaseEngine, RenewResult } from './leases/types';
import { guardedAll } from './guarded';
import { targetPlugin } from './targets';
import type { ConsumerRegistry, ProviderRegistry } from './registry';
import { replaceOwnedFields } from './stored-value';
import type { PromoteResult, SecretStore, SecretValue } from './types';

export interface KeeperDeps {
  config: Config;
  providers: ProviderRegistry;
  consumers: ConsumerRegistry;
  /** The engine behind a vault provider, made once per provider. */
  engine(provider: string): Promise<LeaseEngine>;
  client?: Client;
  taskQueue?: string;
  secrets?: ReadonlyArray<string>;
}

export interface KeeperSetup {
  lease: LeaseConfig;
  /** False when the config no longer has this dynamic secret: the keeper stops. */
  configured: boolean;
}

/** A credential as the keeper tracks it: references only, the password stays in the store. */
export interface IssuedRef {
  leaseId: string;
  username: string;
  leaseDurationSec: number;
  renewable: boolean;
  /** When it was issued and when its lease ends unless renewed (epoch ms, the worker's clock at issue). */
  issuedAt: number;
  expiresAt: number;
  /** The lease cannot outlive this (epoch ms): issue time + the role's max_ttl, when the engine says. */
  hardEndAt: number | null;
  /** The store version current when it was staged: what publish replaces. */
  baseVersion: string | null;
}

/** The field of a published value that names its lease, so the keeper can tell which lease the store serves. */
export const LEASE_FIELD = 'lease_id';

/** A keeper's claim id: `<first run id of its chain>:<generation>`; a rotation's claim is a bare run id. */
const KEEPER_CLAIM = /^[0-9a-f-]{36}:\d+$/;

interface Dynamic {
  name: string;
  mount: string;
  role: string;
  engineProvider: string;
  publish: { provider: string; path: string };
  lease: LeaseConfig;
  consumers: Config['secrets'][string]['consumers'];
}

export function createKeeperActivities(deps: KeeperDeps) {
  const { config, providers } = deps;
  // One per worker: its sweeps' keeper starts are spaced like a `rotator schedule sync` run's (not counting them).
  const pacer = new KeeperStartPacer(config);

  function dynamic(secret: string): Dynamic {
    const entry = config.secrets[secret];
    const m = entry?.type === 'dynamic' ? DYNAMIC_PATH.exec(entry.path) : null;
    if (!entry || !m || !entry.publish)
      throw new RotatorError('NOT_FOUND', `the worker's config has no dynamic secret ${JSON.stringify(secret)}`, 'secret');
    return {
      name: secret,
      mount: m[1]!,
      role: m[2]!,
      engineProvider: entry.provider,
      publish: entry.publish,
      lease: entry.lease ?? LeaseSchema.parse({}),
      consumers: entry.consumers,
    };
  }

  const storeOf = (d: Dynamic): Promise<SecretStore> => providers.store(d.publish.provider);

  async function pendingRef(d: Dynamic, claimId: string): Promise<IssuedRef | null> {
    const pending = await (await storeOf(d)).readPending(d.publish.path, claimId);
    if (!pending) return null;
    const { value, baseVersion } = pending;
    return {
      leaseId: String(value[LEASE_FIELD] ?? ''),
      username: String(value.username ?? ''),
      leaseDurationSec: Number(value.lease_duration ?? 0),
      renewable: value.renewable === 'true',
      issuedAt: Number(value.issued_at ?? 0),
      expiresAt: Number(value.expires_at ?? 0),
      hardEndAt: value.hard_end_at ? Number(value.hard_end_at) : null,
      baseVersion,
    };
  }

  async function verifyWith(d: Dynamic, value: SecretValue): Promise<void> {
    const verify = d.lease.verify;
    if (!verify) return;
    const credential = { username: String(value.username), password: String(value.password) };
    // The target plugin logs in where the published value names (else the verify block's endpoint): no admin login.
    const plugin = targetPlugin(verify);
    if (!plugin.verifyLease)
      throw new RotatorError('CONFIG_INVALID', `target ${verify.type} cannot verify a lease`, 'lease.verify.type');
    await plugin.verifyLease(verify, credential, verify.query ?? plugin.defaultVerify, value);
  }

  /**
   * A claim left in the pending slot by an earlier keeper of this secret (one that was terminated or failed) would
   * block every issue: its lease goes back to the engine (unless the store publishes it) and the slot is freed. A
   * rotation's claim is not ours to take: CONFLICT, before anything is issued.
   */
  async function takeOverStaleClaim(d: Dynamic, claimId: string, engine: LeaseEngine): Promise<void> {
    const s = await storeOf(d);
    const holder = await s.otherPending(d.publish.path, claimId);
    if (!holder) return;
    if (!KEEPER_CLAIM.test(holder))
      throw new RotatorError('CONFLICT', `${d.publish.path} is held by rotation ${holder}; a keeper does not take it over`);
    const leftover = (await s.readPending(d.publish.path, holder))?.value[LEASE_FIELD];
    const published = (await s.readCurrent(d.publish.path))?.value[LEASE_FIELD];
    if (leftover && leftover !== published) await engine.revoke(String(leftover));
    await s.discardPending(d.publish.path, holder);
  }

  /**
   * Issues a credential and stages it as this claim's pending value. Run again for the same claim, it returns the
   * one staged the first time. (A worker death between the engine's answer and the stage leaves one lease nobody
   * holds; it dies at its own TTL.)
   */
  async function issue(secret: string, input: { claimId: string; baseVersion: string | null }): Promise<IssuedRef> {
    const d = dynamic(secret);
    const found = await pendingRef(d, input.claimId);
    if (found) return found;
    const engine = await deps.engine(d.engineProvider);
    await takeOverStaleClaim(d, input.claimId, engine);
    const maxTtl = await engine.roleMaxTtl(d.mount, d.role);
    const issuedAt = Date.now();
    const issued = await engine.issue(d.mount, d.role);
    const hardEndAt = maxTtl ? issuedAt + maxTtl * 1000 : null;
    const expiresAt = issuedAt + issued.leaseDurationSec * 1000;
    const verify = d.lease.verify;
    // The fields a keeper owns: the credential and its lease. hard_end_at goes when the new lease has none.
    const owned = {
      username: issued.username,
      password: issued.password,
      [LEASE_FIELD]: issued.leaseId,
      lease_duration: issued.leaseDurationSec,
      renewable: String(issued.renewable),
      issued_at: issuedAt,
      expires_at: expiresAt,
      hard_end_at: hardEndAt ?? undefined,
    };
    let value: SecretValue;
    try {
      // As a rotation does: the published value copied, only the owned fields replaced; built from config when none.
      const s = await storeOf(d);
      const base = input.baseVersion === null ? null : await s.readVersion(d.publish.path, input.baseVersion);
      value = base
        ? replaceOwnedFields(base, owned)
        : {
            ...replaceOwnedFields({}, owned),
            ...(verify ? { engine: verify.type, host: verify.host, port: verify.port } : {}),
            ...(verify?.database ? { dbname: verify.database } : {}),
          };
      await s.stagePending(d.publish.path, input.claimId, value, input.baseVersion);
    } catch (err) {
      // Nobody will ever hold this one: give it back now rather than at its TTL.
      await engine.revoke(issued.leaseId).catch(() => undefined);
      throw err;
    }
    // An earlier attempt of this same claim, slow rather than dead, may have staged its credential first: that one
    // is what the claim holds, so it is what this returns, and ours goes back to the engine.
    const staged = await pendingRef(d, input.claimId);
    if (staged && staged.leaseId !== issued.leaseId) {
      await engine.revoke(issued.leaseId).catch(() => undefined);
      return staged;
    }
    return {
      leaseId: issued.leaseId,
      username: issued.username,
      leaseDurationSec: issued.leaseDurationSec,
      renewable: issued.renewable,
      issuedAt,
      expiresAt,
      hardEndAt,
      baseVersion: input.baseVersion,
    };
  }

  const activities = {
    async keeperSetup(secret: string): Promise<KeeperSetup> {
      // A worker run for rotations only (no secrets:) must not tell a keeper its secret is gone: another worker can.
      if (Object.keys(config.secrets).length === 0)
        throw new RotatorError('TRANSIENT', "this worker's config has no secrets: it cannot keep leases");
      const entry = config.secrets[secret];
      // Without publish: its readers lease it themselves: a keeper of it (the config changed) stops.
      if (entry?.type !== 'dynamic' || readerLeased(entry)) return { lease: LeaseSchema.parse({}), configured: false };
      return { lease: dynamic(secret).lease, configured: true };
    },

    /**
     * What the store publishes now: its version (what the next publish replaces) and the lease it names, if any (a
     * value written by hand or by a static rotation names none).
     */
    async publishedLease(secret: string): Promise<{ leaseId: string | null; version: string } | null> {
      const d = dynamic(secret);
      const current = await (await storeOf(d)).readCurrent(d.publish.path);
      if (!current) return null;
      const leaseId = current.value[LEASE_FIELD];
      return { leaseId: leaseId ? String(leaseId) : null, version: current.version };
    },

    /** `issue`, heartbeating while it works: a worker that dies in it is noticed in seconds. */
    async issueCredential(secret: string, input: { claimId: string; baseVersion: string | null }): Promise<IssuedRef> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 2_000);
      try {
        return await issue(secret, input);
      } finally {
        clearInterval(beat);
      }
    },

    async verifyIssued(secret: string, input: { claimId: string }): Promise<void> {
      const d = dynamic(secret);
      const pending = await (await storeOf(d)).readPending(d.publish.path, input.claimId);
      if (!pending) throw new RotatorError('NOT_FOUND', `no pending credential of claim ${input.claimId} at ${d.publish.path}`);
      await verifyWith(d, pending.value);
    },

    async publishCredential(secret: string, input: { claimId: string; expectedVersion: string | null }): Promise<PromoteResult> {
      const d = dynamic(secret);
      return (await storeOf(d)).promote(d.publish.path, input.claimId, input.expectedVersion);
    },

    /** Undo of publish: the previous version is current again, if this claim's promote went through at all. */
    async withdrawCredential(secret: string, input: { claimId: string; toVersion: string | null }): Promise<void> {
      const d = dynamic(secret);
      const s = await storeOf(d);
      const published = await s.publishedBy(d.publish.path, input.claimId);
      if (!published) return;
      await s.rollback(d.publish.path, input.claimId, { toVersion: input.toVersion, fromVersion: published.version });
    },

    /** Ends the claim: the pending value goes. */
    async releaseClaim(secret: string, input: { claimId: string }): Promise<void> {
      const d = dynamic(secret);
      await (await storeOf(d)).discardPending(d.publish.path, input.claimId);
    },

    async notifyLeaseConsumers(secret: string, input: { version: string; username: string }): Promise<void> {
      const d = dynamic(secret);
      for (const c of d.consumers) await (await deps.consumers.consumer(c)).notify({ secret, ...input });
    },

    /** Renews a lease. `old`: a replaced lease renewed for its grace period (not the current one metrics follow). */
    async renewLease(secret: string, input: { leaseId: string; incrementSec: number; old?: boolean }): Promise<RenewResult> {
      const d = dynamic(secret);
      return (await deps.engine(d.engineProvider)).renew(input.leaseId, input.incrementSec);
    },

    /** Revokes a lease, never the one the store publishes as current (consumers would lose their credential). */
    async revokeLease(secret: string, input: { leaseId: string }): Promise<void> {
      const d = dynamic(secret);
      const current = await activities.publishedLease(secret);
      if (current?.leaseId === input.leaseId) {
        throw new RotatorError('CONFLICT', `not revoking lease ${input.leaseId}: the store publishes it as current`);
      }
      await (await deps.engine(d.engineProvider)).revoke(input.leaseId);
    },

    /** Starts the keeper of `secret` unless it runs (the sweep calls this for a keeper that is missing), paced. */
    async ensureKeeper(secret: string): Promise<boolean> {
      dynamic(secret);
      if (!deps.client || !deps.taskQueue) throw new RotatorError('UNSUPPORTED', 'this worker cannot start workflows');
      return (await startKeeper(deps.client, deps.taskQueue, secret, pacer)) !== null;
    },
  };

  const secrets = deps.secrets ?? [];
  return guardedAll(activities, secrets);
}

export type KeeperActivities = ReturnType<typeof createKeeperActivities>;
export type KeeperControlActivities = Pick<KeeperActivities, 'ensureKeeper'>;
