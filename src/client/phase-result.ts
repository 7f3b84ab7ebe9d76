// Whether a phase of a rotation completed or failed, decided once for every view (rotate --wait, status, audit).
import type { PhaseRecord, RotationStatus } from '../../workflows/definitions';

export type PhaseResult = 'completed' | 'failed' | 'running';

export const PHASE_MARK: Record<PhaseResult, string> = { completed: '✓', failed: '✗', running: '…' };

/**
 * Outcomes in which the last phase before the end (or before the rollback) did not finish its work. Not rejected or
 * expired: their approval phase completed, with a decision (or its absence).
 */
const FAILED_OUTCOMES = new Set(['failed', 'rolled-back', 'rollback-incomplete', 'revoke-incomplete', 'cancelled']);

/**
 * A phase's result as the workflow recorded it (`failed`); for statuses from before it did, inferred: the last phase
 * before the rollback (or the end) of a rotation that failed, or that is failing now (an error, still running).
 */
export function phaseResult(status: RotationStatus, p: PhaseRecord): PhaseResult {
  if (p.endedAt === null) return 'running';
  if (p.failed === true) return 'failed';
  // A rollback that could not undo everything ends without throwing: its outcome says so.
  if (p.name === 'rollback') return status.outcome === 'rollback-incomplete' ? 'failed' : 'completed';
  if (p.failed === false) return 'completed';
  const failing = FAILED_OUTCOMES.has(status.outcome) || (status.outcome === 'running' && status.error !== null);
  return failing && p === status.phases.filter((x) => x.name !== 'rollback').at(-1) ? 'failed' : 'completed';
}
