// The rotation's activities: each one step against one store or target, idempotent, passing references only.
import { Context } from '@temporalio/activity';
import { liveOnly } from '../src/kernel/attempt';
import { assertNever, RotatorError } from '../src/kernel/errors';
import { activityLog, guardedAll } from './guarded';
import { generatePassword } from '../src/kernel/password';
import { checkPlan, type RotationPlan } from '../src/config/plan';
import { createIssuingActivities } from './issuing';
import { budgeted, type WriteBudgetGate } from './write-budget';
import { openAnyTarget, openTarget, type ConsumerRegistry, type ProviderRegistry, type TargetRegistry } from './registry';
import { replaceOwnedFields } from './stored-value';
import { isIssuing, type DatabaseTarget, type PromoteResult, type SecretValue, type VerifiedAt } from './types';

/**
 * What a rotation decided at its start. Inspecting again, at any later point of the same rotation, returns the same
 * decisions: they are read back from the rotation's pending value (or from what it published), not from a store that
 * this rotation has since changed.
 */
export interface Inspection {
  /** The version current before this rotation: what promote replaces and rollback returns to. */
  currentVersion: string | null;
  currentUsername: string | null;
  /** The login this rotation will set a new password on. */
  nextUsername: string;
  /** The login to revoke after the grace period; null when there is none we manage. */
  revokeUsername: string | null;
}

/** A credential named by where the store keeps it: a published `version`, or else this rotation's own new one. */
export interface CredentialRef {
  rotationId: string;
  version?: string;
}

export interface DrainResult {
  remaining: number;
}

export interface RevokeResult {
  terminatedSessions: number;
}

export interface ActivityDeps {
  providers: ProviderRegistry;
  targets: TargetRegistry;
  consumers: ConsumerRegistry;
  /** Secret values of the worker's config (sensitiveValues), scrubbed from every failure. */
  secrets?: ReadonlyArray<string>;
  /** Where a mass rotation's store writes take their tokens (plan.writeBudget); without it, writes are not paced. */
  writeBudget?: WriteBudgetGate;
}

/** The two logins of alternating-users; anything else in the store is not ours to revoke. */
export function alternatingPair(role: string): [string, string] {
  return [`${role}_a`, `${role}_b`];
}

const DRAIN_POLL_MS = 500;
/** A refused verify login is tried this often, 250 ms and then 500 ms apart, before it fails the step. */
const VERIFY_TRIES = 3;
const VERIFY_RETRY_MS = 250;

