// The audit trail read back from Temporal: rotations from visibility, each one's final status from its history (the
// result, or the failure's details) or, while it runs, from its status query. References only, never a value.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { eachLimited } from '../kernel/concurrency';
import { phaseResult, type PhaseResult } from './phase-result';
import { ROTATE_SECRET, workflowIdFor, type RotationStatus } from '../../workflows/definitions';
import { closedStatus, currentStatus } from './rotations';

export interface AuditPhase {
  name: string;
  startedAt: string;
  durationMs: number | null;
  /** As the rotation recorded it (or, for older ones, inferred from the outcome): see src/client/phase-result.ts. */
  result: PhaseResult;
}

/** Someone acting on the execution from outside: a cancel request or a termination, with the client's identity. */
export interface AuditIntervention {
  kind: 'cancel-requested' | 'terminated';
  at: string | null;
  by: string | null;
}

export interface AuditEntry {
  secret: string;
  workflowId: string;
  runId: string;
  rotationId: string | null;
  /** Temporal's status of the execution: RUNNING, COMPLETED, FAILED, TERMINATED, … */
  execution: string;
  /** The rotation's own outcome; null when it left no status (terminated, timed out). */
  outcome: string | null;
  strategy: string | null;
  /** Who or what started it (requestedBy). */
  trigger: string | null;
  startedAt: string;
  endedAt: string | null;
  /** Null for a rotation that needed no approval, or from before approvals existed. */
  approval: { decision: string; by: string | null; at: string | null; reason: string | null } | null;
  /** A person's cancel through rotator (`cancel` update): who, when, why. */
  cancel: { by: string | null; at: string | null; reason: string | null } | null;
  /** Cancel requests and terminations as Temporal recorded them, with the identity of the client that sent them. */
  interventions: AuditIntervention[];
  versions: { from: string | null; to: string | null };
  logins: { from: string | null; to: string | null };
  revoked: string | null;
  phases: AuditPhase[];
  error: { code: string; message: string } | null;
  notes: string[];
}

export interface AuditQuery {
  /** One secret's rotations; all rotations when absent. */
  secret?: string;
  /** Rotations started at or after this. */
  since?: Date;
  /** Newest first, at most this many. */
  limit: number;
  /** Visibility stores cannot all sort: this many runs are listed, sorted, then cut to `limit`. */
  scanAtMost?: number;
}

const { EventType } = temporal.api.enums.v1;

/** The rotations `query` asks for, newest first, each with its phases, approval and references. */
export async function auditTrail(client: Client, query: AuditQuery): Promise<AuditEntry[]> {
  const runs: WorkflowExecutionInfo[] = [];
  for await (const wf of client.workflow.list({ query: visibilityQuery(query) })) {
    if (query.secret && !isRotationOf(wf.workflowId, query.secret)) continue;
    runs.push(wf);
    if (runs.length >= (query.scanAtMost ?? 1000)) break;
  }
  const newest = runs.sort((a, b) => b.startTime.getTime() - a.startTime.getTime()).slice(0, query.limit);
  const entries: AuditEntry[] = new Array(newest.length);
  const indexed = newest.map((run, i) => ({ run, i }));
  await eachLimited(indexed, 8, async ({ run, i }) => {
    entries[i] = await auditEntry(client, run);
  });
  return entries;
}

