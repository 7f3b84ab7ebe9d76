// issued: the target makes the credential itself (an IAM access key, an API key from a hook, a certificate). Issue
// it straight into the store's pending value → publish → reconnect → verify → commit → after the grace period
// suspend the old one (where the target can), withdraw it, and drop what the stored value kept for it.
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { ReconnectActivities } from '../../activities/reconnect';
import type { Inspection } from '../../activities/rotation';
import type { FinishRevoke } from '../definitions';
import { describeFailure } from '../lib/failures';
import { patched } from '../lib/patches';
import { TELL_AGAIN } from '../lib/policies';
import type { Rotation } from './context';
import { graceThenReaders } from './revoke';
import { commitThen, publish, reconnect, release } from './steps';
import type { Strategy } from './strategy';

const tellAgain = proxyActivities<ReconnectActivities>(TELL_AGAIN);

export const issued: Strategy = {
  verifiesAtCreate: false,

  async run(r) {
    // Only rotations started on a worker that knows this strategy take it: no earlier history reaches here.
    if (!patched('issued-credentials')) {
      throw ApplicationFailure.create({
        type: 'UNSUPPORTED',
        message: 'this rotation was started before the issued strategy existed',
        nonRetryable: true,
      });
    }
    const found = await issue(r);
    const published = await publish(r, found);
    tellAgainOnRollback(r, found);
    await reconnect(r, published.version, found);
    await r.phase('verify', () =>
      r.verifier.verifyTargetCredential(r.plan, { rotationId: r.rotationId, version: published.version }),
    );
    // verified and published: from here on nothing is rolled back
    await commitThen(r, () => r.phase('revoke', () => revokeIssued(r, found)));
  },

  finishRevoke: async (r, left) => {
    if (left.version) await finishIssuedRevoke(r, { ...left, version: left.version });
  },

  undoApply: ({ plan, rotationId, undo }, found) => ({
    what: `withdraw the new credential${found.nextUsername !== plan.login ? ` ${found.nextUsername}` : ''}`,
    run: async () => {
      await undo.withdrawTargetCredential(plan, { rotationId });
    },
  }),
};

/** create, for a target that issues: the undos first, then one step that issues and stages the new credential. */
function issue(r: Rotation): Promise<Inspection> {
  const { plan, rotationId, status, saga, io, undo } = r;
  return r.phase('create', async () => {
    const found = await io.inspect(plan, { rotationId });
    status.previousUsername = found.currentUsername;
    status.previousVersion = found.currentVersion;
    saga.onFailure('store', 'discard the pending credential', () => undo.discardPending(plan, { rotationId }));
    // Reads the new credential from the pending value, so it runs before the discard (undos run in reverse).
    saga.onFailure('target', 'withdraw the new credential', async () => {
      await undo.withdrawTargetCredential(plan, { rotationId });
    });
    try {
      const { id } = await io.issueTargetCredential(plan, {
        rotationId,
        baseVersion: found.currentVersion,
        startedAt: status.startedAt,
      });
      status.username = id;
      return { ...found, nextUsername: id };
    } catch (err) {
      // CONFLICT: another rotation holds the secret, or it moved since inspect; what the step issued it withdrew.
      if (describeFailure(err).code === 'CONFLICT') {
        saga.forgetLast();
        saga.forgetLast();
      }
      throw err;
    }
  });
}

/**
 * The undo of telling consumers of the new credential: a consumer that loaded it (a server serving the new
 * certificate) must not keep it once the rollback withdraws it. The store serves the previous version again and the
 * consumers told of the new one are told of that one, all before the new credential is withdrawn (undos run in
 * reverse). Recorded once published; a first version rolled back leaves nothing earlier to tell them of.
 */
function tellAgainOnRollback(r: Rotation, found: Inspection): void {
  const { plan, rotationId, status, saga } = r;
  const previous = found.currentVersion;
  const told = (r.reconnectPlan?.steps ?? []).flatMap((step) => (step.kind === 'notify' ? [step.consumer] : []));
  if (previous === null || told.length === 0) return;
  saga.onFailure('store', `tell the consumers of version ${previous} again`, async () => {
    await r.undo.rollbackStore(plan, { rotationId, toVersion: previous, fromVersion: status.version });
    for (const consumer of told) {
      try {
        await tellAgain.notifyConsumer(plan, {
          consumer,
          version: previous,
          username: found.currentUsername ?? '',
          rotationId,
        });
      } catch (err) {
        status.notes.push(
          `could not tell consumer ${consumer + 1} of version ${previous} again: ${describeFailure(err).message}`,
        );
      }
    }
  });
}

/** After the grace period: suspend the old credential where the target can, withdraw it, then update the stored value. */
async function revokeIssued(r: Rotation, found: Inspection): Promise<void> {
  const old = found.currentVersion;
  if (!old || !found.currentUsername) {
    r.status.notes.push('first rotation: no earlier credential of ours to withdraw');
    return;
  }
  await graceThenReaders(r);
  await withdrawOld(r, { rotationId: r.rotationId, version: old });
  r.status.revokedUsername = found.currentUsername;
}

/**
 * Suspend (where the target can), then withdraw, the credential of `version`; then, for a target with afterWithdraw,
 * with the claim released, the stored value drops what it kept for it. The same for the revoke phase and for a sweep finishing an earlier one.
 */
async function withdrawOld(r: Rotation, ref: { rotationId: string; version: string }): Promise<void> {
  const { plan, status, revoker } = r;
  const { suspended } = await revoker.suspendTargetCredential(plan, ref);
  if (suspended) status.notes.push(`suspended the credential of version ${ref.version}`);
  const { id, afterWithdraw } = await revoker.withdrawTargetCredential(plan, ref);
  status.notes.push(id ? `withdrew credential ${id} of version ${ref.version}` : `version ${ref.version} is gone`);
  if (!afterWithdraw) return;
  // The update is a version of its own, under a claim of its own: this rotation's claim goes first.
  await release(r);
  const { version } = await revoker.updateAfterWithdraw(plan, { rotationId: r.rotationId });
  if (version) status.notes.push(`version ${version} drops what the stored value kept for the withdrawn credential`);
}

/** The sweep's finish of an issued rotation's revoke: the same steps, with the same checks in the activities. */
async function finishIssuedRevoke(r: Rotation, left: FinishRevoke & { version: string }): Promise<void> {
  r.status.notes.push(`finishing the revoke of rotation ${left.rotationId}`);
  r.status.previousVersion = left.version;
  await withdrawOld(r, { rotationId: r.rotationId, version: left.version });
}
