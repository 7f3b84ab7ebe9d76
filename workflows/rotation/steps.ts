// The phases every strategy is made of: create, publish, reconnect (with a rollout's batches), the commit point and
// the claim's release. Each records its undo in the saga before it changes anything.
import { CancellationScope, CancelledFailure, proxyActivities, sleep } from '@temporalio/workflow';
import type { ReconnectActivities, RolloutStep } from '../../activities/reconnect';
import type { Inspection } from '../../activities/rotation';
import type { PromoteResult } from '../../activities/types';
import { describeWorkload } from '../../src/kernel/workloads';
import { describeFailure } from '../lib/failures';
import { COMPENSATE, heartbeatingWait } from '../lib/policies';
import { coalescedBatch } from './coalesced';
import type { Rotation } from './context';
import { patched } from '../lib/patches';

/** Generate and stage the new credential, then make it valid on the target. */
export function create(r: Rotation): Promise<Inspection> {
  const { plan, rotationId, status, saga, io, undo } = r;
  return r.phase('create', async () => {
    const found = await io.inspect(plan, { rotationId });
    status.username = found.nextUsername;
    status.previousUsername = found.currentUsername;
    status.previousVersion = found.currentVersion;
    saga.onFailure('store', 'discard the pending credential', () => undo.discardPending(plan, { rotationId }));
    try {
      await io.stageCredential(plan, { rotationId, username: found.nextUsername, baseVersion: found.currentVersion });
    } catch (err) {
      // CONFLICT: another rotation holds the secret, or it moved since inspect; nothing of ours was written.
      if (describeFailure(err).code === 'CONFLICT') saga.forgetLast();
      throw err;
    }
    const undoApply = r.strategy.undoApply(r, found);
    if (undoApply) saga.onFailure('target', undoApply.what, undoApply.run);
    await io.applyCredential(plan, { rotationId });
    // With two credentials the new one must work before anyone is told about it; single-user verifies next anyway.
    if (r.strategy.verifiesAtCreate) await r.verifier.verifyCredential(plan, { rotationId });
    return found;
  });
}

/** Make the new credential the store's current version. */
export function publish(r: Rotation, found: Inspection): Promise<PromoteResult> {
  const { plan, rotationId, status, saga, io, undo } = r;
  return r.phase('publish', async () => {
    // Recorded before the step: a promote that fails halfway may already have moved current. With no version
    // reported back, the activity finds out itself whether this rotation's value is current.
    saga.onFailure('store', `make version ${found.currentVersion ?? '(none)'} current again`, () =>
      undo.rollbackStore(plan, { rotationId, toVersion: found.currentVersion, fromVersion: status.version }),
    );
    const published = await io.promote(plan, { rotationId, expectedVersion: found.currentVersion });
    status.version = published.version;
    return published;
  });
}

/** Verify that the new credential logs in (with two credentials: the published version). */
export async function verify(r: Rotation, version?: string): Promise<void> {
  const { plan, rotationId } = r;
  await r.phase('verify', () => r.verifier.verifyCredential(plan, { rotationId, ...(version ? { version } : {}) }));
}

/** Tell the consumers of the new version, restart those that roll out, then give them time to pick it up. */
export function reconnect(r: Rotation, version: string, found: Inspection): Promise<void> {
  const { plan, rotationId } = r;
  return r.phase('reconnect', async () => {
    const username = found.nextUsername;
    // Rotations started before consumers had steps of their own notify them all in one step.
    if (!r.reconnectPlan) await r.io.notifyConsumers(plan, { version, username });
    else {
      for (const step of r.reconnectPlan.steps) {
        if (step.kind === 'notify')
          await r.consumers.notifyConsumer(plan, { consumer: step.consumer, version, username, rotationId });
        else await rollOut(r, step, version, found.currentVersion);
      }
    }
    // A durable timer: consumers get this long to pick up the new version, even across worker restarts.
    if (plan.reconnectWaitMs > 0) await sleep(plan.reconnectWaitMs);
  });
}

