// What a failure inside a workflow was, as our error code and a sentence: activity failures wrap the one that counts.
import { ActivityFailure, ApplicationFailure, isCancellation, TimeoutFailure } from '@temporalio/workflow';

export interface FailureSummary {
  code: string;
  message: string;
}

const TIMEOUTS: Record<string, string> = {
  START_TO_CLOSE: 'its start-to-close timeout',
  SCHEDULE_TO_CLOSE: 'its schedule-to-close timeout',
  SCHEDULE_TO_START: 'its schedule-to-start timeout',
  HEARTBEAT: 'its heartbeat timeout',
};

export function describeFailure(err: unknown): FailureSummary {
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'the workflow was cancelled' };
  let e: unknown = err;
  let step: string | undefined;
  while (e instanceof Error && !(e instanceof ApplicationFailure) && (e as { cause?: unknown }).cause) {
    if (e instanceof ActivityFailure) step = e.activityType;
    e = (e as { cause?: unknown }).cause;
  }
  // The step's own failure, named by the step when its message does not already say which (an outage message names
  // the system; the reader also needs to know whether it was the revoke or the release that met it).
  if (e instanceof ApplicationFailure) {
    const message = step && !e.message.includes(step) ? `${step}: ${e.message}` : e.message;
    return { code: e.type ?? 'UNKNOWN', message };
  }
  // A step that ran into Temporal's own timeout (its clients' request timeouts should end it first): an outage, not
  // "[UNKNOWN] Local Activity timed out".
  if (e instanceof TimeoutFailure) {
    const limit = (e.timeoutType && TIMEOUTS[e.timeoutType]) ?? 'its timeout';
    return { code: 'TRANSIENT', message: `step ${step ?? '(unknown)'} did not finish within ${limit}` };
  }
  return { code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}
