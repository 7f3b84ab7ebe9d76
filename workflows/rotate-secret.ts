// rotateSecret: [approval →] create → publish → reconnect → verify → revoke, undoing every change in reverse if a step
// fails or a person cancels it.
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReconnectActivities, ReconnectPlan, RolloutStep } from '../activities/reconnect';
import type { Inspection, RotationActivities } from '../activities/rotation';
import type { PromoteResult } from '../activities/types';
import { assertNever } from '../src/kernel/errors';
import { describeWorkload } from '../src/kernel/workloads';
import {
  approveUpdate,
  cancelUpdate,
  rejectUpdate,
  SEARCH_ATTRIBUTES,
  statusQuery,
  type ApprovalRecord,
  type CancelRecord,
  type DecisionInput,
  type FinishRevoke,
  type PhaseName,
  type RotateSecretInput,
  type RotationStatus,
} from './definitions';
import { checkDecision, describeCancel, refuse } from './lib/decisions';
import { report } from './lib/events';
import { describeFailure } from './lib/failures';
import { inPhase, lastPhase } from './lib/phases';
import { readerNotes } from './lib/readers';
import {
  COMPENSATE,
  DEFAULT_OUTAGE_TOLERANCE_MS,
  forwardIo,
  heartbeatingWait,
  IRREVERSIBLE,
  RESTORE,
  verifyLogin,
} from './lib/policies';
import { Saga } from './lib/saga';

const revoker = proxyActivities<RotationActivities>(IRREVERSIBLE);
const releaser = proxyActivities<RotationActivities>(IRREVERSIBLE);
const undo = proxyActivities<RotationActivities>(COMPENSATE);
const restorer = proxyActivities<RotationActivities>(RESTORE);
const undoConsumers = proxyActivities<ReconnectActivities>(COMPENSATE);

