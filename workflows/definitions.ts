// The rotation workflow's contract, defined once: its name, input, status type, query, updates and search attributes.
// Workflow, client, CLI and tests import these; none of them writes a query or update name as a string again.
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { RotationPlan } from '../src/kernel/plan';

/** The workflow type name the client starts and the worker registers (the exported function's name). */
export const ROTATE_SECRET = 'rotateSecret';

/** One rotation per secret: the workflow id is the secret's name, so Temporal itself refuses a second run. */
export function workflowIdFor(secretName: string): string {
  return `rotate/${secretName}`;
}

export interface RotateSecretInput {
  plan: RotationPlan;
  requestedBy?: string;
  /**
   * Set by the sweep for a secret whose last rotation ended `revoke-incomplete`: this run only withdraws what that
   * rotation could not (its old login, or its old password), changing nothing else.
   */
  finishRevoke?: FinishRevoke;
}

/** What a `revoke-incomplete` rotation left valid: one of `username` (alternating-users) or `version` (dual-password). */
export interface FinishRevoke {
  /** The rotation whose revoke did not finish. */
  rotationId: string;
  /** The old login to revoke. */
  username?: string;
  /** The store version whose password to withdraw. */
  version?: string;
}

export type PhaseName = 'approval' | 'create' | 'publish' | 'reconnect' | 'verify' | 'revoke' | 'rollback';

export interface PhaseRecord {
  name: PhaseName;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  /** Whether the phase threw; absent in statuses from before phases recorded it (see src/client/phase-result.ts). */
  failed?: boolean;
}

/**
 * `rejected` and `expired`: a rotation that needed approval and did not get it (a person said no, or nobody answered
 * in time); `cancelled`: a person cancelled it before anything changed. In all three nothing was changed.
 */
export type Outcome =
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rolled-back'
  | 'rollback-incomplete'
  | 'revoke-incomplete'
  | 'rejected'
  | 'expired'
  | 'cancelled';

/** The approval gate of a rotation whose config says `approval: required`. Names of people, never a value. */
export interface ApprovalRecord {
  decision: 'pending' | 'approved' | 'rejected' | 'expired';
  /** Who approved or rejected; null while pending and when it expired. */
  by: string | null;
  /** When it was decided (or expired); null while pending. */
  at: number | null;
  reason?: string;
  /** When the wait ends unanswered. */
  deadline: number;
}

/** A person's request to cancel a running rotation: a cancel before anything changed ends it, after that rolls it back. */
export interface CancelRecord {
  /** Null when it was cancelled through Temporal itself (UI, `temporal workflow cancel`), which names nobody. */
  by: string | null;
  at: number;
  reason?: string;
}

export interface RotationStatus {
  secret: string;
  rotationId: string;
  strategy: 'alternating-users' | 'single-user' | 'dual-password' | 'issued';
  requestedBy: string | null;
  phase: PhaseName | 'done';
  outcome: Outcome;
  startedAt: number;
  endedAt: number | null;
  phases: PhaseRecord[];
  /** Login names and store versions: references, never values. */
  username: string | null;
  previousUsername: string | null;
  version: string | null;
  previousVersion: string | null;
  revokedUsername: string | null;
  notes: string[];
  error: { code: string; message: string } | null;
  /** Absent for rotations that needed no approval, and in statuses of rotations from before the gate existed. */
  approval?: ApprovalRecord | null;
  cancel?: CancelRecord | null;
}

/** What a rotation reports about itself while it runs; the same object is its result. */
export const statusQuery = defineQuery<RotationStatus>('status');

/** Who decides, and why (a reason is required to reject). */
export interface DecisionInput {
  by: string;
  reason?: string;
}

/** Approves a rotation waiting at its approval gate; refused (validator) unless one is waiting. */
export const approveUpdate = defineUpdate<ApprovalRecord, [DecisionInput]>('approve');
/** Rejects a rotation waiting at its approval gate: it ends `rejected`, having changed nothing. */
export const rejectUpdate = defineUpdate<ApprovalRecord, [DecisionInput]>('reject');
/**
 * Cancels a running rotation and records who did: before anything changed it ends `cancelled`, after that it is
 * rolled back. Refused past the commit point, where there is nothing left to roll back.
 */
export const cancelUpdate = defineUpdate<CancelRecord, [DecisionInput]>('cancel');

/**
 * Search attributes of a rotation (Keyword), registered on the namespace: by the local stack at start, by
 * `temporal operator search-attribute create` on a real cluster (docs/approval.md). The client sets them at start; the
 * workflow keeps RotatorOutcome in line with its outcome.
 */
export const SEARCH_ATTRIBUTES = {
  secret: defineSearchAttributeKey('RotatorSecret', 'KEYWORD'),
  outcome: defineSearchAttributeKey('RotatorOutcome', 'KEYWORD'),
  trigger: defineSearchAttributeKey('RotatorTrigger', 'KEYWORD'),
  strategy: defineSearchAttributeKey('RotatorStrategy', 'KEYWORD'),
} as const;
