// Rotation events out of the workflow: through the `rotator` sink, which the worker registers with
// callDuringReplay false, so a replayed workflow does not report its phases twice.
import { proxySinks, workflowInfo } from '@temporalio/workflow';
import type { RotationEvent, RotationEventKind, RotatorSinks } from '../../src/kernel/events';
import type { RotationStatus } from '../definitions';

const { rotator } = proxySinks<RotatorSinks>();

/** Events reported so far per run: workflow state, so a replay numbers them the same. */
const reported = new WeakMap<RotationStatus, number>();

/** Reports `kind` for the rotation `status` describes, with its current references (never a value). */
export function report(
  status: RotationStatus,
  kind: RotationEventKind,
  extra: Partial<Omit<RotationEvent, 'kind' | 'time' | 'secret' | 'workflowId' | 'rotationId'>> = {},
): void {
  const seq = (reported.get(status) ?? 0) + 1;
  reported.set(status, seq);
  rotator.event({
    kind,
    time: Date.now(),
    seq,
    secret: status.secret,
    workflowId: workflowInfo().workflowId,
    rotationId: status.rotationId,
    strategy: status.strategy,
    trigger: status.requestedBy,
    version: status.version,
    previousVersion: status.previousVersion,
    username: status.username,
    previousUsername: status.previousUsername,
    ...extra,
  });
}