export async function rotateSecret({ plan, requestedBy, finishRevoke }: RotateSecretInput): Promise<RotationStatus> {
  // The first run's id: a reset starts a new run, which must still recognise this rotation's claim as its own.
  const rotationId = workflowInfo().firstExecutionRunId;
  // Forward steps wait out an outage of the store or the database this long (retry options are not in history, so
  // running rotations take the new ones on replay too).
  const tolerance = plan.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS;
  const io = proxyLocalActivities<RotationActivities>(forwardIo(tolerance));
  const verifier = proxyLocalActivities<RotationActivities>(verifyLogin(tolerance));
  const consumers = proxyLocalActivities<ReconnectActivities>(forwardIo(tolerance));
  const status: RotationStatus = {
    secret: plan.secret,
    rotationId,
    strategy: plan.strategy,
    requestedBy: requestedBy ?? null,
    phase: 'create',
    outcome: 'running',
    startedAt: Date.now(),
    endedAt: null,
    phases: [],
    username: null,
    previousUsername: null,
    version: null,
    previousVersion: null,
    revokedUsername: null,
    notes: [],
    error: null,
    approval: null,
    cancel: null,
  };
  setHandler(statusQuery, () => status);
  const phase = async <T>(name: PhaseName, body: () => Promise<T>): Promise<T> => {
    report(status, 'phase.started', { phase: name });
    try {
      const result = await inPhase(status, name, body);
      report(status, 'phase.completed', { phase: name, durationMs: status.phases.at(-1)?.durationMs ?? 0 });
      return result;
    } catch (err) {
      report(status, 'phase.failed', {
        phase: name,
        durationMs: status.phases.at(-1)?.durationMs ?? 0,
        error: describeFailure(err),
      });
      throw err;
    }
  };
  const saga = new Saga();
  /** Whether the claim was released already: past the commit point, with the rest of the rotation. */
  let released = false;
  // Everything the rotation does runs in this scope; `rotator cancel` cancels it (a cancel through Temporal reaches it
  // from the root scope), and what settles the rotation afterwards, in ended(), runs outside it.
  const work = new CancellationScope();
  setHandler(approveUpdate, decide('approved'), { validator: (input) => checkDecisionNow(input, 'approve') });
  setHandler(rejectUpdate, decide('rejected'), { validator: (input) => checkDecisionNow(input, 'reject') });
  setHandler(cancelUpdate, cancel, { validator: checkCancelNow });
  // The long drain wait rides out an outage as the revoke after it does.
  const drainer = proxyActivities<RotationActivities>({ ...heartbeatingWait(plan.drain.timeoutMs), retry: IRREVERSIBLE.retry });

  // What reconnect will do, decided before anything changes: a consumer that names a workload that is not there
  // fails the rotation while there is nothing to undo. Null for rotations started before consumers had steps.
  let reconnectPlan: ReconnectPlan | null = null;

  report(status, 'rotation.started');
  try {
    const approved = await work.run(async () => {
      // Only a revoke an earlier rotation left unfinished: already approved, verified and published back then.
      if (finishRevoke) {
        await commitThen(() => phase('revoke', () => finishEarlierRevoke(finishRevoke)));
        return true;
      }
      // Before anything is read or changed; rotations started before the gate existed have no approval in their plan.
      if (plan.approval && patched('approval-gate')) {
        if (!(await phase('approval', () => awaitApproval(plan.approval!.timeoutMs)))) {
          if ((await convergeUnstarted()) === 'incomplete') throw incompleteConvergence();
          return false;
        }
        // The approval is accepted in the workflow task that goes on to the local steps; until that task completes,
        // history does not hold it, and a Temporal restart would lose it with the changes kept. A timer ends the task
        // here, so the decision is in history before anything changes.
        if (patched('durable-approval')) await sleep(1);
      }
      if (patched('consumer-steps')) {
        reconnectPlan = (plan.consumers ?? []).length > 0 ? await consumers.planReconnect(plan) : { steps: [], notes: [] };
        status.notes.push(...reconnectPlan.notes);
      }
      if (plan.strategy === 'single-user') await singleUser();
      else await twoCredentials();
      if (!released) await release();
      return true;
    });
    // Not approved is a decision (or its absence), not a failure: the rotation ends cleanly, having changed nothing.
    status.outcome = approved ? 'succeeded' : status.approval?.decision === 'rejected' ? 'rejected' : 'expired';
    status.phase = 'done';
  } catch (err) {
    status.error = describeFailure(err);
    if (status.error.code === 'CANCELLED') {
      status.cancel ??= { by: null, at: Date.now() }; // cancelled through Temporal itself, which names nobody
      status.error.message = describeCancel(status.cancel);
    }
    throw await ended(err);
  } finally {
    status.endedAt = Date.now();
    report(status, 'rotation.ended', { outcome: status.outcome, error: status.error });
    searchableOutcome();
  }
  return status;

  /**
   * Keeps RotatorOutcome in line with the outcome, for `temporal workflow list --query "RotatorOutcome='rolled-back'"`.
   * Only for a rotation its client started with the search attributes, which the namespace then surely has: an
   * upsert of one it lacks would fail every workflow task from then on.
   */
  function searchableOutcome(): void {
    if (workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.secret) === undefined) return;
    if (patched('search-attributes')) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.outcome, value: status.outcome }]);
  }

  /**
   * A rotation ending without having run (rejected, expired, cancelled before its first change) first undoes whatever
   * its own claim shows a lost run of it did: one whose approval a Temporal restart took out of history after its
   * local steps had changed the store and the database. No claim, nothing changed: false. Otherwise the undos of
   * create and publish run (each idempotent, each a no-op for a step that never happened) and the claim goes.
   * Rotations started before this was so end as they did.
   */
  async function convergeUnstarted(): Promise<'none' | 'undone' | 'incomplete'> {
    if (!patched('converge-unstarted')) return 'none';
    return CancellationScope.nonCancellable(async () => {
      if (!(await undo.holdsClaim(plan, { rotationId }))) return 'none';
      const found = await undo.inspect(plan, { rotationId });
      saga.onFailure('store', 'discard the pending credential', () => undo.discardPending(plan, { rotationId }));
      const undoApply = undoApplyFor(found);
      if (undoApply) saga.onFailure('target', undoApply.what, undoApply.run);
      saga.onFailure('store', `make version ${found.currentVersion ?? '(none)'} current again`, () =>
        undo.rollbackStore(plan, { rotationId, toVersion: found.currentVersion, fromVersion: null }),
      );
      const { failures, notes } = await phase('rollback', () => saga.compensate({ secret: plan.secret }));
      status.notes.push('a run of this rotation lost before history recorded it had changed things', ...notes);
      if (failures === 0) return 'undone';
      status.outcome = 'rollback-incomplete';
      return 'incomplete';
    });
  }

  function incompleteConvergence(): ApplicationFailure {
    return ApplicationFailure.create({
      type: 'ROLLBACK_INCOMPLETE',
      message: 'what a lost run of this rotation had changed could not all be undone',
      nonRetryable: true,
    });
  }

  /** Waits for `rotator approve` or `reject`, at most `timeoutMs`; true once approved. */
  async function awaitApproval(timeoutMs: number): Promise<boolean> {
    const approval: ApprovalRecord = { decision: 'pending', by: null, at: null, deadline: Date.now() + timeoutMs };
    status.approval = approval;
    report(status, 'approval.requested', { detail: `waiting until ${new Date(approval.deadline).toISOString()}` });
    await condition(() => approval.decision !== 'pending', timeoutMs);
    if (approval.decision === 'pending') {
      approval.decision = 'expired';
      approval.at = Date.now();
      status.notes.push(`nobody approved the rotation within ${Math.round(timeoutMs / 1000)} s`);
      report(status, 'approval.timed-out');
    }
    return approval.decision === 'approved';
  }

  function checkDecisionNow(input: unknown, what: 'approve' | 'reject'): void {
    checkDecision(input, what === 'reject');
    // Cancelled at the gate, it is over whatever anyone decides now.
    if (status.cancel) refuse('CONFLICT', `the rotation of ${plan.secret} is being cancelled (${describeCancel(status.cancel)})`);
    if (status.approval?.decision === 'pending') return;
    refuse(
      'CONFLICT',
      !plan.approval
        ? `the rotation of ${plan.secret} needs no approval`
        : status.approval
          ? `the rotation of ${plan.secret} is not waiting for approval: it was ${status.approval.decision}${status.approval.by ? ` by ${status.approval.by}` : ''}`
          : `the rotation of ${plan.secret} is not waiting for approval`,
    );
  }

  function decide(decision: 'approved' | 'rejected') {
    return (input: DecisionInput): ApprovalRecord => {
      const { by, reason } = checkDecision(input, decision === 'rejected');
      const approval = status.approval!;
      Object.assign(approval, { decision, by, at: Date.now(), ...(reason ? { reason } : {}) });
      report(status, decision === 'approved' ? 'approval.granted' : 'approval.rejected', {
        actor: by,
        ...(reason ? { detail: reason } : {}),
      });
      return { ...approval };
    };
  }

  /** Refuses a cancel that could not roll the rotation back: ended, already undoing, or past its commit point. */
  function checkCancelNow(input: DecisionInput): void {
    checkDecision(input, false);
    const secret = plan.secret;
    if (status.outcome !== 'running') refuse('CONFLICT', `the rotation of ${secret} has ended (${status.outcome})`);
    if (status.cancel)
      refuse('CONFLICT', `the rotation of ${secret} is already being cancelled (${describeCancel(status.cancel)})`);
    if (status.phase === 'rollback') refuse('CONFLICT', `the rotation of ${secret} is already rolling back`);
    if (saga.committed)
      refuse(
        'CONFLICT',
        `the rotation of ${secret} is past its commit point (phase ${status.phase}): the new credential is published and ` +
          'verified, so there is nothing to roll back; it finishes on its own',
      );
  }

  function cancel(input: DecisionInput): CancelRecord {
    const { by, reason } = checkDecision(input, false);
    const record: CancelRecord = { by, at: Date.now(), ...(reason ? { reason } : {}) };
    status.cancel = record;
    status.notes.push(describeCancel(record));
    report(status, 'cancel.requested', { actor: by, ...(reason ? { detail: reason } : {}) });
    work.cancel();
    return record;
  }

  /**
   * Settles a failed rotation (release, rollback or nothing) and returns the failure it ends with. The failure carries
   * the final status as its details, so a client reads the outcome of a closed rotation without a worker.
   */
  async function ended(err: unknown): Promise<unknown> {
    const reason = status.error!.message;
    const cause = err instanceof Error ? err : undefined;
    if (saga.committed) {
      // The new credential is published and verified; only withdrawing the old one did not finish.
      status.outcome = 'revoke-incomplete';
      await CancellationScope.nonCancellable(() =>
        undo.discardPending(plan, { rotationId }).catch(() => {
          status.notes.push('could not remove the pending value of this rotation');
        }),
      );
      return ApplicationFailure.create({
        type: 'REVOKE_INCOMPLETE',
        message: `rotation of ${plan.secret} published and verified the new credential, but ${afterCommit()} failed: ${reason}`,
        nonRetryable: true,
        details: [status],
        cause,
      });
    }
    if (status.outcome === 'rollback-incomplete') {
      // Ended without running, and what a lost run of it had changed could not all be undone (convergeUnstarted).
      return ApplicationFailure.create({
        type: 'ROLLBACK_INCOMPLETE',
        message: `rotation of ${plan.secret} ended before it ran, and was only partly rolled back: ${reason}`,
        nonRetryable: true,
        details: [status],
        cause,
      });
    }
    const converged = !saga.hasUndos && status.error!.code === 'CANCELLED' ? await convergeUnstarted() : 'none';
    if (converged !== 'none') {
      status.outcome = converged === 'undone' ? 'cancelled' : 'rollback-incomplete';
      return ApplicationFailure.create({
        type: converged === 'undone' ? 'CANCELLED' : 'ROLLBACK_INCOMPLETE',
        message:
          `rotation of ${plan.secret} was cancelled before it ran; what an earlier run of it had changed was ` +
          `${converged === 'undone' ? 'undone' : 'only partly undone'}: ${reason}`,
        nonRetryable: true,
        details: [status],
        cause,
      });
    }
    if (!saga.hasUndos) {
      const cancelled = status.error!.code === 'CANCELLED';
      status.outcome = cancelled ? 'cancelled' : 'failed';
      return ApplicationFailure.create({
        type: status.error!.code,
        message: `rotation of ${plan.secret} ${cancelled ? 'was cancelled' : 'failed'} before changing anything: ${reason}`,
        nonRetryable: true,
        details: [status],
        cause,
      });
    }
    const { failures, notes } = await phase('rollback', () => saga.compensate({ secret: plan.secret }));
    status.notes.push(...notes);
    status.outcome = failures === 0 ? 'rolled-back' : 'rollback-incomplete';
    const how = failures === 0 ? 'rolled back' : 'only partly rolled back';
    return ApplicationFailure.create({
      type: failures === 0 ? 'ROLLED_BACK' : 'ROLLBACK_INCOMPLETE',
      message: `rotation of ${plan.secret} failed in ${lastPhase(status, 'rollback', 'create')} and was ${how}: ${reason}`,
      nonRetryable: true,
      details: [status],
      cause,
    });
  }

  /**
   * alternating-users and dual-password: the old credential stays valid beside the new one (a second login, or a
   * second password of the same login) until revoke, so the store can publish before consumers verify.
   */
  async function twoCredentials(): Promise<void> {
    const found = await create();
    const published = await publish(found);
    await phase('reconnect', () => reconnect(published.version, found));
    await phase('verify', () => verifier.verifyCredential(plan, { rotationId, version: published.version }));
    // verified and published: from here on nothing is rolled back
    await commitThen(() =>
      phase('revoke', () => (plan.strategy === 'dual-password' ? revokeOldPassword(found) : revokeOldLogin(found))),
    );
  }

  /**
   * The commit point, then the rest of the rotation. A cancel accepted while the step before it ran (a step does not
   * stop half-way for it) is honoured here, so the rotation rolls back instead of committing. Past it, a cancel no
   * longer interrupts: single-user's consumers must still hear of the new password, and the claim must be released.
   * Rotations started before this was so commit as they did.
   */
  async function commitThen(rest: () => Promise<void>): Promise<void> {
    if (!patched('cancel-at-commit')) {
      saga.commit();
      return rest();
    }
    if (work.consideredCancelled) throw new CancelledFailure('cancelled before the commit point');
    saga.commit();
    await CancellationScope.nonCancellable(async () => {
      await rest();
      await release();
      released = true;
    });
  }

  /**
   * One login, the AWS order: stage pending, change the database, verify, promote. Between the change and the
   * promote, the store's current password no longer works: that window is what single-user trades for one login.
   */
  async function singleUser(): Promise<void> {
    const found = await create();
    await phase('verify', () => verifier.verifyCredential(plan, { rotationId }));
    const published = await publish(found);
    // the database and the store agree again
    await commitThen(async () => {
      await phase('reconnect', () => reconnect(published.version, found));
      await phase('revoke', async () => {
        status.notes.push('single-user: the old password stopped working when the new one was set');
      });
    });
  }

  /** Generate and stage the new credential, then make it valid on the target. */
  async function create(): Promise<Inspection> {
    return phase('create', async () => {
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
      const undoApply = undoApplyFor(found);
      if (undoApply) saga.onFailure('target', undoApply.what, undoApply.run);
      await io.applyCredential(plan, { rotationId });
      // With two credentials the new one must work before anyone is told about it; single-user verifies next anyway.
      if (plan.strategy !== 'single-user') await verifier.verifyCredential(plan, { rotationId });
      return found;
    });
  }

  function undoApplyFor(found: Inspection): { what: string; run: () => Promise<void> } | null {
    switch (plan.strategy) {
      case 'alternating-users':
        return {
          what: `disable login ${found.nextUsername}`,
          run: () => undo.disableLogin(plan, { rotationId, username: found.nextUsername }),
        };
      case 'single-user': {
        const version = found.currentVersion;
        return version
          ? {
              what: `restore the password of version ${version}`,
              run: () => restorer.restorePassword(plan, { rotationId, version }),
            }
          : null;
      }
      case 'dual-password':
        // Once published, the new password is found by its version; before that, as this rotation's pending.
        return {
          what: `withdraw the new password of ${found.nextUsername}`,
          run: () => undo.removePassword(plan, { rotationId, ...(status.version ? { version: status.version } : {}) }),
        };
      default:
        return assertNever(plan.strategy);
    }
  }

  async function publish(found: Inspection): Promise<PromoteResult> {
    return phase('publish', async () => {
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

  /**
   * The rotation's claim on the secret ends with it: its pending value goes. A regular activity, so every step before
   * it is in history first: once the claim is gone, a worker death must not run those steps again, when another
   * rotation may already hold the secret. Rotations started before this was so keep releasing locally on replay.
   */
  async function release(): Promise<void> {
    if (patched('durable-release')) await releaser.discardPending(plan, { rotationId });
    else await io.discardPending(plan, { rotationId });
  }

  async function reconnect(version: string, found: Inspection): Promise<void> {
    const username = found.nextUsername;
    // Rotations started before consumers had steps of their own notify them all in one step.
    if (!reconnectPlan) await io.notifyConsumers(plan, { version, username });
    else {
      for (const step of reconnectPlan.steps) {
        if (step.kind === 'notify')
          await consumers.notifyConsumer(plan, { consumer: step.consumer, version, username, rotationId });
        else await rollOut(step, version, found.currentVersion);
      }
    }
    // A durable timer: consumers get this long to pick up the new version, even across worker restarts.
    if (plan.reconnectWaitMs > 0) await sleep(plan.reconnectWaitMs);
  }

  /**
   * Restarts the consumer's workloads batch by batch, each batch only once the one before rolled out. A batch's undo
   * is recorded before it restarts: it makes the store serve the old version again, restarts the batch onto it and
   * waits for that, all before the new credential is withdrawn, so no pod is left holding a withdrawn credential.
   */
  async function rollOut(step: RolloutStep, version: string, previousVersion: string | null): Promise<void> {
    const waiter = proxyActivities<ReconnectActivities>(heartbeatingWait(step.timeoutMs));
    // Undoing must get through an API server outage, like every compensation.
    const undoWaiter = proxyActivities<ReconnectActivities>({ ...heartbeatingWait(step.timeoutMs), retry: COMPENSATE.retry });
    const { consumer, timeoutMs } = step;
    for (const workloads of step.batches) {
      const names = workloads.map(describeWorkload).join(', ');
      // single-user reconnects after its commit point: nothing is undone then, so no undo is recorded.
      if (!saga.committed) {
        saga.onFailure('store', `restart ${names} onto version ${previousVersion ?? '(none)'}`, async () => {
          await undo.rollbackStore(plan, { rotationId, toVersion: previousVersion, fromVersion: status.version });
          // A first version rolled back leaves no Secret to restart onto: the pods keep what they started with.
          if (previousVersion === null) return;
          const value = `${previousVersion} (rollback of ${version})`;
          await undoConsumers.restartWorkloads(plan, { consumer, workloads, value, onlyIf: version });
          await undoWaiter.awaitRollout(plan, { consumer, workloads, startedAt: Date.now(), timeoutMs });
        });
      }
      const restarted = await consumers.restartWorkloads(plan, { consumer, workloads, value: version });
      await waiter.awaitRollout(plan, { consumer, workloads, startedAt: Date.now(), timeoutMs });
      status.notes.push(
        `rolled out ${restarted.map((r) => `${describeWorkload(r.workload)} (generation ${r.generation})`).join(', ')}`,
      );
    }
  }

  /** What failed after the commit point: revoking, or (single-user) telling the consumers. */
  function afterCommit(): string {
    const failedIn = lastPhase(status, 'rollback', 'revoke');
    return failedIn === 'revoke' ? 'revoking the old one' : `the ${failedIn} phase`;
  }

  async function revokeOldLogin(found: Inspection): Promise<void> {
    const old = found.revokeUsername;
    if (!old) {
      status.notes.push(
        found.currentUsername
          ? `previous login ${found.currentUsername} is not one of the pair; left as is`
          : 'first rotation: nothing to revoke',
      );
      return;
    }
    if (plan.gracePeriodMs > 0) await sleep(plan.gracePeriodMs);
    status.notes.push(...readerNotes(plan));
    // Usually nothing is left: one quick look; only open sessions need the long, heartbeating wait. The look rides out
    // an outage as the revoke does (a regular activity with its retries); rotations from before look locally.
    let { remaining } = patched('durable-drain-check')
      ? await revoker.waitForDrain(plan, { username: old, timeoutMs: 0 })
      : await io.waitForDrain(plan, { username: old, timeoutMs: 0 });
    if (remaining > 0 && plan.drain.timeoutMs > 0) ({ remaining } = await drainer.waitForDrain(plan, { username: old }));
    if (remaining > 0) status.notes.push(`${remaining} session(s) of ${old} still open after the drain timeout`);
    const { terminatedSessions } = await revoker.revokeLogin(plan, {
      rotationId,
      username: old,
      terminateSessions: remaining > 0 && plan.drain.onTimeout === 'terminate',
    });
    if (terminatedSessions > 0) status.notes.push(`terminated ${terminatedSessions} session(s) of ${old}`);
    status.revokedUsername = old;
  }

  /**
   * Withdraws what a `revoke-incomplete` rotation left valid (the sweep starts this). The same activities as revoke,
   * with the same checks: refused while the store publishes that credential or another rotation holds the secret.
   */
  async function finishEarlierRevoke(left: FinishRevoke): Promise<void> {
    status.notes.push(`finishing the revoke of rotation ${left.rotationId}`);
    if (left.username) {
      const old = left.username;
      status.previousUsername = old;
      const { remaining } = await revoker.waitForDrain(plan, { username: old, timeoutMs: 0 });
      const { terminatedSessions } = await revoker.revokeLogin(plan, {
        rotationId,
        username: old,
        terminateSessions: remaining > 0 && plan.drain.onTimeout === 'terminate',
      });
      if (terminatedSessions > 0) status.notes.push(`terminated ${terminatedSessions} session(s) of ${old}`);
      status.revokedUsername = old;
    } else if (left.version) {
      status.previousVersion = left.version;
      await revoker.removePassword(plan, { rotationId, version: left.version });
      status.notes.push(`withdrew the password of version ${left.version}`);
    }
  }

  async function revokeOldPassword(found: Inspection): Promise<void> {
    const old = found.currentVersion;
    if (!old) {
      status.notes.push('first rotation: no earlier password of ours to withdraw');
      return;
    }
    if (plan.gracePeriodMs > 0) await sleep(plan.gracePeriodMs);
    status.notes.push(...readerNotes(plan));
    await revoker.removePassword(plan, { rotationId, version: old });
    status.revokedUsername = found.nextUsername;
    status.notes.push(`withdrew the password of version ${old}`);
  }
}
