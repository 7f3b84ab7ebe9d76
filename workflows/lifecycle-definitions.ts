// The lifecycle workflows' contract (scheduled rotation, the sweep, the lease keeper): names, ids, inputs, results.
// Workflow, client, CLI and tests import these; none of them writes a workflow type or an id prefix again.
import { defineQuery } from '@temporalio/workflow';
import type { Outcome } from './definitions';

export const SCHEDULED_ROTATION = 'scheduledRotation';
export const SWEEP = 'sweep';
export const KEEP_LEASE = 'keepLease';

/** Schedules rotator creates carry this prefix; sync touches no schedule without it. */
export const SCHEDULE_PREFIX = 'rotator/';
export const scheduleIdFor = (secret: string): string => `${SCHEDULE_PREFIX}rotate/${secret}`;
export const SWEEP_SCHEDULE_ID = `${SCHEDULE_PREFIX}sweep`;
/** The Schedule appends the scheduled time to these, so each run has its own id; the rotation's own id stays `rotate/<secret>`. */
export const scheduledWorkflowIdFor = (secret: string): string => `scheduled/${secret}`;
export const SWEEP_WORKFLOW_ID = 'sweep';
/** One keeper per dynamic secret. */
export const keeperIdFor = (secret: string): string => `keep/${secret}`;

export type Trigger = 'schedule' | 'sweep' | 'cli' | `event:${string}`;

export interface ScheduledRotationInput {
  secret: string;
  trigger?: Trigger;
}

export interface AttemptRecord {
  rotationId: string | null;
  outcome: Outcome | 'already-running';
  error: string | null;
}

/** `skipped` carries its reason: already running, needs a human, no longer configured. */
export type ScheduledOutcome = 'succeeded' | 'skipped' | 'needs-human';

export interface ScheduledRotationResult {
  secret: string;
  outcome: ScheduledOutcome;
  reason: string | null;
  attempts: AttemptRecord[];
  /** When the run waited for the secret's window to open, until when (epoch ms). */
  waitedUntil: number | null;
}

/** The sweep's report lists this many secrets that are not ok: its result is in history, which caps payloads at 2 MB. */
export const NOT_OK_LISTED = 500;

/** Outcomes another try cannot mend: something is half-done and a person must look. */
export const STUCK_OUTCOMES: ReadonlyArray<string> = ['rollback-incomplete', 'revoke-incomplete'];

/** A secret's standing as the sweep and `rotator expiry` report it. */
export type SecretState = 'ok' | 'due' | 'overdue' | 'failing' | 'needs-human';

export interface SecretAssessment {
  secret: string;
  state: SecretState;
  /** When the current version was published (epoch ms), if the store can tell. */
  lastRotated: number | null;
  /** When it stops being acceptable: max_age reached, a login's VALID UNTIL, a lease's expiry (epoch ms). */
  expires: number | null;
  /** Why it is in this state, in a few words (never a value). */
  reasons: string[];
}

export interface SweepStart {
  secret: string;
  /** Workflow time at the start (epoch ms): the rate cap is checked against these. */
  at: number;
  outcome: Outcome | 'already-running';
  error?: string;
  /** This run only withdrew what an earlier `revoke-incomplete` rotation left valid. */
  finishesRevoke?: true;
}

export interface SweepReport {
  at: number;
  assessed: number;
  counts: Record<SecretState, number>;
  /**
   * The secrets not `ok`, with their reasons: the most severe first (needs-human, failing, overdue, due), the most
   * urgent first within a state (at most NOT_OK_LISTED; `counts` has them all).
   */
  notOk: SecretAssessment[];
  started: SweepStart[];
  /** Most rotations the sweep had running at once. */
  peakConcurrent: number;
  /** What the sweep could not do (a keeper that would not start), one sentence each. */
  problems: string[];
}

/** `starting`: paced, its first task is still ahead (never set by the keeper itself). */
export type KeeperPhase = 'starting' | 'issuing' | 'renewing' | 'waiting' | 'reissuing' | 'grace' | 'revoking' | 'stopped';

