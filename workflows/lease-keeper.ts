// keepLease: one long-running keeper per dynamic secret. It issues a leased credential, verifies and publishes it,
// renews the lease before it runs out, and before it can go no further issues the next one; the old lease is revoked
// when its grace period ends, while the loop goes on renewing the new one. It continues-as-new with its state, so its
// history stays small however long it keeps a lease, and no store or engine outage ends it: it waits and tries again.
import {
  continueAsNew,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { KeeperActivities } from '../activities/lease-keeper';
import type { LeaseConfig } from '../src/config/lifecycle';
import { NON_RETRYABLE_CODES } from '../src/kernel/errors';
import {
  IRREVOCABLE_LISTED,
  initialKeeperState,
  keeperStatusQuery,
  type KeepLeaseInput,
  type KeeperState,
  type KeptLease,
} from './lifecycle-definitions';
import { describeFailure } from './lib/failures';
import { COMPENSATE, IRREVERSIBLE, ISSUE, SHORT_IO, VERIFY_LOGIN } from './lib/policies';
import { Saga } from './lib/saga';
import { patchedOnce } from './lib/patches';

const io = proxyLocalActivities<KeeperActivities>(SHORT_IO);
const verifier = proxyLocalActivities<KeeperActivities>(VERIFY_LOGIN);
/** Issuing is a regular activity: its result is in history before anything else runs, so a replay never issues again. */
const issuer = proxyActivities<KeeperActivities>(ISSUE);
const undo = proxyActivities<KeeperActivities>(COMPENSATE);
const releaser = proxyActivities<KeeperActivities>(IRREVERSIBLE);

/** Past this many events the keeper starts over as a new run with its state: Temporal suggests 10k at most. */
const HISTORY_LIMIT = 2_000;
/**
 * The same with short-keeper-history: a keeper evicted from a worker's bounded cache replays its whole run when it
 * next wakes, so a run is kept to about 25 renewals (7 events each).
 */
const SHORT_HISTORY_LIMIT = 200;
/**
 * With run-per-cycle: every step (a renewal, a re-issue, a revoke) ends the run, so a keeper that wakes outside the
 * worker's cache replays a dozen events, not up to 200 (that replay was most of a renewal's CPU: 40 ms at 1,000 leases).
 */
const CYCLE_HISTORY_LIMIT = 0;
/** Renewal lateness samples a keeper keeps in its state (newest last), for `rotator status` and the bench. */
const LATENESS_KEPT = 8;
/**
 * Keepers issued together (a worker's start, a mass issue) must drift apart instead of waking together every cycle: a
 * renewal comes up to this fraction of the lease's lead after renew_at (never before it), a re-issue up to this
 * fraction of its lead earlier, by a fraction fixed per lease and step. Both keep the old lease alive longer, not less.
 */
const JITTER = 0.1;
/** However short the lease, keep at least this long between the issue of a credential and the end of the old one. */
const MIN_LEAD_MS = 2_000;
/**
 * With paced-reissue, a credential whose lease is too short for the grace period and the lead is current this long at
 * least before the keeper replaces it (see pacedReissue).
 */
const MIN_SERVE_MS = 2_000;
/** An old lease renewed for its grace period lives this much past its revoke, so the revoke ends it, not its TTL. */
const GRACE_MARGIN_SEC = 5;
/** Waits after a failed step before the next try: from the first to the last, doubling. */
const BACKOFF = { firstMs: 5_000, lastMs: 60_000 };

export async function keepLease({ secret, state: carried, patches: carriedPatches }: KeepLeaseInput): Promise<KeeperState> {
  const state: KeeperState = { ...initialKeeperState(secret, 'issuing'), ...carried };
  setHandler(keeperStatusQuery, () => state);
  // Each id asked before the first command of every run, so its marker sits in the same place of every history:
  // asked later (after a local activity) a replay can reach it in another workflow task. With patch-once the ids a run
  // took are carried to the next run, which takes them without asking: no marker and no search-attribute upsert (8 of
  // a renewal run's 20 events). A first run, and one continued from a keeper before patch-once, asks them all.
  const patchOnce = patchedOnce('patch-once', carriedPatches);
  // Keepers started before renewals were bound by renew_at let min_renewal_seconds push them to the lease's last second.
  const byRenewAt = patchedOnce('renew-by-renew-at', carriedPatches);
  // The run continues as new after 200 events instead of 2,000, and its steps are jittered (a keeper recorded before
  // it waits for the unjittered times, and its replay must find the same commands).
  const shortRuns = patchedOnce('short-keeper-history', carriedPatches);
  // A re-issue renews the old lease through its grace period (before it, an old lease whose TTL ran out before the
  // grace period did died early, under consumers told they had the whole grace period).
  const renewsForGrace = patchedOnce('grace-renewal', carriedPatches);
  // Each step is a run of its own (was: a run lasted up to 200 events).
  const perCycle = patchedOnce('run-per-cycle', carriedPatches);
  // A lease too short for the grace period and the lead is replaced once it has served a while, not at once (was: the
  // keeper issued credentials back to back, a few a second, until the engine refused).
  const paced = patchedOnce('paced-reissue', carriedPatches);
  const historyLimit = perCycle ? CYCLE_HISTORY_LIMIT : shortRuns ? SHORT_HISTORY_LIMIT : HISTORY_LIMIT;
  const took = (
    [
      ['patch-once', patchOnce],
      ['renew-by-renew-at', byRenewAt],
      ['short-keeper-history', shortRuns],
      ['grace-renewal', renewsForGrace],
      ['run-per-cycle', perCycle],
      ['paced-reissue', paced],
    ] as const
  ).flatMap(([id, taken]) => (taken ? [id] : []));
  // The claim ids of this keeper's credentials: stable across continue-as-new (the chain's first run id).
  const chain = workflowInfo().firstExecutionRunId;
  const claimOf = (generation: number) => `${chain}:${generation}`;

  for (;;) {
    const setup = await steadily('reading the config', () => io.keeperSetup(secret));
    if (!setup.configured) break;
    const config = setup.lease;
    const lease = state.current;
    const next = lease ? nextStep(lease, config, byRenewAt, shortRuns, paced) : { at: Date.now(), kind: 'replace' as const };
    if (paced) state.warning = lease ? shortLeaseWarning(lease, config) : null;
    const revoke = state.revokeQueue[0];
    if (revoke && revoke.at <= next.at) {
      await until(revoke.at, 'grace');
      await revokeOld(revoke.leaseId, config.revoke_attempts);
      state.revokeQueue.shift();
    } else {
      await until(next.at, next.kind === 'renew' ? 'renewing' : 'waiting');
      if (next.kind === 'renew') await renew(lease!, config, next.at);
      else await replace(config);
    }
    if (workflowInfo().historyLength > historyLimit || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof keepLease>({ secret, state, ...(patchOnce ? { patches: took } : {}) });
    }
  }
  // Taken out of the config: what it published stays until its lease ends, for consumers still reading it.
  state.phase = 'stopped';
  state.nextActionAt = null;
  if (paced) state.warning = null;
  if (state.current)
    state.lastError = `stopped: the config no longer has ${secret}; lease ${state.current.leaseId} is left to end at ${new Date(state.current.expiresAt).toISOString()}`;
  return state;

  async function until(at: number, phase: KeeperState['phase']): Promise<void> {
    state.phase = phase;
    state.nextActionAt = at;
    if (at > Date.now()) await sleep(at - Date.now());
  }

  /** Runs a step until it succeeds, waiting longer after each failure: an outage must not end the keeper. */
  async function steadily<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let wait = BACKOFF.firstMs; ; wait = Math.min(wait * 2, BACKOFF.lastMs)) {
      try {
        return await step();
      } catch (err) {
        if (isCancellation(err)) throw err;
        state.lastError = `${what}: ${describeFailure(err).message}`;
        await sleep(wait);
      }
    }
  }

  async function renew(lease: KeptLease, config: LeaseConfig, due: number): Promise<void> {
    // How late the renewal started, on the workflow's clock alone (its task's time against the time it was due): a
    // worker's clock is never compared with it.
    const lateMs = Math.max(0, Date.now() - due);
    try {
      const renewed = await io.renewLease(secret, { leaseId: lease.leaseId, incrementSec: config.increment_seconds });
      state.renewLateMs = [...(state.renewLateMs ?? []), lateMs].slice(-LATENESS_KEPT);
      lease.expiresAt = Date.now() + renewed.leaseDurationSec * 1000;
      lease.lastDurationMs = renewed.leaseDurationSec * 1000;
      lease.capped = renewed.capped;
      lease.retryRenewAt = null;
      lease.renewals += 1;
      state.renewed += 1;
      state.lastError = null;
    } catch (err) {
      const failure = describeFailure(err);
      state.lastError = `renewing ${lease.leaseId}: ${failure.message}`;
      if (failure.code === 'NOT_FOUND') {
        // Gone already (expired, or revoked by someone): only a new credential helps, at once.
        state.lost += 1;
        lease.capped = true;
        lease.expiresAt = Date.now();
      } else if ((NON_RETRYABLE_CODES as ReadonlyArray<string>).includes(failure.code)) {
        // Refused (a policy without sys/leases/renew): no renewal will work; replace it before it ends.
        lease.capped = true;
      } else {
        // An outage: try again soon, and replace the lease in time if the outage outlasts it (see reissueAt).
        lease.retryRenewAt = Date.now() + Math.min(30_000, Math.max(1_000, (lease.expiresAt - Date.now()) / 3));
      }
    }
  }

  /**
   * Issues, verifies and publishes the next credential. Whatever the store published until now (this keeper's lease,
   * or one it finds there) is queued for revoke when the grace period ends. Until the new one is published, a failure
   * puts everything back: the store goes on serving what it served.
   */
  async function replace(config: LeaseConfig): Promise<void> {
    state.phase = state.current ? 'reissuing' : 'issuing';
    state.nextActionAt = null;
    // Read now, not remembered: a rollback or another writer may have moved the store since the last publish.
    const published = await steadily('reading the store', () => io.publishedLease(secret));
    const generation = state.generation + 1;
    const claimId = claimOf(generation);
    const saga = new Saga();
    let issuedLease: string | null = null;
    let result;
    try {
      saga.onFailure('store', 'discard the pending credential', () => undo.releaseClaim(secret, { claimId }));
      const issued = await issuer.issueCredential(secret, { claimId, baseVersion: published?.version ?? null });
      issuedLease = issued.leaseId;
      saga.onFailure('target', `revoke the new lease ${issued.leaseId}`, () =>
        undo.revokeLease(secret, { leaseId: issued.leaseId }),
      );
      await verifier.verifyIssued(secret, { claimId });
      saga.onFailure('store', `make version ${published?.version ?? '(none)'} current again`, () =>
        undo.withdrawCredential(secret, { claimId, toVersion: published?.version ?? null }),
      );
      const version = (await io.publishCredential(secret, { claimId, expectedVersion: issued.baseVersion })).version;
      await io.notifyLeaseConsumers(secret, { version, username: issued.username });
      saga.commit();
      result = { issued, version };
    } catch (err) {
      if (isCancellation(err)) throw err;
      state.lastError = `issuing a new credential: ${describeFailure(err).message}`;
      const { notes } = await saga.compensate({ secret });
      if (issuedLease && notes.some((n) => n.startsWith('could not undo: revoke'))) {
        irrevocable(issuedLease, 'revoking it after a failed issue did not work');
      }
      // The store still serves what it served: wait, then the loop tries again.
      await sleep(Math.max(BACKOFF.firstMs, config.min_renewal_seconds * 1000));
      return;
    }
    const { issued, version } = result;
    const previous = state.current;
    state.generation = generation;
    state.current = {
      leaseId: issued.leaseId,
      username: issued.username,
      version,
      issuedAt: issued.issuedAt,
      expiresAt: issued.expiresAt,
      lastDurationMs: issued.leaseDurationSec * 1000,
      initialDurationMs: issued.leaseDurationSec * 1000,
      hardEndAt: issued.hardEndAt,
      capped: !issued.renewable,
      retryRenewAt: null,
      renewals: 0,
      ...(paced ? { publishedAt: Date.now() } : {}),
    };
    state.lastError = null;
    // What consumers may still hold: the lease the store published, and ours if the store had moved off it.
    const old = new Set([published?.leaseId, previous?.leaseId].filter((id): id is string => !!id && id !== issued.leaseId));
    const revokeAt = Date.now() + config.grace_period;
    for (const leaseId of old) state.revokeQueue.push({ leaseId, at: revokeAt });
    state.revokeQueue.sort((a, b) => a.at - b.at);
    // Only the lease this keeper renewed is known to it: one another writer published keeps its own TTL (a renewal
    // by the grace period alone could shorten it).
    if (renewsForGrace && previous && old.has(previous.leaseId)) await keepThroughGrace(revokeAt, previous);
    // The claim ends with the publish: nothing after it needs the pending value.
    await steadily('releasing the claim', () => releaser.releaseClaim(secret, { claimId }));
  }

  /**
   * Renews the old lease so that it lives past its revoke: its TTL (the last renewal's increment) may end sooner than
   * the grace period. One that outlives it already, or is capped, is left as it is; a failure is only noted (the
   * lease then ends at its TTL, as it did without this step).
   */
  async function keepThroughGrace(revokeAt: number, lease: KeptLease): Promise<void> {
    const needed = revokeAt - Date.now();
    if (needed <= 0 || lease.capped || lease.expiresAt >= revokeAt + GRACE_MARGIN_SEC * 1000) return;
    try {
      await io.renewLease(secret, {
        leaseId: lease.leaseId,
        incrementSec: Math.ceil(needed / 1000) + GRACE_MARGIN_SEC,
        old: true,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Gone already (expired, or revoked by someone): nothing left to keep.
      if (describeFailure(err).code === 'NOT_FOUND') return;
      state.lastError = `renewing the old lease ${lease.leaseId} for its grace period: ${describeFailure(err).message}`;
    }
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
      if (isCancellation(err)) throw err;
      // Retrying forever would only hide it: the engine keeps the lease until it expires or a person revokes it.
      irrevocable(leaseId, describeFailure(err).message);
    }
  }

  function irrevocable(leaseId: string, error: string): void {
    state.irrevocable.push({ leaseId, error });
    state.irrevocable.splice(0, Math.max(0, state.irrevocable.length - IRREVOCABLE_LISTED));
    state.irrevocableTotal += 1;
  }
}

