// One audit record per rotation event: stable field names, every field present (null when it does not apply), every
// string scrubbed of the known secret values. References only: secret and login names, store versions.
import type { RotationEvent } from '../kernel/events';
import { redact } from '../kernel/redact';

export interface AuditRecord {
  /** Tells audit lines from log lines when both go to stdout. */
  type: 'rotator.audit';
  time: string;
  /** The event's number in its run: a line repeated after a worker death has the same (rotationId, seq). */
  seq: number | null;
  kind: RotationEvent['kind'];
  secret: string;
  workflowId: string;
  rotationId: string;
  strategy: string;
  phase: string | null;
  outcome: string | null;
  /** Who or what started the rotation (its requestedBy). */
  trigger: string | null;
  /** Who approved, rejected or cancelled. */
  actor: string | null;
  versions: { from: string | null; to: string | null };
  logins: { from: string | null; to: string | null };
  durationMs: number | null;
  error: { code: string; message: string } | null;
  detail: string | null;
}

/** The record for `event`; `secrets` are values that must never be written, wherever they turned up. */
export function auditRecord(event: RotationEvent, secrets: ReadonlyArray<string> = []): AuditRecord {
  const text = (s: string | null | undefined): string | null => (typeof s === 'string' ? redact(s, secrets) : null);
  return {
    type: 'rotator.audit',
    time: new Date(event.time).toISOString(),
    seq: typeof event.seq === 'number' ? event.seq : null,
    kind: event.kind,
    secret: text(event.secret) ?? '',
    workflowId: text(event.workflowId) ?? '',
    rotationId: text(event.rotationId) ?? '',
    strategy: text(event.strategy) ?? '',
    phase: text(event.phase),
    outcome: text(event.outcome),
    trigger: text(event.trigger),
    actor: text(event.actor),
    versions: { from: text(event.previousVersion), to: text(event.version) },
    logins: { from: text(event.previousUsername), to: text(event.username) },
    durationMs: typeof event.durationMs === 'number' ? event.durationMs : null,
    error: event.error ? { code: text(event.error.code) ?? '', message: text(event.error.message) ?? '' } : null,
    detail: text(event.detail),
  };
}
