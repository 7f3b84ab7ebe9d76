// keepLease: one long-running keeper per dynamic secret. It issues a leased credential, publishes it, renews the lease
// before it runs out, and before max_ttl ends issues the next one: publish, notify, verify, grace, revoke the old.
// It continues-as-new with its state, so its history stays small however long it keeps a lease.
import { continueAsNew, proxyActivities, proxyLocalActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { KeeperActivities } from '../activities/keeper';
import type { LeaseConfig } from '../src/config/lifecycle';
import { keeperStatusQuery, type KeepLeaseInput, type KeeperState, type KeptLease } from './lifecycle-definitions';
import { describeFailure } from './lib/failures';
import { COMPENSATE, IRREVERSIBLE, SHORT_IO, VERIFY_LOGIN } from './lib/policies';
import { Saga } from './lib/saga';

const io = proxyLocalActivities<KeeperActivities>(SHORT_IO);
const verifier = proxyLocalActivities<KeeperActivities>(VERIFY_LOGIN);
/** Issuing is a regular activity: its result is in history before anything else runs, so a replay never issues again. */
const issuer = proxyActivities<KeeperActivities>(IRREVERSIBLE);
const undo = proxyActivities<KeeperActivities>(COMPENSATE);
const releaser = proxyActivities<KeeperActivities>(IRREVERSIBLE);

/** Past this many events the keeper starts over as a new run with its state: Temporal suggests 10k at most. */
const HISTORY_LIMIT = 2_000;
/** However short the lease, keep at least this long between the issue of a credential and the end of the old one. */
const MIN_LEAD_MS = 2_000;

export async function keepLease({ secret, state: carried }: KeepLeaseInput): Promise<KeeperState> {
  const state: KeeperState = carried ?? {
    secret,
    generation: 0,
    current: null,
    irrevocable: [],
    revoked: 0,
    phase: 'issuing',
    nextActionAt: null,
    lastError: null,
  };
  setHandler(keeperStatusQuery, () => state);
  // The claim ids of this keeper's credentials: stable across continue-as-new (the chain's first run id).
  const chain = workflowInfo().firstExecutionRunId;
  const claimOf = (generation: number) => `${chain}:${generation}`;

  let setup = await io.keeperSetup(secret);
  while (setup.configured) {
    if (!state.current) {
      await replace(setup.lease, await io.publishedLease(secret));
    } else {
      const lease = state.current;
      const reissue = reissueAt(lease, setup.lease);
      const renewable = setup.lease.renewal_enabled && !lease.capped && renewAt(lease, setup.lease) < reissue;
      await until(renewable ? renewAt(lease, setup.lease) : reissue, renewable ? 'renewing' : 'waiting');
      if (renewable) await renew(lease, setup.lease);
      else await replace(setup.lease, { leaseId: lease.leaseId, username: lease.username, version: lease.version });
    }
    if (workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof keepLease>({ secret, state });
    }
    setup = await io.keeperSetup(secret);
  }
  state.phase = 'stopped';
  state.nextActionAt = null;
  return state;

  async function until(at: number, phase: KeeperState['phase']): Promise<void> {
    state.phase = phase;
    state.nextActionAt = at;
    if (at > Date.now()) await sleep(at - Date.now());
  }

  async function renew(lease: KeptLease, config: LeaseConfig): Promise<void> {
    try {
      const renewed = await io.renewLease(secret, { leaseId: lease.leaseId, incrementSec: config.increment_seconds });
      lease.expiresAt = Date.now() + renewed.leaseDurationSec * 1000;
      lease.lastDurationMs = renewed.leaseDurationSec * 1000;
      lease.capped = renewed.capped;
      lease.renewals += 1;
      state.renewed = (state.renewed ?? 0) + 1;
      state.lastError = null;
    } catch (err) {
      const failure = describeFailure(err);
      state.lastError = `renewing ${lease.leaseId}: ${failure.message}`;
      // Gone already (expired or revoked by someone): nothing to renew; a new credential is all that helps.
      if (failure.code === 'NOT_FOUND') {
        state.lost = (state.lost ?? 0) + 1;
        lease.capped = true;
        lease.expiresAt = Date.now();
      } else {
        // An outage: try again by the same rule, now counted on what is left of the lease.
        lease.lastDurationMs = Math.max(1000, lease.expiresAt - Date.now());
      }
    }
  }

  /**
   * Issues and publishes the next credential, then withdraws `old` (the lease the store published until now) after
   * the grace period. Until the new one is verified, a failure puts everything back: the old one stays published.
   */
  async function replace(config: LeaseConfig, old: { leaseId: string; username: string; version: string } | null) {
    const generation = state.generation + 1;
    const claimId = claimOf(generation);
    const saga = new Saga();
    state.phase = state.current ? 'reissuing' : 'issuing';
    state.nextActionAt = null;
    try {
      saga.onFailure('store', 'discard the pending credential', () => undo.releaseClaim(secret, { claimId }));
      const issued = await issuer.issueCredential(secret, { claimId, baseVersion: old?.version ?? null });
      saga.onFailure('target', `revoke the new lease ${issued.leaseId}`, () =>
        undo.revokeLease(secret, { leaseId: issued.leaseId }),
      );
      await verifier.verifyIssued(secret, { claimId });
      saga.onFailure('store', `make version ${old?.version ?? '(none)'} current again`, () =>
        undo.withdrawCredential(secret, { claimId, toVersion: old?.version ?? null }),
      );
      const published = await io.publishCredential(secret, { claimId, expectedVersion: issued.baseVersion });
      await io.notifyLeaseConsumers(secret, { version: published.version, username: issued.username });
      saga.commit();
      const now = Date.now();
      state.generation = generation;
      state.current = {
        leaseId: issued.leaseId,
        username: issued.username,
        version: published.version,
        issuedAt: now,
        expiresAt: now + issued.leaseDurationSec * 1000,
        lastDurationMs: issued.leaseDurationSec * 1000,
        initialDurationMs: issued.leaseDurationSec * 1000,
        hardEndAt: issued.hardEndAt,
        capped: !issued.renewable,
        renewals: 0,
      };
      state.lastError = null;
    } catch (err) {
      state.lastError = `issuing a new credential: ${describeFailure(err).message}`;
      const { failures } = await saga.compensate({ secret });
      if (failures > 0) state.lastError += ' (and putting things back failed: see the worker log)';
      // The old credential is still what the store serves: wait a little, then the loop tries again.
      await sleep(Math.max(MIN_LEAD_MS, config.min_renewal_seconds * 1000));
      return;
    }
    if (old && old.leaseId !== state.current!.leaseId) {
      state.phase = 'grace';
      if (config.grace_period > 0) await sleep(config.grace_period);
      await revokeOld(old.leaseId, config.revoke_attempts);
    }
    await releaser.releaseClaim(secret, { claimId });
  }

  async function revokeOld(leaseId: string, attempts: number): Promise<void> {
    state.phase = 'revoking';
    const revoker = proxyActivities<KeeperActivities>({
      ...IRREVERSIBLE,
      retry: { ...IRREVERSIBLE.retry, maximumAttempts: attempts },
    });
    try {
      await revoker.revokeLease(secret, { leaseId });
      state.revoked += 1;
    } catch (err) {
      // Retrying forever would only hide it: the engine keeps the lease until it expires or a person revokes it.
      state.irrevocable.push({ leaseId, error: describeFailure(err).message });
    }
  }
}

/** When to renew: once `renew_at` of the last granted duration has passed, but not sooner than min_renewal_seconds. */
function renewAt(lease: KeptLease, config: LeaseConfig): number {
  const grantedAt = lease.expiresAt - lease.lastDurationMs;
  const at = grantedAt + config.renew_at * lease.lastDurationMs;
  return Math.min(Math.max(at, grantedAt + config.min_renewal_seconds * 1000), lease.expiresAt - MIN_LEAD_MS / 2);
}

/**
 * When to issue the next credential of a lease that cannot be renewed further: early enough that the grace period
 * and the issue itself end before the lease does.
 */
function reissueAt(lease: KeptLease, config: LeaseConfig): number {
  const lead = Math.max(MIN_LEAD_MS, (1 - config.renew_at) * lease.initialDurationMs);
  // Renewals carry the lease to its hard end; without them, or once one was capped, it ends at expiresAt.
  const end = lease.capped || !config.renewal_enabled ? lease.expiresAt : (lease.hardEndAt ?? Infinity);
  return end - config.grace_period - lead;
}