type Step = { at: number; kind: 'renew' | 'replace' };

/** The next step for a lease, spread by its jitter (see JITTER; keepers before renew-by-renew-at had none). */
export function nextStep(lease: KeptLease, config: LeaseConfig, byRenewAt: boolean, jittered: boolean, paced: boolean): Step {
  const jitter = byRenewAt && jittered ? jitterOf(lease) : 0;
  const reissue = reissueAt(lease, config) - jitter * JITTER * leadOf(lease, config);
  const pacedAt = paced ? pacedReissue(lease, config) : null;
  // Paced only while that moment is ahead: a lease that is gone, or past it, is replaced at once.
  const replaceAt = pacedAt !== null && pacedAt > reissue && pacedAt > Date.now() ? pacedAt : reissue;
  if (config.renewal_enabled && !lease.capped) {
    const at = lease.retryRenewAt ?? (byRenewAt ? renewAt(lease, config, jitter) : renewAtBefore(lease, config));
    if (at < replaceAt) return { at, kind: 'renew' };
  }
  return { at: replaceAt, kind: 'replace' };
}

/**
 * When a lease that cannot give its grace period is replaced (paced-reissue); null for one that can, or that was
 * published before the patch. Such a lease (reissueAt comes less than MIN_SERVE_MS after its publish: the role's
 * max_ttl, or the TTL of one that cannot be renewed, is below grace_period plus the lead) was due for replacement the
 * moment it was published, and so was the next one: the keeper issued credentials back to back. It is now replaced
 * halfway from its publish to the lead before its end (so the rhythm follows the lease's life), MIN_SERVE_MS after the
 * publish at the earliest, and never later than the lead before its end, so the next credential is out before it ends.
 * A lease whose renewals are failing is not paced: its replacement comes when the outage requires.
 */