export interface KeptLease {
  leaseId: string;
  username: string;
  /** The store version that publishes this credential. */
  version: string;
  issuedAt: number;
  /** When the lease ends unless renewed (epoch ms): at issue as the engine granted it, then as each renewal did. */
  expiresAt: number;
  /** What the engine granted last (at issue or renewal), and at issue: renewals and re-issues are timed from these. */
  lastDurationMs: number;
  initialDurationMs: number;
  /** issue + the role's max_ttl (epoch ms), when the engine said: renewals cannot go past it. */
  hardEndAt: number | null;
  /** It cannot be renewed further (the engine capped a renewal, refused one, or the lease is not renewable). */
  capped: boolean;
  /** The last renewal failed on an outage: try again at this time (epoch ms); replace it if that does not help in time. */
  retryRenewAt: number | null;
  renewals: number;
  /** When the keeper published this credential (epoch ms, the workflow's clock); absent before paced-reissue. */
  publishedAt?: number;
}

/** How many irrevocable leases the state lists (newest last); `irrevocableTotal` counts them all. */
export const IRREVOCABLE_LISTED = 20;

export interface KeeperState {
  secret: string;
  /** Credentials issued, across continue-as-new; part of each credential's claim id in the store. */
  generation: number;
  current: KeptLease | null;
  /** Old leases to revoke once their grace period ends (epoch ms), soonest first: the loop keeps renewing meanwhile. */
  revokeQueue: Array<{ leaseId: string; at: number }>;
  /** Leases whose revoke gave up after the configured tries: the engine holds them, rotator no longer does. */
  irrevocable: Array<{ leaseId: string; error: string }>;
  irrevocableTotal: number;
  /** Old leases revoked so far (count, across continue-as-new). */
  revoked: number;
  /** Renewals made, across leases and continue-as-new. */
  renewed: number;
  /** Leases that ran out before the keeper renewed or replaced them (the engine no longer knew them). */
  lost: number;
  phase: KeeperPhase;
  nextActionAt: number | null;
  lastError: string | null;
  /** What the operator should fix though nothing failed (a lease too short for its grace period); absent before it. */
  warning?: string | null;
  /** How late the last few renewals ran against their due time (ms, newest last); absent on keepers before it. */
  renewLateMs?: number[];
}

/** A keeper's state before it has done anything: its first run's, and `rotator status` of one not yet begun. */
export function initialKeeperState(secret: string, phase: KeeperPhase): KeeperState {
  return {
    secret,
    generation: 0,
    current: null,
    revokeQueue: [],
    irrevocable: [],
    irrevocableTotal: 0,
    revoked: 0,
    renewed: 0,
    lost: 0,
    phase,
    nextActionAt: null,
    lastError: null,
  };
}

export interface KeepLeaseInput {
  secret: string;
  /** Carried over by continue-as-new; absent on the first run. */
  state?: KeeperState;
  /**
   * The patch ids the run before this one took (carried by continue-as-new): this run takes them too without asking,
   * so it records no marker for them. Absent on a first run and on one continued from a keeper before patch-once.
   */
  patches?: string[];
}

export const keeperStatusQuery = defineQuery<KeeperState>('keeperStatus');
export const sweepStatusQuery = defineQuery<SweepReport | null>('sweepStatus');

export const TRIGGER_ROTATION = 'triggerRotation';

/** What a trigger workflow is told: the mapped secret and action, and the event, by reference (no field can hold a value). */
export interface TriggerInput {
  secret: string;
  action: 'rotate' | 'rotate-if-due' | 'alert' | 'reconcile';
  event: { source: string; id: string; type: string; resource: string; time: number };
}

export type TriggerOutcome = Outcome | 'joined' | 'skipped' | 'alerted';

export interface TriggerResult {
  secret: string;
  outcome: TriggerOutcome;
  /** Why nothing was rotated (not due, in sync, not rotatable), or what the rotation ended with. */
  reason: string | null;
  /** The rotation that answers the event: started by it, or one already running or started after the event. */
  rotationId: string | null;
}
