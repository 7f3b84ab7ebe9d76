// The mass rotation's contract (`rotator rotate --all | --selector`) and its write budget: names, ids, inputs,
// results, queries and the budget's update. Workflow, activities, client, CLI and tests import these.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Outcome } from './definitions';

export const MASS_ROTATION = 'massRotation';
export const WRITE_BUDGET = 'writeBudget';

/**
 * One write budget per key (a provider) and task queue (the provider names are the config's, and a config serves one
 * task queue), shared by every rotation that names it, across mass runs.
 */
export const writeBudgetIdFor = (taskQueue: string, key: string): string => `write-budget/${taskQueue}/${key}`;

export interface MassRotationInput {
  /** `--all` or the selector as written (for the summary). */
  selector: string;
  /** The secrets this run rotates, in order. */
  secrets: string[];
  /** Secrets an earlier run of the same selection rotated: not started again. */
  done: string[];
  /** Rotations in flight at once. */
  maxConcurrent: number;
  requestedBy: string;
  /** Carried over by continue-as-new: the outcomes so far and when the run began. */
  carried?: { results: Record<string, MassEntry>; startedAt: number };
}

/** `already-done`: an earlier run of this selection rotated it; `already-running`: another rotation of it ran. */
export type MassOutcome = Outcome | 'already-running' | 'already-done';

export interface MassEntry {
  outcome: MassOutcome;
  rotationId?: string | null;
  /** The rotation's error code and message (never a value), when it did not succeed. */
  code?: string;
  error?: string;
}

export interface MassProgress {
  selector: string;
  total: number;
  /** Not started yet. */
  waiting: number;
  running: number;
  /** Ended, by outcome (already-done included). */
  counts: Partial<Record<MassOutcome, number>>;
  startedAt: number;
  /** Null while it runs. */
  endedAt: number | null;
  /** The write budgets in use, by provider (requests per second). */
  budgets: Record<string, number>;
}

export interface MassResult extends MassProgress {
  results: Record<string, MassEntry>;
}

export const massProgressQuery = defineQuery<MassProgress>('massProgress');

/** `n` write tokens of budget `perSecond`; answered with how long the caller waits before it sends them. */
export interface SlotRequest {
  perSecond: number;
  n: number;
  /** How late after the grant the writes may reach the store (the asker sends only if on time by it); default 150 ms. */
  lateMs?: number;
}

export interface SlotGrant {
  /** Wait this long from the answer, by the caller's own clock. */
  delayMs: number;
  /** The grant in the budget's clock (the Temporal server's): its log only, never compared with a worker's clock. */
  at: number;
}

export const takeSlotsUpdate = defineUpdate<SlotGrant, [SlotRequest]>('takeSlots');

/**
 * A lease on a share of budget `perSecond`: up to `want` tokens per window for `leaseMs`, for one asking process
 * (`holder`). Asked again before it runs out, it goes on; a holder that stops asking (a dead worker) gives its share
 * back when the lease and one window have passed.
 */
export interface LeaseRequest {
  perSecond: number;
  /** The asking process (one per worker process and budget): a holder's own earlier leases never count against it. */
  holder: string;
  /** Tokens per window wanted (at most the budget's capacity). */
  want: number;
  leaseMs: number;
}

export interface LeaseGrant {
  /** Tokens per window the holder may send, counted from the answer, by its own clock, for `leaseMs` from its ask. */
  tokens: number;
  leaseMs: number;
  /** The window its sends are counted in, by its own clock (the budget's window plus the slack for transit). */
  windowMs: number;
  /** With no tokens: ask again after this long. */
  retryMs: number;
}

export const leaseTokensUpdate = defineUpdate<LeaseGrant, [LeaseRequest]>('leaseTokens');

export interface WriteBudgetInput {
  /** Grants still inside the window, carried over by continue-as-new. */
  grants?: Array<{ at: number; n: number; lateMs?: number }>;
  /** How long a grant counts (the longest window asked for), carried over by continue-as-new. */
  keepMs?: number;
  /** How long without a request before the budget ends (default 5 min; tests shorten it). */
  idleMs?: number;
  /** Leases still counting, and when each holder last asked, carried over by continue-as-new. */
  leases?: Array<{ holder: string; from: number; until: number; tokens: number; windowMs: number }>;
  askers?: Record<string, number>;
}