export function pacedReissue(lease: KeptLease, config: LeaseConfig): number | null {
  const published = lease.publishedAt;
  // While renewals fail, the lease is replaced in time for the end the outage leaves it (reissueAt), as before.
  if (published === undefined || lease.retryRenewAt !== null || reissueAt(lease, config) >= published + MIN_SERVE_MS) return null;
  const last = leaseEnd(lease, config) - leadOf(lease, config);
  return Math.min(Math.max(published + MIN_SERVE_MS, (published + last) / 2), last);
}

/** The status's warning for a lease that cannot give its grace period (see pacedReissue), or null. */
export function shortLeaseWarning(lease: KeptLease, config: LeaseConfig): string | null {
  const at = pacedReissue(lease, config);
  if (at === null) return null;
  const end = leaseEnd(lease, config);
  const s = (ms: number) => `${Math.max(0, Math.round(ms / 1000))}s`;
  return (
    `lease ${lease.leaseId} lives ${s(end - lease.issuedAt)}, too short for grace_period ${s(config.grace_period)} and ` +
    `the ${s(leadOf(lease, config))} lead before its end: it is replaced ${s(at - (lease.publishedAt ?? at))} after its ` +
    `publish and keeps ${s(Math.min(config.grace_period, end - at))} of grace after that; raise the role's max_ttl or ` +
    `lower lease.grace_period`
  );
}

