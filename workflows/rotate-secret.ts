// rotateSecret: create → publish → reconnect → verify → revoke, undoing every change in reverse if a step fails.
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Inspection, RotationActivities } from '../activities/rotation';
import type { PromoteResult } from '../activities/types';
import { assertNever, NON_RETRYABLE_CODES } from '../src/errors';
import type { RotationPlan } from '../src/plan';
import type { PhaseName, PhaseRecord, RotationStatus } from './status';

const NON_RETRYABLE = [...NON_RETRYABLE_CODES];

/**
 * One store or database call. These run as local activities: each takes milliseconds, and a local activity saves
 * the two task round trips through the server that a regular one costs (the bench measured a rotation at ~450 ms
 * with regular activities against ~100 ms with local ones). Their results reach history only when the workflow
 * task completes, so after a worker death the next worker runs *every* step since the last completed task again,
 * in order, against a store and a database those steps already changed. Each step is therefore written to reach
 * the same decision and the same end state when run again for the same rotation id (see activities/rotation.ts).
 */
const SHORT_IO: LocalActivityOptions = {
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

/** Logging in with the new credential: a few quick tries, then it is a verify failure, not an outage. */
const VERIFY_LOGIN: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '250ms', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Undoing a change must get through an outage of a few minutes, so it retries far longer than a forward step, as a
 * regular activity whose retries the server schedules: they survive worker restarts.
 */
const COMPENSATE: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 30,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/**
 * Withdrawing the old credential cannot be undone, so it is a regular activity: scheduling it completes the
 * workflow task, which makes every decision before it durable, and the step itself is then retried by the server
 * rather than run again by a replay.
 */
const REVOKE: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { ...SHORT_IO.retry, maximumAttempts: 10 },
};

const io = proxyLocalActivities<RotationActivities>(SHORT_IO);
const verifier = proxyLocalActivities<RotationActivities>(VERIFY_LOGIN);
const revoker = proxyActivities<RotationActivities>(REVOKE);
const undo = proxyActivities<RotationActivities>(COMPENSATE);

export const statusQuery = defineQuery<RotationStatus>('status');

export interface RotateSecretInput {
  plan: RotationPlan;
  requestedBy?: string;
}

