// How a rotation ends when it does not succeed: past the commit point the claim goes and the outcome is
// revoke-incomplete; before it the saga rolls back; a rotation that never ran first undoes what a lost run of it did.
import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { lastPhase } from '../lib/phases';
import type { Rotation } from './context';
import { patched } from '../lib/patches';

/**
 * A rotation ending without having run (rejected, expired, cancelled before its first change) first undoes whatever
 * its own claim shows a lost run of it did: one whose approval a Temporal restart took out of history after its
 * local steps had changed the store and the database. No claim, nothing changed: false. Otherwise the undos of
 * create and publish run (each idempotent, each a no-op for a step that never happened) and the claim goes.
 * Rotations started before this was so end as they did.
 */
export async function convergeUnstarted(r: Rotation): Promise<'none' | 'undone' | 'incomplete'> {
  if (!patched('converge-unstarted')) return 'none';
  const { plan, rotationId, status, saga, undo } = r;
  return CancellationScope.nonCancellable(async () => {
    if (!(await undo.holdsClaim(plan, { rotationId }))) return 'none';
    const found = await undo.inspect(plan, { rotationId });
    saga.onFailure('store', 'discard the pending credential', () => undo.discardPending(plan, { rotationId }));
    const undoApply = r.strategy.undoApply(r, found);
    if (undoApply) saga.onFailure('target', undoApply.what, undoApply.run);
    saga.onFailure('store', `make version ${found.currentVersion ?? '(none)'} current again`, () =>
      undo.rollbackStore(plan, { rotationId, toVersion: found.currentVersion, fromVersion: null }),
    );
    const { failures, notes } = await r.phase('rollback', () => saga.compensate({ secret: plan.secret }));
    status.notes.push('a run of this rotation lost before history recorded it had changed things', ...notes);
    if (failures === 0) return 'undone';
    status.outcome = 'rollback-incomplete';
    return 'incomplete';
  });
}

export function incompleteConvergence(): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'ROLLBACK_INCOMPLETE',
    message: 'what a lost run of this rotation had changed could not all be undone',
    nonRetryable: true,
  });
}

/**
 * Settles a failed rotation (release, rollback or nothing) and returns the failure it ends with. The failure carries
 * the final status as its details, so a client reads the outcome of a closed rotation without a worker.
 */
export async function ended(r: Rotation, err: unknown): Promise<unknown> {
  const { plan, rotationId, status, saga, undo } = r;
  const reason = status.error!.message;
  const cause = err instanceof Error ? err : undefined;
  const failure = (type: string, message: string) =>
    ApplicationFailure.create({ type, message, nonRetryable: true, details: [status], cause });
  if (saga.committed) {
    // The new credential is published and verified; only withdrawing the old one did not finish.
    status.outcome = 'revoke-incomplete';
    await CancellationScope.nonCancellable(() =>
      undo.discardPending(plan, { rotationId }).catch(() => {
        status.notes.push('could not remove the pending value of this rotation');
      }),
    );
    return failure(
      'REVOKE_INCOMPLETE',
      `rotation of ${plan.secret} published and verified the new credential, but ${afterCommit(r)} failed: ${reason}`,
    );
  }
  if (status.outcome === 'rollback-incomplete') {
    // Ended without running, and what a lost run of it had changed could not all be undone (convergeUnstarted).
    return failure(
      'ROLLBACK_INCOMPLETE',
      `rotation of ${plan.secret} ended before it ran, and was only partly rolled back: ${reason}`,
    );
  }
  const converged = !saga.hasUndos && status.error!.code === 'CANCELLED' ? await convergeUnstarted(r) : 'none';
  if (converged !== 'none') {
    status.outcome = converged === 'undone' ? 'cancelled' : 'rollback-incomplete';
    return failure(
      converged === 'undone' ? 'CANCELLED' : 'ROLLBACK_INCOMPLETE',
      `rotation of ${plan.secret} was cancelled before it ran; what an earlier run of it had changed was ` +
        `${converged === 'undone' ? 'undone' : 'only partly undone'}: ${reason}`,
    );
  }
  if (!saga.hasUndos) {
    const cancelled = status.error!.code === 'CANCELLED';
    status.outcome = cancelled ? 'cancelled' : 'failed';
    return failure(
      status.error!.code,
      `rotation of ${plan.secret} ${cancelled ? 'was cancelled' : 'failed'} before changing anything: ${reason}`,
    );
  }
  const { failures, notes } = await r.phase('rollback', () => saga.compensate({ secret: plan.secret }));
  status.notes.push(...notes);
  status.outcome = failures === 0 ? 'rolled-back' : 'rollback-incomplete';
  const how = failures === 0 ? 'rolled back' : 'only partly rolled back';
  return failure(
    failures === 0 ? 'ROLLED_BACK' : 'ROLLBACK_INCOMPLETE',
    `rotation of ${plan.secret} failed in ${lastPhase(status, 'rollback', 'create')} and was ${how}: ${reason}`,
  );
}

/** What failed after the commit point: revoking, or (single-user) telling the consumers. */
function afterCommit({ status }: Rotation): string {
  const failedIn = lastPhase(status, 'rollback', 'revoke');
  return failedIn === 'revoke' ? 'revoking the old one' : `the ${failedIn} phase`;
}