/**
 * When to renew: once `renew_at` of the last granted duration has passed, never later (and at the latest a moment
 * before it ends). min_renewal_seconds does not delay it: a floor of 60 s on a 60 s lease renewed it in its last second,
 * where one worker death lets it expire under its consumers.
 */
function renewAt(lease: KeptLease, config: LeaseConfig, jitter: number): number {
  const grantedAt = lease.expiresAt - lease.lastDurationMs;
  const spread = jitter * JITTER * (1 - config.renew_at) * lease.lastDurationMs;
  return Math.min(grantedAt + config.renew_at * lease.lastDurationMs + spread, lease.expiresAt - MIN_LEAD_MS / 2);
}

/** A lease's jitter for its next step, in [0, 1): the same on every replay and every time it is planned. */
function jitterOf(lease: KeptLease): number {
  let h = 2166136261;
  for (const c of `${lease.leaseId}:${lease.renewals}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return (h >>> 0) / 2 ** 32;
}

/** renewAt as keepers started before the patch computed it, with min_renewal_seconds as a floor; only for their replay. */
function renewAtBefore(lease: KeptLease, config: LeaseConfig): number {
  const grantedAt = lease.expiresAt - lease.lastDurationMs;
  const at = grantedAt + config.renew_at * lease.lastDurationMs;
  return Math.min(Math.max(at, grantedAt + config.min_renewal_seconds * 1000), lease.expiresAt - MIN_LEAD_MS / 2);
}

/**
 * When to issue the next credential: early enough that the issue and the grace period end before the lease does.
 * Renewals carry a lease to its hard end (max_ttl); without them, once one was capped or refused, or while renewals
 * fail, it ends at `expiresAt`.
 */
function reissueAt(lease: KeptLease, config: LeaseConfig): number {
  return leaseEnd(lease, config) - config.grace_period - leadOf(lease, config);
}

/** How long before a lease ends its replacement must be out: the rest after renew_at, MIN_LEAD_MS at least. */
function leadOf(lease: KeptLease, config: LeaseConfig): number {
  return Math.max(MIN_LEAD_MS, (1 - config.renew_at) * lease.initialDurationMs);
}

/** When a lease ends: renewals carry it to its hard end (max_ttl); without them, at `expiresAt`. */
function leaseEnd(lease: KeptLease, config: LeaseConfig): number {
  const renewing = config.renewal_enabled && !lease.capped && lease.retryRenewAt === null;
  return renewing ? (lease.hardEndAt ?? Infinity) : lease.expiresAt;
}
