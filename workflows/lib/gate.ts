// What people do to a running rotation, and what they can find it by: the approval gate (approve/reject updates and
// the wait for them), the cancel update, and the RotatorOutcome search attribute.
import { CancellationScope, condition, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import {
  approveUpdate,
  cancelUpdate,
  rejectUpdate,
  SEARCH_ATTRIBUTES,
  type ApprovalRecord,
  type CancelRecord,
  type DecisionInput,
  type RotationStatus,
} from '../definitions';
import { checkDecision, describeCancel, refuse } from './decisions';
import { report } from './events';
import { patched } from './patches';

/** What the handlers need to know of the rotation: its status, whether it is past its commit point, its scope. */
export interface Gated {
  readonly secret: string;
  readonly status: RotationStatus;
  /** Whether the plan has an approval gate. */
  readonly gated: boolean;
  readonly committed: () => boolean;
  /** The scope a cancel cancels: everything the rotation does. */
  readonly work: CancellationScope;
}

/** Registers the approve, reject and cancel updates, each with a validator that refuses what cannot be done now. */
export function handleDecisions(rotation: Gated): void {
  setHandler(approveUpdate, decide(rotation, 'approved'), {
    validator: (input) => checkDecisionNow(rotation, input, 'approve'),
  });
  setHandler(rejectUpdate, decide(rotation, 'rejected'), {
    validator: (input) => checkDecisionNow(rotation, input, 'reject'),
  });
  setHandler(cancelUpdate, (input) => cancel(rotation, input), { validator: (input) => checkCancelNow(rotation, input) });
}

/** Waits for `rotator approve` or `reject`, at most `timeoutMs`; true once approved. */
export async function awaitApproval(status: RotationStatus, timeoutMs: number): Promise<boolean> {
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

/**
 * Keeps RotatorOutcome in line with the outcome, for `temporal workflow list --query "RotatorOutcome='rolled-back'"`.
 * Only for a rotation its client started with the search attributes, which the namespace then surely has: an
 * upsert of one it lacks would fail every workflow task from then on.
 */
export function searchableOutcome(status: RotationStatus): void {
  if (workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.secret) === undefined) return;
  if (patched('search-attributes')) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.outcome, value: status.outcome }]);
}

function checkDecisionNow({ secret, status, gated }: Gated, input: unknown, what: 'approve' | 'reject'): void {
  checkDecision(input, what === 'reject');
  // Cancelled at the gate, it is over whatever anyone decides now.
  if (status.cancel) refuse('CONFLICT', `the rotation of ${secret} is being cancelled (${describeCancel(status.cancel)})`);
  if (status.approval?.decision === 'pending') return;
  refuse(
    'CONFLICT',
    !gated
      ? `the rotation of ${secret} needs no approval`
      : status.approval
        ? `the rotation of ${secret} is not waiting for approval: it was ${status.approval.decision}${status.approval.by ? ` by ${status.approval.by}` : ''}`
        : `the rotation of ${secret} is not waiting for approval`,
  );
}

function decide({ status }: Gated, decision: 'approved' | 'rejected') {
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
function checkCancelNow({ secret, status, committed }: Gated, input: DecisionInput): void {
  checkDecision(input, false);
  if (status.outcome !== 'running') refuse('CONFLICT', `the rotation of ${secret} has ended (${status.outcome})`);
  if (status.cancel)
    refuse('CONFLICT', `the rotation of ${secret} is already being cancelled (${describeCancel(status.cancel)})`);
  if (status.phase === 'rollback') refuse('CONFLICT', `the rotation of ${secret} is already rolling back`);
  if (committed())
    refuse(
      'CONFLICT',
      `the rotation of ${secret} is past its commit point (phase ${status.phase}): the new credential is published and ` +
        'verified, so there is nothing to roll back; it finishes on its own',
    );
}

function cancel({ status, work }: Gated, input: DecisionInput): CancelRecord {
  const { by, reason } = checkDecision(input, false);
  const record: CancelRecord = { by, at: Date.now(), ...(reason ? { reason } : {}) };
  status.cancel = record;
  status.notes.push(describeCancel(record));
  report(status, 'cancel.requested', { actor: by, ...(reason ? { detail: reason } : {}) });
  work.cancel();
  return record;
}