export async function rotateSecret({ plan, requestedBy }: RotateSecretInput): Promise<RotationStatus> {
  const { runId } = workflowInfo();
  const status: RotationStatus = {
    secret: plan.secret,
    rotationId: runId,
    strategy: plan.strategy,
    requestedBy: requestedBy ?? null,
    phase: 'create',
    outcome: 'running',
    startedAt: Date.now(),
    endedAt: null,
    phases: [],
    username: null,
    previousUsername: null,
    version: null,
    previousVersion: null,
    revokedUsername: null,
    notes: [],
    error: null,
  };
  setHandler(statusQuery, () => status);

  async function phase<T>(name: PhaseName, body: () => Promise<T>): Promise<T> {
    const record: PhaseRecord = { name, startedAt: Date.now(), endedAt: null, durationMs: null };
    status.phase = name;
    status.phases.push(record);
    try {
      return await body();
    } finally {
      record.endedAt = Date.now();
      record.durationMs = record.endedAt - record.startedAt;
    }
  }

  const rotationId = runId;
  const drainer = proxyActivities<RotationActivities>({
    startToCloseTimeout: plan.drain.timeoutMs + 30_000,
    heartbeatTimeout: '15s',
    retry: SHORT_IO.retry,
  });
  /**
   * `store` undoes what readers of the secret see; `target` withdraws a credential from the database. Once a store
   * undo fails, the store may still publish the new credential, so target undos are skipped: it stays valid.
   */
  type Undo = { what: string; kind: 'store' | 'target'; run: () => Promise<void> };
  const compensations: Undo[] = [];
  const onFailure = (kind: Undo['kind'], what: string, run: () => Promise<void>) => compensations.push({ what, kind, run });
  let committed = false;
  const commit = () => {
    committed = true;
    compensations.length = 0;
  };

  try {
    if (plan.strategy === 'single-user') {
      await singleUser();
    } else {
      await twoCredentials();
    }
    await release();
    status.outcome = 'succeeded';
    status.phase = 'done';
  } catch (err) {
    status.error = describe(err);
    if (committed) {
      // The new credential is published and verified; only withdrawing the old one did not finish.
      status.outcome = 'revoke-incomplete';
      await CancellationScope.nonCancellable(() =>
        undo.discardPending(plan, { rotationId }).catch(() => {
          status.notes.push('could not remove the pending value of this rotation');
        }),
      );
      throw ApplicationFailure.create({
        type: 'REVOKE_INCOMPLETE',
        message: `rotation of ${plan.secret} published and verified the new credential, but revoking the old one failed: ${status.error.message}`,
        nonRetryable: true,
        cause: err instanceof Error ? err : undefined,
      });
    }
    if (compensations.length === 0) {
      status.outcome = 'failed';
      throw err;
    }
    await phase('rollback', () => CancellationScope.nonCancellable(compensate));
    throw ApplicationFailure.create({
      type: status.outcome === 'rolled-back' ? 'ROLLED_BACK' : 'ROLLBACK_INCOMPLETE',
      message: `rotation of ${plan.secret} failed in ${failedPhase()} and was ${status.outcome === 'rolled-back' ? 'rolled back' : 'only partly rolled back'}: ${status.error.message}`,
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  } finally {
    status.endedAt = Date.now();
  }
  return status;

  function failedPhase(): PhaseName {
    return status.phases.filter((p) => p.name !== 'rollback').at(-1)?.name ?? 'create';
  }

  async function compensate(): Promise<void> {
    let failures = 0;
    let storeUndoFailed = false;
    for (const { what, kind, run } of compensations.reverse()) {
      if (kind === 'target' && storeUndoFailed) {
        failures += 1;
        status.notes.push(`left in place: ${what} (the store may still publish it)`);
        continue;
      }
      try {
        await run();
        status.notes.push(`undone: ${what}`);
      } catch (err) {
        failures += 1;
        storeUndoFailed ||= kind === 'store';
        status.notes.push(`could not undo: ${what}`);
        log.error('compensation failed; continuing with the rest', {
          secret: plan.secret,
          step: what,
          error: describe(err).message,
        });
      }
    }
    status.outcome = failures === 0 ? 'rolled-back' : 'rollback-incomplete';
  }

  /**
   * alternating-users and dual-password: the old credential stays valid beside the new one (a second login, or a
   * second password of the same login) until revoke, so the store can publish before consumers verify.
   */
  async function twoCredentials(): Promise<void> {
    const found = await create();
    const published = await publish(found);
    await phase('reconnect', () => reconnect(published.version, found.nextUsername));
    await phase('verify', () => verifier.verifyCredential(plan, { rotationId, version: published.version }));
    commit(); // verified and published: from here on nothing is rolled back
    await phase('revoke', () => (plan.strategy === 'dual-password' ? revokeOldPassword(found) : revokeOldLogin(found)));
  }

  /**
   * One login, the AWS order: stage pending, change the database, verify, promote. Between the change and the
   * promote, the store's current password no longer works: that window is what single-user trades for one login.
   */
  async function singleUser(): Promise<void> {
    const found = await create();
    await phase('verify', () => verifier.verifyCredential(plan, { rotationId }));
    const published = await publish(found);
    commit(); // the database and the store agree again
    await phase('reconnect', () => reconnect(published.version, found.nextUsername));
    await phase('revoke', async () => {
      status.notes.push('single-user: the old password stopped working when the new one was set');
    });
  }

  /** Generate and stage the new credential, then make it valid on the target. */
  async function create(): Promise<Inspection> {
    return phase('create', async () => {
      const found = await io.inspect(plan, { rotationId });
      status.username = found.nextUsername;
      status.previousUsername = found.currentUsername;
      status.previousVersion = found.currentVersion;
      // Compensations go in before their step: each is idempotent, and a step may half-happen before it fails.
      onFailure('store', 'discard the pending credential', () => undo.discardPending(plan, { rotationId }));
      try {
        await io.stageCredential(plan, { rotationId, username: found.nextUsername, baseVersion: found.currentVersion });
      } catch (err) {
        // CONFLICT: another rotation holds the secret, or it moved since inspect; nothing of ours was written.
        if (describe(err).code === 'CONFLICT') compensations.pop();
        throw err;
      }
      const undoApply = undoApplyFor(found);
      if (undoApply) onFailure('target', undoApply.what, undoApply.run);
      await io.applyCredential(plan, { rotationId });
      // With two credentials the new one must work before anyone is told about it; single-user verifies next anyway.
      if (plan.strategy !== 'single-user') await verifier.verifyCredential(plan, { rotationId });
      return found;
    });
  }

  function undoApplyFor(found: Inspection): { what: string; run: () => Promise<void> } | null {
    switch (plan.strategy) {
      case 'alternating-users':
        return {
          what: `disable login ${found.nextUsername}`,
          run: () => undo.disableLogin(plan, { rotationId, username: found.nextUsername }),
        };
      case 'single-user': {
        const version = found.currentVersion;
        return version
          ? {
              what: `restore the password of version ${version}`,
              run: () => undo.restorePassword(plan, { rotationId, version }),
            }
          : null;
      }
      case 'dual-password':
        // Once published, the new password is found by its version; before that, as this rotation's pending.
        return {
          what: `withdraw the new password of ${found.nextUsername}`,
          run: () => undo.removePassword(plan, { rotationId, ...(status.version ? { version: status.version } : {}) }),
        };
      default:
        return assertNever(plan.strategy);
    }
  }

  async function publish(found: Inspection): Promise<PromoteResult> {
    return phase('publish', async () => {
      // Recorded before the step: a promote that fails halfway may already have moved current. With no version
      // reported back, the activity finds out itself whether this rotation's value is current.
      onFailure('store', `make version ${found.currentVersion ?? '(none)'} current again`, () =>
        undo.rollbackStore(plan, { rotationId, toVersion: found.currentVersion, fromVersion: status.version }),
      );
      const published = await io.promote(plan, { rotationId, expectedVersion: found.currentVersion });
      status.version = published.version;
      return published;
    });
  }

  /** The rotation's claim on the secret ends with it: its pending value goes. */
  async function release(): Promise<void> {
    await io.discardPending(plan, { rotationId });
  }

  async function reconnect(version: string, username: string): Promise<void> {
    await io.notifyConsumers(plan, { version, username });
    // A durable timer: consumers get this long to pick up the new version, even across worker restarts.
    if (plan.reconnectWaitMs > 0) await sleep(plan.reconnectWaitMs);
  }

  async function revokeOldLogin(found: Inspection): Promise<void> {
    const old = found.revokeUsername;
    if (!old) {
      status.notes.push(
        found.currentUsername
          ? `previous login ${found.currentUsername} is not one of the pair; left as is`
          : 'first rotation: nothing to revoke',
      );
      return;
    }
    if (plan.gracePeriodMs > 0) await sleep(plan.gracePeriodMs);
    // Usually nothing is left: one quick local look; only open sessions need the long, heartbeating wait.
    let { remaining } = await io.waitForDrain(plan, { username: old, timeoutMs: 0 });
    if (remaining > 0 && plan.drain.timeoutMs > 0) ({ remaining } = await drainer.waitForDrain(plan, { username: old }));
    if (remaining > 0) status.notes.push(`${remaining} session(s) of ${old} still open after the drain timeout`);
    const { terminatedSessions } = await revoker.revokeLogin(plan, {
      rotationId,
      username: old,
      terminateSessions: remaining > 0 && plan.drain.onTimeout === 'terminate',
    });
    if (terminatedSessions > 0) status.notes.push(`terminated ${terminatedSessions} session(s) of ${old}`);
    status.revokedUsername = old;
  }

  async function revokeOldPassword(found: Inspection): Promise<void> {
    const old = found.currentVersion;
    if (!old) {
      status.notes.push('first rotation: no earlier password of ours to withdraw');
      return;
    }
    if (plan.gracePeriodMs > 0) await sleep(plan.gracePeriodMs);
    await revoker.removePassword(plan, { rotationId, version: old });
    status.revokedUsername = found.nextUsername;
    status.notes.push(`withdrew the password of version ${old}`);
  }
}

function describe(err: unknown): { code: string; message: string } {
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'the rotation was cancelled' };
  let e: unknown = err;
  // Activity failures wrap the ApplicationFailure that carries our code.
  while (e instanceof Error && !(e instanceof ApplicationFailure) && (e as { cause?: unknown }).cause)
    e = (e as { cause?: unknown }).cause;
  if (e instanceof ApplicationFailure) return { code: e.type ?? 'UNKNOWN', message: e.message };
  return { code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}
