// What a failure inside a workflow was, as our error code and a sentence: activity failures wrap the one that counts.
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';

export interface FailureSummary {
  code: string;
  message: string;
}

export function describeFailure(err: unknown): FailureSummary {
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'the workflow was cancelled' };
  let e: unknown = err;
  while (e instanceof Error && !(e instanceof ApplicationFailure) && (e as { cause?: unknown }).cause)
    e = (e as { cause?: unknown }).cause;
  if (e instanceof ApplicationFailure) return { code: e.type ?? 'UNKNOWN', message: e.message };
  return { code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}
