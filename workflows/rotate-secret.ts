// rotateSecret: create → publish → reconnect → verify → revoke, undoing every change in reverse if a step fails.
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { RotationActivities } from '../activities/rotation';
import type { RotationPlan } from '../src/plan';
import type { PhaseName, PhaseRecord, RotationStatus } from './status';

/** Codes that retrying cannot fix; they match src/errors.ts. */
const NON_RETRYABLE = ['CONFIG_INVALID', 'NOT_FOUND', 'CONFLICT', 'PERMISSION_DENIED', 'UNSUPPORTED'];

/** One store or database call. */
const SHORT_IO: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 6, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Logging in with the new credential: a few quick tries, then it is a verify failure, not an outage. */
const VERIFY_LOGIN: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '250ms', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Undoing a change must get through an outage of a few minutes, so it retries far longer than a forward step. */
const COMPENSATE: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 30, nonRetryableErrorTypes: NON_RETRYABLE },
};

const io = proxyActivities<RotationActivities>(SHORT_IO);
const verifier = proxyActivities<RotationActivities>(VERIFY_LOGIN);
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

  const compensations: Array<{ what: string; run: () => Promise<void> }> = [];
  const onFailure = (what: string, run: () => Promise<void>) => compensations.push({ what, run });

  try {
    if (plan.strategy === 'alternating-users') {
      await alternatingUsers();
    } else {
      await singleUser();
    }
    status.outcome = 'succeeded';
    status.phase = 'done';
  } catch (err) {
    status.error = describe(err);
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
    for (const { what, run } of compensations.reverse()) {
      try {
        await run();
        status.notes.push(`undone: ${what}`);
      } catch (err) {
        failures += 1;
        status.notes.push(`could not undo: ${what}`);
        log.error('compensation failed; continuing with the rest', { secret: plan.secret, step: what, error: describe(err).message });
      }
    }
    status.outcome = failures === 0 ? 'rolled-back' : 'rollback-incomplete';
  }

  /** Two logins with one group's rights: the idle one gets the new password, the old one stays valid until revoke. */
  async function alternatingUsers(): Promise<void> {
    const rotationId = runId;
    const found = await phase('create', async () => {
      const found = await io.inspect(plan);
      status.username = found.nextUsername;
      status.previousUsername = found.currentUsername;
      status.previousVersion = found.currentVersion;
      // Compensations go in before the step: each is idempotent, and a step may have half-happened before failing.
      onFailure('discard the pending credential', () => undo.discardPending(plan, { rotationId }));
      await io.stageCredential(plan, { rotationId, username: found.nextUsername });
      onFailure(`disable login ${found.nextUsername}`, () => undo.disableLogin(plan, { username: found.nextUsername }));
      await io.applyCredential(plan, { rotationId });
      return found;
    });

    const published = await phase('publish', async () => {
      const published = await io.promote(plan, { rotationId, expectedVersion: found.currentVersion });
      onFailure(`make version ${found.currentVersion ?? '(none)'} current again`, () =>
        undo.rollbackStore(plan, { rotationId, toVersion: found.currentVersion, fromVersion: published.version }),
      );
      status.version = published.version;
      return published;
    });

    await phase('reconnect', () => reconnect(published.version, found.nextUsername));
    await phase('verify', () => verifier.verifyCredential(plan, { version: published.version }));
    compensations.length = 0; // verified and published: from here the rotation is committed

    await phase('revoke', async () => {
      if (!found.revokeUsername) {
        status.notes.push(found.currentUsername ? `previous login ${found.currentUsername} is not one of the pair; left as is` : 'first rotation: nothing to revoke');
        return;
      }
      if (plan.gracePeriodMs > 0) await sleep(plan.gracePeriodMs);
      const drainer = proxyActivities<RotationActivities>({
        startToCloseTimeout: plan.drain.timeoutMs + 30_000,
        heartbeatTimeout: '15s',
        retry: SHORT_IO.retry,
      });
      const { remaining } = await drainer.waitForDrain(plan, { username: found.revokeUsername });
      if (remaining > 0) status.notes.push(`${remaining} session(s) of ${found.revokeUsername} still open after the drain timeout`);
      const { terminatedSessions } = await io.revokeLogin(plan, {
        username: found.revokeUsername,
        terminateSessions: remaining > 0 && plan.drain.onTimeout === 'terminate',
      });
      if (terminatedSessions > 0) status.notes.push(`terminated ${terminatedSessions} session(s) of ${found.revokeUsername}`);
      status.revokedUsername = found.revokeUsername;
    });
  }

  /**
   * One login, the AWS order: stage pending, change the database, verify, promote. Between the change and the
   * promote, the store's current password no longer works: that window is what single-user trades for one login.
   */
  async function singleUser(): Promise<void> {
    const rotationId = runId;
    const found = await phase('create', async () => {
      const found = await io.inspect(plan);
      status.username = found.nextUsername;
      status.previousUsername = found.currentUsername;
      status.previousVersion = found.currentVersion;
      onFailure('discard the pending credential', () => undo.discardPending(plan, { rotationId }));
      await io.stageCredential(plan, { rotationId, username: found.nextUsername });
      const oldVersion = found.currentVersion;
      if (oldVersion) onFailure(`restore the password of version ${oldVersion}`, () => undo.restorePassword(plan, { version: oldVersion }));
      await io.applyCredential(plan, { rotationId });
      return found;
    });

    await phase('verify', () => verifier.verifyCredential(plan, { rotationId }));
    const published = await phase('publish', () => io.promote(plan, { rotationId, expectedVersion: found.currentVersion }));
    status.version = published.version;
    compensations.length = 0; // the database and the store agree again: committed

    await phase('reconnect', () => reconnect(published.version, found.nextUsername));
    await phase('revoke', async () => {
      status.notes.push('single-user: the old password stopped working when the new one was set');
    });
  }

  async function reconnect(version: string, username: string): Promise<void> {
    await io.notifyConsumers(plan, { version, username });
    // A durable timer: consumers get this long to pick up the new version, even across worker restarts.
    if (plan.reconnectWaitMs > 0) await sleep(plan.reconnectWaitMs);
  }
}

function describe(err: unknown): { code: string; message: string } {
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'the rotation was cancelled' };
  let e: unknown = err;
  // Activity failures wrap the ApplicationFailure that carries our code.
  while (e instanceof Error && !(e instanceof ApplicationFailure) && (e as { cause?: unknown }).cause) e = (e as { cause?: unknown }).cause;
  if (e instanceof ApplicationFailure) return { code: e.type ?? 'UNKNOWN', message: e.message };
  return { code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}