/**
 * Restarts the consumer's workloads batch by batch, each batch only once the one before rolled out. A batch's undo
 * is recorded before it restarts: it makes the store serve the old version again, restarts the batch onto it and
 * waits for that, all before the new credential is withdrawn, so no pod is left holding a withdrawn credential.
 */
async function rollOut(r: Rotation, step: RolloutStep, version: string, previousVersion: string | null): Promise<void> {
  const { plan, rotationId, status, saga } = r;
  const waiter = proxyActivities<ReconnectActivities>(heartbeatingWait(step.timeoutMs));
  // Undoing must get through an API server outage, like every compensation.
  const undoWaiter = proxyActivities<ReconnectActivities>({ ...heartbeatingWait(step.timeoutMs), retry: COMPENSATE.retry });
  const { consumer, timeoutMs } = step;
  for (const workloads of step.batches) {
    const names = workloads.map(describeWorkload).join(', ');
    // single-user reconnects after its commit point: nothing is undone then, so no undo is recorded.
    if (!saga.committed) {
      saga.onFailure('store', `restart ${names} onto version ${previousVersion ?? '(none)'}`, async () => {
        await r.undo.rollbackStore(plan, { rotationId, toVersion: previousVersion, fromVersion: status.version });
        // A first version rolled back leaves no Secret to restart onto: the pods keep what they started with.
        if (previousVersion === null) return;
        const value = `${previousVersion} (rollback of ${version})`;
        await r.undoConsumers.restartWorkloads(plan, { consumer, workloads, value, onlyIf: version });
        await undoWaiter.awaitRollout(plan, { consumer, workloads, startedAt: Date.now(), timeoutMs });
      });
    }
    // A consumer with a coalesce window restarts through its workloads' coordinators, once for many secrets.
    if (step.coalesceMs !== undefined && patched('coalesced-rollout')) {
      status.notes.push(await coalescedBatch(r, { ...step, coalesceMs: step.coalesceMs }, workloads, version));
      continue;
    }
    const restarted = await r.consumers.restartWorkloads(plan, { consumer, workloads, value: version });
    await waiter.awaitRollout(plan, { consumer, workloads, startedAt: Date.now(), timeoutMs });
    status.notes.push(
      `rolled out ${restarted.map((w) => `${describeWorkload(w.workload)} (generation ${w.generation})`).join(', ')}`,
    );
  }
}

/**
 * The commit point, then the rest of the rotation. A cancel accepted while the step before it ran (a step does not
 * stop half-way for it) is honoured here, so the rotation rolls back instead of committing. Past it, a cancel no
 * longer interrupts: single-user's consumers must still hear of the new password, and the claim must be released.
 * Rotations started before this was so commit as they did.
 */
export async function commitThen(r: Rotation, rest: () => Promise<void>): Promise<void> {
  if (!patched('cancel-at-commit')) {
    r.saga.commit();
    return rest();
  }
  if (r.work.consideredCancelled) throw new CancelledFailure('cancelled before the commit point');
  r.saga.commit();
  await CancellationScope.nonCancellable(async () => {
    await rest();
    await release(r);
    r.released = true;
  });
}

/**
 * The rotation's claim on the secret ends with it: its pending value goes. Every step before it must be in history
 * first: once the claim is gone, a worker death must not run those steps again, when another rotation may already
 * hold the secret. Right after a revoke that ran as a regular activity they are (lean-revoke), and the release runs
 * locally: run again, it removes only a pending value of this rotation. Otherwise it is a regular activity, whose
 * scheduling completes the workflow task. Rotations started before durable-release keep releasing locally on replay.
 */
export async function release(r: Rotation): Promise<void> {
  const { plan, rotationId } = r;
  if (!patched('durable-release')) await r.io.discardPending(plan, { rotationId });
  else if (r.revokedDurably && patched('lean-revoke')) await r.io.discardPending(plan, { rotationId });
  else await r.releaser.discardPending(plan, { rotationId });
}
