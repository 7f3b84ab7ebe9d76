// Starting rotateSecret from another workflow under the secret's own id, so it shares the one-rotation-per-secret guard.
import {
  ApplicationFailure,
  ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  ParentClosePolicy,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { RotationPlan } from '../../src/kernel/plan';
import { workflowIdFor, type FinishRevoke, type Outcome, type RotationStatus } from '../definitions';
import type { rotateSecret } from '../rotate-secret';
import { describeFailure } from './failures';

export interface ChildRotation {
  rotationId: string | null;
  outcome: Outcome | 'already-running';
  /** The rotation's error code (CANCELLED when a person cancelled it) and message, when it did not succeed. */
  code?: string;
  error: string | null;
}

/**
 * Runs one rotation of `plan` to its end. The child gets the id `rotate/<secret>`, the id the CLI uses, so Temporal
 * refuses it while any other rotation of the secret runs: that comes back as `already-running`, and nothing starts.
 * The child is abandoned, not terminated, if this workflow ends first: a rotation must never be cut off mid-way.
 */
export async function rotateAsChild(
  plan: RotationPlan,
  requestedBy: string,
  finishRevoke?: FinishRevoke,
): Promise<ChildRotation> {
  let child;
  try {
    child = await startChild<typeof rotateSecret>('rotateSecret', {
      workflowId: workflowIdFor(plan.secret),
      args: [{ plan, requestedBy, ...(finishRevoke ? { finishRevoke } : {}) }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // Cancelling the caller (a sweep, a scheduled run) must not cancel a rotation half-way either.
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      // The same task timeout as a rotation started by the client (src/client/rotations.ts): it bounds the stall
      // after a worker death.
      workflowTaskTimeout: '3s',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { rotationId: null, outcome: 'already-running', error: null };
    throw err;
  }
  try {
    const status = await child.result();
    return { rotationId: status.rotationId, outcome: status.outcome, error: null };
  } catch (err) {
    const failure = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const status = failure instanceof ApplicationFailure ? (failure.details?.[0] as RotationStatus | undefined) : undefined;
    return {
      rotationId: status?.rotationId ?? child.firstExecutionRunId,
      outcome: status?.outcome ?? 'failed',
      code: status?.error?.code ?? describeFailure(err).code,
      error: status?.error?.message ?? describeFailure(err).message,
    };
  }
}