/** Secret names are checked by the caller (letters, digits, `_.-`), so they need no quoting beyond this. */
export function visibilityQuery({ secret, since }: Pick<AuditQuery, 'secret' | 'since'>): string {
  const id = (secret ? workflowIdFor(secret) : 'rotate/').replace(/'/g, "\\'");
  const parts = [`WorkflowType = '${ROTATE_SECRET}'`, `WorkflowId STARTS_WITH '${id}'`];
  if (since) parts.push(`StartTime >= '${since.toISOString()}'`);
  return parts.join(' AND ');
}

/**
 * `rotate/<secret>` itself, or a Temporal Schedule's run of it (the schedule appends `-<timestamp>`); not
 * `rotate/<secret>_2`, another secret's rotation that the prefix query also finds.
 */
function isRotationOf(workflowId: string, secret: string): boolean {
  const base = workflowIdFor(secret);
  return (
    workflowId === base || (workflowId.startsWith(`${base}-`) && /^\d{4}-\d\d-\d\dT/.test(workflowId.slice(base.length + 1)))
  );
}

async function auditEntry(client: Client, run: WorkflowExecutionInfo): Promise<AuditEntry> {
  const handle = client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false });
  const closed = run.status.name !== 'RUNNING';
  // A run this client cannot read (another deployment's codec key, a history gone with its retention) is still
  // listed, with what visibility says of it: one unreadable run must not hide the others.
  const unreadable: string[] = [];
  const orNothing = <T>(read: Promise<T>, none: T): Promise<T> =>
    read.catch((err: unknown) => {
      unreadable.push(`could not read this rotation's history (${err instanceof Error ? err.name : 'error'})`);
      return none;
    });
  const [status, interventions] = await Promise.all([
    orNothing(closed ? closedStatus(handle).then((s) => s?.status ?? null) : currentStatus(handle, false), null),
    orNothing(interventionsOf(client, run), []),
  ]);
  const iso = (ms: number | null | undefined) => (typeof ms === 'number' ? new Date(ms).toISOString() : null);
  return {
    secret: status?.secret ?? run.workflowId.replace(/^rotate\//, ''),
    workflowId: run.workflowId,
    runId: run.runId,
    rotationId: status?.rotationId ?? null,
    execution: run.status.name,
    outcome: status?.outcome ?? (closed ? null : 'running'),
    strategy: status?.strategy ?? null,
    trigger: status?.requestedBy ?? null,
    startedAt: iso(status?.startedAt) ?? run.startTime.toISOString(),
    endedAt: iso(status?.endedAt) ?? run.closeTime?.toISOString() ?? null,
    approval: approvalOf(status),
    cancel: cancelOf(status),
    interventions,
    versions: { from: status?.previousVersion ?? null, to: status?.version ?? null },
    logins: { from: status?.previousUsername ?? null, to: status?.username ?? null },
    revoked: status?.revokedUsername ?? null,
    phases: status ? phasesOf(status) : [],
    error: status?.error ?? null,
    notes: [...(status?.notes ?? []), ...new Set(unreadable)],
  };
}

/** The approval gate's record; rotations from before it have no `approval` field at all. */
function approvalOf(status: RotationStatus | null): AuditEntry['approval'] {
  const approval = (status as { approval?: unknown } | null)?.approval as
    { decision?: unknown; by?: unknown; at?: unknown; reason?: unknown } | null | undefined;
  if (!approval || typeof approval !== 'object' || typeof approval.decision !== 'string') return null;
  const at = approval.at;
  return {
    decision: approval.decision,
    by: typeof approval.by === 'string' ? approval.by : null,
    at: typeof at === 'number' ? new Date(at).toISOString() : typeof at === 'string' ? at : null,
    reason: typeof approval.reason === 'string' ? approval.reason : null,
  };
}

/** Cancelled through rotator; absent in statuses from before cancel recorded who. */
function cancelOf(status: RotationStatus | null): AuditEntry['cancel'] {
  const cancel = (status as { cancel?: unknown } | null)?.cancel as
    { by?: unknown; at?: unknown; reason?: unknown } | null | undefined;
  if (!cancel || typeof cancel !== 'object') return null;
  return {
    by: typeof cancel.by === 'string' ? cancel.by : null,
    at: typeof cancel.at === 'number' ? new Date(cancel.at).toISOString() : null,
    reason: typeof cancel.reason === 'string' ? cancel.reason : null,
  };
}

function phasesOf(status: RotationStatus): AuditPhase[] {
  return status.phases.map((p) => ({
    name: p.name,
    startedAt: new Date(p.startedAt).toISOString(),
    durationMs: p.durationMs,
    result: phaseResult(status, p),
  }));
}

/** Cancel requests and terminations are in history with the identity of the client that sent them. */
async function interventionsOf(client: Client, run: WorkflowExecutionInfo): Promise<AuditIntervention[]> {
  const history = await client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false }).fetchHistory();
  const out: AuditIntervention[] = [];
  for (const e of history.events ?? []) {
    const at =
      e.eventTime?.seconds != null
        ? new Date(Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6)).toISOString()
        : null;
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
      out.push({ kind: 'cancel-requested', at, by: e.workflowExecutionCancelRequestedEventAttributes?.identity || null });
    else if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED)
      out.push({ kind: 'terminated', at, by: e.workflowExecutionTerminatedEventAttributes?.identity || null });
  }
  return out;
}
