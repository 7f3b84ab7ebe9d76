// What a rotation reports about itself, through the status query and as its result. Shared by workflow and CLI.
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
