// The named timeouts and retry policies of rotator's workflows, each with the reason it is what it is.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_CODES } from '../../src/kernel/errors';

const NON_RETRYABLE = [...NON_RETRYABLE_CODES];

/**
 * One store or database call. These run as local activities: each takes milliseconds, and a local activity saves
 * the two task round trips through the server that a regular one costs (the bench measured a rotation at ~450 ms
 * with regular activities against ~100 ms with local ones). Their results reach history only when the workflow
 * task completes, so after a worker death the next worker runs *every* step since the last completed task again,
 * in order, against a store and a database those steps already changed. Each step is therefore written to reach
 * the same decision and the same end state when run again for the same rotation id (see activities/rotation.ts).
 */
export const SHORT_IO: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  localRetryThreshold: '10s',
  retry: {
    initialInterval: '200ms',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 6,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/**
 * The heartbeat timeout of a regular step that makes one or a few requests (restore, withdraw, compensate): the
 * worker heartbeats for it while it runs (activities/guarded.ts), so a worker that dies mid-step is noticed within
 * this, and another worker runs the step again, instead of the server waiting out the step's whole 30 s timeout.
 */
export const STEP_HEARTBEAT_TIMEOUT = '5s';

/** How long a rotation rides out an outage of its store or database when its config does not say (`outage_tolerance`). */
export const DEFAULT_OUTAGE_TOLERANCE_MS = 60_000;

/**
 * A forward step (inspect, stage, apply, promote, reconnect) that rides out an ordinary failover of the store or the
 * database: a TRANSIENT failure (the server unreachable, restarting, frozen) is retried until `toleranceMs` have
 * passed since the step was scheduled, never more than 2 s apart, so the step goes on within 2 s of the server being
 * back (single-user's window outlives an outage by at most that). A refusal (PERMISSION_DENIED, CONFLICT, NOT_FOUND,
 * …) fails at once. Retries are local (below `localRetryThreshold`), so they change nothing in history.
 */
export function forwardIo(toleranceMs: number): LocalActivityOptions {
  return {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: toleranceMs,
    localRetryThreshold: '10s',
    retry: {
      initialInterval: '200ms',
      backoffCoefficient: 2,
      maximumInterval: '2s',
      maximumAttempts: Number.POSITIVE_INFINITY,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

/**
 * Logging in with the new credential. A refused login (VERIFY_FAILED, after the activity's own few quick tries) fails
 * at once; a target that cannot be reached (TRANSIENT) is waited for like every forward step.
 */
export function verifyLogin(toleranceMs: number): LocalActivityOptions {
  const options = forwardIo(toleranceMs);
  return { ...options, retry: { ...options.retry, nonRetryableErrorTypes: [...NON_RETRYABLE, 'VERIFY_FAILED'] } };
}

/**
 * Putting single-user's old password back. Until it is back, every consumer holding the store's credential is
 * refused, so it never gives up on an outage (only a refusal ends it), and retries at most 2 s apart, so the
 * window ends within 2 s of the database answering again.
 */
export const RESTORE: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '2s',
    maximumAttempts: Number.POSITIVE_INFINITY,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/** Logging in with the new credential: a few quick tries, then it is a verify failure, not an outage. */
export const VERIFY_LOGIN: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '250ms', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Withdrawing the old credential cannot be undone, so it is a regular activity: scheduling it completes the
 * workflow task, which makes every decision before it durable, and the step itself is then retried by the server
 * rather than run again by a replay.
 */
export const IRREVERSIBLE: ActivityOptions = {
  // As long as a forward step's: each request it makes ends within REQUEST_TIMEOUT_MS (activities/timeouts.ts), so
  // an attempt that hangs on a frozen server has failed on its own before the server starts its retry.
  startToCloseTimeout: '30s',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: { ...SHORT_IO.retry, maximumAttempts: 10 },
};

/**
 * Issuing a leased credential: up to five engine and store calls of up to 30 s each (the engine's request timeout),
 * so a slow engine ends the attempt itself instead of the server starting a second one beside it. The activity
 * heartbeats while it works, so a worker that dies is noticed in seconds, not at the end of the three minutes.
 */
export const ISSUE: ActivityOptions = {
  startToCloseTimeout: '3m',
  heartbeatTimeout: '10s',
  retry: { ...SHORT_IO.retry, maximumAttempts: 5 },
};

/**
 * Undoing a change must get through an outage of a few minutes, so it retries far longer than a forward step, as a
 * regular activity whose retries the server schedules: they survive worker restarts.
 */
export const COMPENSATE: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 30,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/**
 * Telling a consumer of the old version again, in a rollback, before the new credential is withdrawn: a few tries
 * only. A consumer that still cannot be told (it may never have taken the new one) is named in the notes, and the
 * rollback goes on rather than leaving the new credential valid while the consumer stays down.
 */
export const TELL_AGAIN: ActivityOptions = {
  ...COMPENSATE,
  retry: { ...COMPENSATE.retry, maximumAttempts: 3 },
};

/** A wait that heartbeats (drain, rollout): as long as the wait itself, plus room for the last check. */
export function heartbeatingWait(waitMs: number): ActivityOptions {
  return { startToCloseTimeout: waitMs + 30_000, heartbeatTimeout: '15s', retry: SHORT_IO.retry };
}

/**
 * The sweep's assessment of every configured secret: reading every store takes a while at 10,000 secrets, so a
 * regular activity that heartbeats its progress; three attempts, since the next sweep assesses them all again anyway.
 */
export const ASSESS: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 3 },
};
