// Human-readable lines for the CLI: phases with timings, outcomes, run summaries. References only, no values.
import type { RunSummary } from '../client/rotations';
import type { PhaseRecord, RotationStatus } from '../../workflows/definitions';
import { PHASE_MARK, phaseResult } from '../client/phase-result';

/** A phase as every view prints it: its mark (✓ ✗ …, the same in rotate --wait, status and audit) and duration. */
export function formatPhase(s: RotationStatus, p: PhaseRecord): string {
  return `  ${PHASE_MARK[phaseResult(s, p)]} ${p.name.padEnd(10)} ${p.durationMs === null ? 'running' : `${p.durationMs} ms`}`;
}

/** `withPhases: false` when the phases were already printed live, as `rotate --wait` does. */
export function formatStatus(s: RotationStatus, withPhases = true): string {
  const lines = [
    `${s.secret}: ${s.outcome}${s.outcome === 'running' ? ` (phase ${s.phase})` : ''}`,
    `  strategy   ${s.strategy}`,
    `  login      ${s.previousUsername ?? '(none)'} → ${s.username ?? '?'}`,
    `  version    ${s.previousVersion ?? '(none)'} → ${s.version ?? '(not published)'}`,
  ];
  if (s.revokedUsername) lines.push(`  revoked    ${s.revokedUsername}`);
  if (withPhases) for (const p of s.phases) lines.push(formatPhase(s, p));
  if (s.endedAt) lines.push(`  total      ${s.endedAt - s.startedAt} ms`);
  for (const n of s.notes) lines.push(`  note: ${n}`);
  if (s.error) lines.push(`  error: [${s.error.code}] ${s.error.message}`);
  return lines.join('\n');
}

export function formatRun(r: RunSummary): string {
  const closed = r.closeTime ? ` → ${r.closeTime.toISOString()}` : '';
  return `${(r.outcome ?? r.status.toLowerCase()).padEnd(19)} ${r.startTime.toISOString()}${closed}  run ${r.runId}`;
}
