// The `issued` strategy's activities: a target that makes its own credentials (an IssuingTarget) issues the new one
// straight into the store's pending value, proves it, and withdraws the old one. Each idempotent per rotation id, and
// each passes ids and versions only: a credential's secret goes from the target to the store and nowhere else.
import { activityLog } from './guarded';
import { liveOnly } from '../src/kernel/attempt';
import { RotatorError } from '../src/kernel/errors';
import type { RotationPlan } from '../src/config/plan';
import { openIssuingTarget, type ProviderRegistry, type TargetRegistry } from './registry';
import { replaceOwnedFields } from './stored-value';
import { budgeted, type WriteBudgetGate } from './write-budget';
import type { IssuedCredential, IssuingTarget, SecretValue, VerifiedAt } from './types';

export interface IssuingDeps {
  providers: ProviderRegistry;
  targets: TargetRegistry;
  writeBudget?: WriteBudgetGate;
}

/** A credential named by where the store keeps it: a published `version`, or else this rotation's own new one. */
export interface IssuedRef {
  rotationId: string;
  version?: string;
}

/** The claim the store update after a withdraw is made under: its own, so it never meets this rotation's. */
export function afterWithdrawClaim(rotationId: string): string {
  return `${rotationId}-after-withdraw`;
}

export function createIssuingActivities(deps: IssuingDeps) {
  const { providers, targets } = deps;
  const store = async (plan: RotationPlan) =>
    liveOnly(await budgeted(providers.store(plan.store.provider), plan, deps.writeBudget), `store ${plan.store.provider}`);
  const targetFor = async (plan: RotationPlan): Promise<IssuingTarget> =>
    liveOnly(await openIssuingTarget(providers, targets, plan.target), `target ${plan.target.type}`);

  /** This rotation's new value: still pending, or the version it published. */
  async function ownValue(plan: RotationPlan, rotationId: string): Promise<SecretValue | null> {
    const s = await store(plan);
    const pending = await s.readPending(plan.store.path, rotationId);
    if (pending) return pending.value;
    const published = await s.publishedBy(plan.store.path, rotationId);
    return published ? s.readVersion(plan.store.path, published.version) : null;
  }

  /** The stored value `ref` names and the credential it holds; null when there is no such value. */
  async function credentialAt(
    plan: RotationPlan,
    target: IssuingTarget,
    ref: IssuedRef,
  ): Promise<{ value: SecretValue; credential: IssuedCredential } | null> {
    const value =
      ref.version !== undefined
        ? await (await store(plan)).readVersion(plan.store.path, ref.version)
        : await ownValue(plan, ref.rotationId);
    if (!value) return null;
    const credential = target.credentialOf(value);
    if (!credential) {
      const which = ref.version !== undefined ? `version ${ref.version}` : 'the new value of this rotation';
      throw new RotatorError('NOT_FOUND', `${which} of ${plan.store.path} holds no ${plan.target.type} credential`);
    }
    return { value, credential };
  }

  /**
   * Withdrawing is irreversible, so it is refused (CONFLICT), like assertNotInUse, for a credential readers may be
   * using: the one the store publishes as current, or any while another rotation holds a pending value of the secret.
   */
  async function assertNotPublished(
    plan: RotationPlan,
    target: IssuingTarget,
    rotationId: string,
    credential: IssuedCredential,
    action: string,
  ): Promise<void> {
    const s = await store(plan);
    const [current, other] = await Promise.all([s.readCurrent(plan.store.path), s.otherPending(plan.store.path, rotationId)]);
    if (other) {
      throw new RotatorError('CONFLICT', `not going to ${action}: rotation ${other} holds a pending value of ${plan.secret}`);
    }
    if (current && target.credentialOf(current.value)?.id === credential.id) {
      throw new RotatorError(
        'CONFLICT',
        `not going to ${action}: the store publishes it as the current credential of ${plan.secret} (version ${current.version})`,
      );
    }
  }

  /**
   * Issues the new credential and stages it, in a copy of the value at `baseVersion` with only the credential's fields
   * replaced, conditioned on the store still being there. A re-run finds the pending (or published) value and returns
   * its credential; a re-run after a death between issue and stage asks the target again, which must not leave the
   * first one live (IssuingTarget.issue). A credential that could not be staged is withdrawn: nothing else records it.
   */
  async function issueTargetCredential(
    plan: RotationPlan,
    input: { rotationId: string; baseVersion: string | null; startedAt: number },
  ): Promise<{ id: string }> {
    const s = await store(plan);
    const path = plan.store.path;
    const target = await targetFor(plan);
    const existing = await credentialAt(plan, target, { rotationId: input.rotationId });
    if (existing) return { id: existing.credential.id };
    const current = await s.readCurrent(path);
    if ((current?.version ?? null) !== input.baseVersion) {
      throw new RotatorError(
        'CONFLICT',
        `${path} changed since this rotation read it: expected version ${input.baseVersion ?? '(none)'}, found ${current?.version ?? '(none)'}`,
      );
    }
    const previous = current ? target.credentialOf(current.value) : null;
    const credential = await target.issue({
      rotationId: input.rotationId,
      startedAt: input.startedAt,
      current: previous,
      value: current?.value ?? null,
    });
    const owned = target.credentialFields(credential, previous);
    const value: SecretValue = current ? replaceOwnedFields(current.value, owned) : { ...target.endpoint, ...owned };
    try {
      await s.stagePending(path, input.rotationId, value, input.baseVersion);
    } catch (err) {
      const staged = await s.readPending(path, input.rotationId).catch(() => null);
      if (!staged) {
        await target.withdraw(credential).catch((e: unknown) => {
          activityLog()?.warn('could not withdraw a credential that was not staged', {
            secret: plan.secret,
            id: credential.id,
            error: e instanceof Error ? e.message : String(e),
          });
        });
      }
      throw err;
    }
    activityLog()?.info('issued a new credential', { secret: plan.secret, id: credential.id });
    return { id: credential.id };
  }

  /** Proves the credential `ref` names works, through the target (which retries a new one for as long as it documents). */
  async function verifyTargetCredential(plan: RotationPlan, input: IssuedRef): Promise<VerifiedAt> {
    const target = await targetFor(plan);
    const found = await credentialAt(plan, target, input);
    if (!found) throw new RotatorError('NOT_FOUND', `this rotation has no new value of ${plan.store.path} to verify`);
    const at = await target.verify(found.credential, found.value);
    activityLog()?.info('verified the new credential', {
      secret: plan.secret,
      id: found.credential.id,
      endpoint: at.endpoint,
      from: at.from,
    });
    return at;
  }

  /**
   * Takes the credential `ref` names out of service for good: this rotation's own new one (compensation) or the one
   * of an older version (revoke). Nothing staged: nothing to withdraw. Refused while the store publishes it.
   * `afterWithdraw`: whether the target updates the stored value once a credential is withdrawn (updateAfterWithdraw).
   */
  async function withdrawTargetCredential(
    plan: RotationPlan,
    input: IssuedRef,
  ): Promise<{ id: string | null; afterWithdraw: boolean }> {
    const target = await targetFor(plan);
    const afterWithdraw = !!target.afterWithdraw;
    const found = await credentialAt(plan, target, input);
    if (!found) return { id: null, afterWithdraw };
    const { credential } = found;
    await assertNotPublished(plan, target, input.rotationId, credential, `withdraw credential ${credential.id}`);
    await target.withdraw(credential);
    return { id: credential.id, afterWithdraw };
  }

  /** Reversibly takes the credential of `ref` out of service, where the target can (else false). Refused while published. */
  async function suspendTargetCredential(plan: RotationPlan, input: IssuedRef): Promise<{ suspended: boolean }> {
    const target = await targetFor(plan);
    if (!target.suspend) return { suspended: false };
    const found = await credentialAt(plan, target, input);
    if (!found) return { suspended: false };
    await assertNotPublished(plan, target, input.rotationId, found.credential, `suspend credential ${found.credential.id}`);
    await target.suspend(found.credential);
    return { suspended: true };
  }

  /** Puts a suspended credential back into service (the undo of suspendTargetCredential). */
  async function resumeTargetCredential(plan: RotationPlan, input: IssuedRef): Promise<void> {
    const target = await targetFor(plan);
    const found = await credentialAt(plan, target, input);
    if (found) await target.resume?.(found.credential);
  }

  /**
   * Once the old credential is withdrawn, the fields the target says the stored value no longer needs (an old public
   * key in a JWKS) go, in a new version made under a claim of its own (the rotation's own has been released). Idempotent:
   * a re-run finds the version it published, or its pending value, and finishes. Null: nothing to change.
   */
  async function updateAfterWithdraw(plan: RotationPlan, input: { rotationId: string }): Promise<{ version: string | null }> {
    const target = await targetFor(plan);
    if (!target.afterWithdraw) return { version: null };
    const s = await store(plan);
    const path = plan.store.path;
    const claim = afterWithdrawClaim(input.rotationId);
    const done = await s.publishedBy(path, claim);
    if (done) {
      await s.discardPending(path, claim);
      return { version: done.version };
    }
    let pending = await s.readPending(path, claim);
    if (!pending) {
      const current = await s.readCurrent(path);
      const fields = current ? target.afterWithdraw(current.value) : null;
      if (!current || !fields) return { version: null };
      const next = replaceOwnedFields(current.value, fields);
      if (JSON.stringify(next) === JSON.stringify(current.value)) return { version: null };
      await s.stagePending(path, claim, next, current.version);
      pending = { value: next, baseVersion: current.version };
    }
    const { version } = await s.promote(path, claim, pending.baseVersion);
    await s.discardPending(path, claim);
    return { version };
  }

  return {
    issueTargetCredential,
    verifyTargetCredential,
    withdrawTargetCredential,
    suspendTargetCredential,
    resumeTargetCredential,
    updateAfterWithdraw,
  };
}
