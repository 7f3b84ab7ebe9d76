// rotateSecret: [approval →] create → publish → reconnect → verify → revoke, undoing every change in reverse if a step
// fails or a person cancels it. The phases are in ./rotation/steps, each strategy's order in its module
// (./rotation/<strategy>), how a failed rotation ends in ./rotation/settle; the approval, cancel and search-attribute
// plumbing in ./lib/gate.
import { CancellationScope, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { statusQuery, type RotateSecretInput, type RotationStatus } from './definitions';
import { describeCancel } from './lib/decisions';
import { report } from './lib/events';
import { describeFailure } from './lib/failures';
import { awaitApproval, handleDecisions, searchableOutcome } from './lib/gate';
import { Rotation } from './rotation/context';
import { finishEarlierRevoke } from './rotation/revoke';
import { convergeUnstarted, ended, incompleteConvergence } from './rotation/settle';
import { commitThen, release } from './rotation/steps';
import { STRATEGIES } from './rotation/strategies';
import { askedAtStart, patched } from './lib/patches';

export async function rotateSecret({ plan, requestedBy, finishRevoke }: RotateSecretInput): Promise<RotationStatus> {
  // First, before anything awaits: a run that takes it asks no patch mid-run (see ASKED_WHERE_THEY_BRANCH).
  askedAtStart(patched('asked-at-start'));
  const status: RotationStatus = {
    secret: plan.secret,
    rotationId: workflowInfo().firstExecutionRunId,
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
  const r = new Rotation(plan, STRATEGIES[plan.strategy], status.rotationId, status, new CancellationScope());
  handleDecisions({
    secret: plan.secret,
    status,
    gated: !!plan.approval,
    committed: () => r.saga.committed,
    work: r.work,
  });

  report(status, 'rotation.started');
  try {
    const approved = await r.work.run(async () => {
      // Only a revoke an earlier rotation left unfinished: already approved, verified and published back then.
      if (finishRevoke) {
        await commitThen(r, () =>
          r.phase('revoke', () =>
            r.strategy.finishRevoke ? r.strategy.finishRevoke(r, finishRevoke) : finishEarlierRevoke(r, finishRevoke),
          ),
        );
        return true;
      }
      // Before anything is read or changed; rotations started before the gate existed have no approval in their plan.
      if (plan.approval && patched('approval-gate')) {
        if (!(await r.phase('approval', () => awaitApproval(status, plan.approval!.timeoutMs)))) {
          if ((await convergeUnstarted(r)) === 'incomplete') throw incompleteConvergence();
          return false;
        }
        // The approval is accepted in the workflow task that goes on to the local steps; until that task completes,
        // history does not hold it, and a Temporal restart would lose it with the changes kept. A timer ends the task
        // here, so the decision is in history before anything changes.
        if (patched('durable-approval')) await sleep(1);
      }
      if (patched('consumer-steps')) {
        r.reconnectPlan = (plan.consumers ?? []).length > 0 ? await r.consumers.planReconnect(plan) : { steps: [], notes: [] };
        status.notes.push(...r.reconnectPlan.notes);
      }
      // create → publish → reconnect → verify → revoke, in the strategy's order, with its commit point.
      await r.strategy.run(r);
      if (!r.released) await release(r);
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
    throw await ended(r, err);
  } finally {
    status.endedAt = Date.now();
    report(status, 'rotation.ended', { outcome: status.outcome, error: status.error });
    searchableOutcome(status);
  }
  return status;
}
