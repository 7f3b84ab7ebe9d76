// The rotation workflow's contract, defined once: its name, input, status type and query. Workflow, client, CLI and
// tests import these; none of them writes a query name or a workflow type as a string again.
import { defineQuery } from '@temporalio/workflow';
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
}

export type PhaseName = 'create' | 'publish' | 'reconnect' | 'verify' | 'revoke' | 'rollback';

export interface PhaseRecord {
  name: PhaseName;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
}

export type Outcome = 'running' | 'succeeded' | 'failed' | 'rolled-back' | 'rollback-incomplete' | 'revoke-incomplete';

export interface RotationStatus {
  secret: string;
  rotationId: string;
  strategy: 'alternating-users' | 'single-user' | 'dual-password';
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
}

/** What a rotation reports about itself while it runs; the same object is its result. */
export const statusQuery = defineQuery<RotationStatus>('status');