export function createActivities(deps: ActivityDeps) {
  const { providers, targets } = deps;

  const targetFor = async (plan: RotationPlan): Promise<DatabaseTarget> =>
    liveOnly(await openTarget(providers, targets, plan.target), `target ${plan.target.type}`);

  function credentialOf(value: SecretValue | null, what: string): { username: string; password: string } {
    if (!value || typeof value.username !== 'string' || typeof value.password !== 'string') {
      throw new RotatorError('NOT_FOUND', `${what} has no username and password`);
    }
    return { username: value.username, password: value.password };
  }

  const store = async (plan: RotationPlan) =>
    liveOnly(await budgeted(providers.store(plan.store.provider), plan, deps.writeBudget), `store ${plan.store.provider}`);

  /** This rotation's new credential: still pending, or already the version it published. */
  async function ownCredential(plan: RotationPlan, rotationId: string): Promise<SecretValue | null> {
    const s = await store(plan);
    const pending = await s.readPending(plan.store.path, rotationId);
    if (pending) return pending.value;
    const published = await s.publishedBy(plan.store.path, rotationId);
    return published ? s.readVersion(plan.store.path, published.version) : null;
  }

  async function readCredential(plan: RotationPlan, ref: CredentialRef): Promise<SecretValue | null> {
    return ref.version !== undefined
      ? (await store(plan)).readVersion(plan.store.path, ref.version)
      : ownCredential(plan, ref.rotationId);
  }

  /**
   * Withdrawing is irreversible, so it is refused (CONFLICT) for a credential readers may be using: the one the store
   * publishes as current, or any while another rotation holds a pending value of the secret.
   */
  async function assertNotInUse(
    plan: RotationPlan,
    rotationId: string,
    credential: { username: string; password?: string },
    action: string,
  ): Promise<void> {
    const s = await store(plan);
    const [current, other] = await Promise.all([s.readCurrent(plan.store.path), s.otherPending(plan.store.path, rotationId)]);
    if (other) {
      throw new RotatorError('CONFLICT', `not going to ${action}: rotation ${other} holds a pending value of ${plan.secret}`);
    }
    const published =
      current?.value.username === credential.username &&
      (credential.password === undefined || current.value.password === credential.password);
    if (published) {
      throw new RotatorError(
        'CONFLICT',
        `not going to ${action}: the store publishes it as the current credential of ${plan.secret} (version ${current.version})`,
      );
    }
  }

  /** One login strategies touch only the configured login, whatever an older version of the store named. */
  function assertManaged(plan: RotationPlan, username: string): void {
    if (username !== plan.login) {
      throw new RotatorError(
        'CONFLICT',
        `${plan.store.path} names login ${username}, not ${plan.login} that this secret rotates; leaving its passwords alone`,
      );
    }
  }

  async function inspect(plan: RotationPlan, input: { rotationId: string }): Promise<Inspection> {
    // Workflow input is network input: checked once, here, before the first step touches anything. Later steps get
    // the same plan; undo steps must still run if a newer worker would check it more strictly.
    checkPlan(plan);
    const s = await store(plan);
    if (!s.capabilities.writable) {
      throw new RotatorError(
        'UNSUPPORTED',
        `provider ${plan.store.provider} is read-only; rotated secrets need a writable store`,
        `secrets.${plan.secret}.provider`,
      );
    }
    const target = await openAnyTarget(providers, targets, plan.target);
    if ((plan.strategy === 'issued') !== isIssuing(target)) {
      throw new RotatorError(
        'UNSUPPORTED',
        isIssuing(target)
          ? `${plan.target.type} issues its own credentials; its strategy is issued`
          : `${plan.target.type} does not issue credentials; issued is for targets that do`,
        `secrets.${plan.secret}.rotation.strategy`,
      );
    }
    if (plan.strategy === 'dual-password' && !isIssuing(target) && !target.capabilities.dualPassword) {
      throw new RotatorError(
        'UNSUPPORTED',
        `${plan.target.type} logins hold one password; use alternating-users`,
        `secrets.${plan.secret}.rotation.strategy`,
      );
    }
    const path = plan.store.path;
    // A re-run of this rotation (after a worker death) must decide as the first run did, from what that run recorded.
    const mine = await s.readPending(path, input.rotationId);
    const published = mine ? null : await s.publishedBy(path, input.rotationId);
    const other = published ? await s.otherPending(path, input.rotationId) : null;
    if (other) {
      // This rotation's claim has ended and another rotation holds the secret now: re-running ours would undo theirs.
      throw new RotatorError('CONFLICT', `${plan.secret} is held by rotation ${other}; this rotation has already published`);
    }
    let currentVersion: string | null;
    let base: SecretValue | null;
    let chosen: string | null = null;
    let own: SecretValue | null = null;
    if (mine || published) {
      currentVersion = mine ? mine.baseVersion : published!.previousVersion;
      base = currentVersion ? await s.readVersion(path, currentVersion) : null;
      own = mine ? mine.value : await s.readVersion(path, published!.version);
      chosen = typeof own?.username === 'string' ? own.username : null;
    } else {
      const current = await s.readCurrent(path);
      currentVersion = current?.version ?? null;
      base = current?.value ?? null;
    }
    if (isIssuing(target)) {
      // Credentials are named by their ids (an access key id), which are not secret: the new one is known once issued.
      return {
        currentVersion,
        currentUsername: (base && target.credentialOf(base)?.id) ?? null,
        nextUsername: (own && target.credentialOf(own)?.id) ?? plan.login,
        revokeUsername: null,
      };
    }
    const currentUsername = typeof base?.username === 'string' ? base.username : null;
    if (plan.strategy === 'single-user' && !base) {
      // Without the current password there is nothing to restore if the new one fails: it would be lost.
      throw new RotatorError(
        'NOT_FOUND',
        `single-user needs the current credential of ${plan.login} at ${path}; store it there first`,
        `secrets.${plan.secret}.path`,
      );
    }
    if (plan.strategy !== 'alternating-users') {
      return { currentVersion, currentUsername, nextUsername: plan.login, revokeUsername: null };
    }
    const [a, b] = alternatingPair(plan.login);
    const nextUsername = chosen ?? (currentUsername === a ? b : a);
    const revokeUsername =
      (currentUsername === a || currentUsername === b) && currentUsername !== nextUsername ? currentUsername : null;
    return { currentVersion, currentUsername, nextUsername, revokeUsername };
  }

  /**
   * Stages a fresh password in a copy of the value at `baseVersion`, conditioned on the store still being there; a
   * re-run keeps the first one.
   */
  async function stageCredential(
    plan: RotationPlan,
    input: { rotationId: string; username: string; baseVersion: string | null },
  ): Promise<void> {
    const s = await store(plan);
    const path = plan.store.path;
    if ((await s.readPending(path, input.rotationId)) || (await s.publishedBy(path, input.rotationId))) return;
    const current = await s.readCurrent(path);
    if ((current?.version ?? null) !== input.baseVersion) {
      throw new RotatorError(
        'CONFLICT',
        `${path} changed since this rotation read it: expected version ${input.baseVersion ?? '(none)'}, found ${current?.version ?? '(none)'}`,
      );
    }
    const target = await targetFor(plan);
    const credential = { username: input.username, password: generatePassword(plan.password) };
    const owned = target.credentialFields?.(credential) ?? credential;
    // The current value, copied, with only the credential replaced: its other fields (the endpoint consumers use,
    // an operator's own) are not the rotation's. Only a secret with no value yet is built from the target's config.
    const value: SecretValue = current ? replaceOwnedFields(current.value, owned) : { ...target.endpoint, ...owned };
    await s.stagePending(path, input.rotationId, value, input.baseVersion);
  }

  /**
   * Whether this rotation holds a claim on the secret (a pending value it staged): a rotation that ends without
   * having run (rejected, expired, cancelled) checks, because a run of it lost with a Temporal restart may have
   * changed things before the history could say so.
   */
  async function holdsClaim(plan: RotationPlan, input: { rotationId: string }): Promise<boolean> {
    return (await (await store(plan)).readPending(plan.store.path, input.rotationId)) !== null;
  }

  /** Ends the rotation's claim on the secret: its pending value goes. Also the undo of stageCredential. */
  async function discardPending(plan: RotationPlan, input: { rotationId: string }): Promise<void> {
    await (await store(plan)).discardPending(plan.store.path, input.rotationId);
  }

  /** Makes this rotation's new credential valid on the target, in the way the strategy asks. */
  async function applyCredential(plan: RotationPlan, input: { rotationId: string }): Promise<void> {
    const own = await ownCredential(plan, input.rotationId);
    const { username, password } = credentialOf(own, 'the new credential of this rotation');
    const target = await targetFor(plan);
    switch (plan.strategy) {
      case 'alternating-users':
        return target.upsertLogin(username, password);
      case 'single-user':
        return target.setPassword(username, password);
      case 'dual-password':
        return target.addPassword(username, password);
      case 'issued':
        throw new RotatorError('UNSUPPORTED', 'issued credentials are made by issueTargetCredential, not applied');
      default:
        return assertNever(plan.strategy);
    }
  }

  async function disableLogin(plan: RotationPlan, input: { rotationId: string; username: string }): Promise<void> {
    await assertNotInUse(plan, input.rotationId, { username: input.username }, `disable login ${input.username}`);
    await (await targetFor(plan)).disableLogin(input.username);
  }

  /** single-user compensation: put back the password of `version`, once the store serves that version again. */
  async function restorePassword(plan: RotationPlan, input: { rotationId: string; version: string }): Promise<void> {
    const s = await store(plan);
    const [old, current] = await Promise.all([s.readVersion(plan.store.path, input.version), s.readCurrent(plan.store.path)]);
    const { username, password } = credentialOf(old, `version ${input.version} of ${plan.store.path}`);
    assertManaged(plan, username);
    if (current?.value.password !== password) {
      throw new RotatorError(
        'CONFLICT',
        `not restoring the password of version ${input.version}: the store serves version ${current?.version ?? '(none)'}, and the database must keep agreeing with it`,
      );
    }
    await (await targetFor(plan)).setPassword(username, password);
  }

  /**
   * dual-password: withdraw one password, named by where the store keeps it: this rotation's new one (compensation)
   * or an older version (revoke).
   */
  async function removePassword(plan: RotationPlan, input: CredentialRef): Promise<void> {
    const value = await readCredential(plan, input);
    if (!value) return; // nothing staged, nothing to withdraw
    const { username, password } = credentialOf(value, 'the credential to withdraw');
    assertManaged(plan, username);
    await assertNotInUse(plan, input.rotationId, { username, password }, `withdraw a password of ${username}`);
    await (await targetFor(plan)).removePassword(username, password);
  }

  /**
   * Logs in with the new credential where its stored value says consumers connect (else the target's connection). A
   * refusal (VERIFY_FAILED) gets a few quick tries here, for a login just made that a server takes a moment to accept,
   * and then fails the step (the workflow does not retry it); a target that cannot be reached fails TRANSIENT, which
   * the workflow waits out.
   */
  async function verifyCredential(plan: RotationPlan, input: CredentialRef): Promise<VerifiedAt> {
    const value = await readCredential(plan, input);
    const credential = credentialOf(value, 'the new credential');
    const target = await targetFor(plan);
    for (let attempt = 1; ; attempt++) {
      try {
        const at = await target.verify(credential, plan.verifyQuery, value ?? undefined);
        activityLog()?.info('verified the new credential', {
          secret: plan.secret,
          username: credential.username,
          endpoint: at.endpoint,
          from: at.from,
        });
        return at;
      } catch (err) {
        if (attempt >= VERIFY_TRIES || !(err instanceof RotatorError && err.code === 'VERIFY_FAILED')) throw err;
        await Context.current().sleep(VERIFY_RETRY_MS * 2 ** (attempt - 1));
      }
    }
  }

  async function promote(
    plan: RotationPlan,
    input: { rotationId: string; expectedVersion: string | null },
  ): Promise<PromoteResult> {
    return (await store(plan)).promote(plan.store.path, input.rotationId, input.expectedVersion);
  }

  /** Makes `toVersion` current again, if this rotation's value became current at all. */
  async function rollbackStore(
    plan: RotationPlan,
    input: { rotationId: string; toVersion: string | null; fromVersion: string | null },
  ): Promise<void> {
    const s = await store(plan);
    const published = await s.publishedBy(plan.store.path, input.rotationId);
    const fromVersion = input.fromVersion ?? published?.version ?? null;
    // Never promoted (or someone else's write is current, which is not ours to undo): nothing to roll back.
    if (fromVersion === null) return;
    await s.rollback(plan.store.path, input.rotationId, { toVersion: input.toVersion, fromVersion });
  }

  async function notifyConsumers(plan: RotationPlan, input: { version: string; username: string }): Promise<void> {
    const log = Context.current().log;
    const consumers = plan.consumers ?? [];
    for (const config of consumers) await (await deps.consumers.consumer(config)).notify({ secret: plan.secret, ...input });
    log.info('consumers notified', { secret: plan.secret, version: input.version, consumers: consumers.length });
  }

  /** Waits, heartbeating, until the old login has no sessions or the drain timeout passes. */
  async function waitForDrain(plan: RotationPlan, input: { username: string; timeoutMs?: number }): Promise<DrainResult> {
    const ctx = Context.current();
    const target = await targetFor(plan);
    const deadline = Date.now() + (input.timeoutMs ?? plan.drain.timeoutMs);
    for (;;) {
      const remaining = await target.liveSessions(input.username);
      if (remaining === 0 || Date.now() >= deadline) return { remaining };
      ctx.heartbeat({ remaining });
      await ctx.sleep(Math.min(DRAIN_POLL_MS, Math.max(0, deadline - Date.now())));
    }
  }

  async function revokeLogin(
    plan: RotationPlan,
    input: { rotationId: string; username: string; terminateSessions: boolean },
  ): Promise<RevokeResult> {
    await assertNotInUse(plan, input.rotationId, { username: input.username }, `revoke login ${input.username}`);
    const target = await targetFor(plan);
    await target.disableLogin(input.username);
    // Disable first, then end sessions: a session ended earlier could reconnect with the old password in between.
    const terminatedSessions = input.terminateSessions ? await target.terminateSessions(input.username) : 0;
    return { terminatedSessions };
  }

  const activities = {
    inspect,
    stageCredential,
    holdsClaim,
    discardPending,
    applyCredential,
    disableLogin,
    restorePassword,
    removePassword,
    verifyCredential,
    promote,
    rollbackStore,
    notifyConsumers,
    waitForDrain,
    revokeLogin,
    ...createIssuingActivities(deps),
  };
  return guardedAll(activities, deps.secrets ?? [], undefined, (provider) => deps.providers.system?.(provider));
}

export type RotationActivities = ReturnType<typeof createActivities>;
