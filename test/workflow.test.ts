// The workflow's own logic on Temporal's time-skipping test server: step order, compensations in reverse, timers.
// Activities are stubs here on purpose: they force a failure at each step; every real store and target is tested
// on its real server elsewhere.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure, type Duration } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { ReconnectActivities } from '../activities/reconnect';
import type { RotationActivities } from '../activities/rotation';
import { parseConfig } from '../src/config/load';
import { planRotation, type RotationPlan } from '../src/config/plan';
import type { RotationStatus } from '../workflows/definitions';
import { workflowBundle } from './support/harness';
import { timeSkippingEnvironment } from './support/time-skipping';
import { approveUpdate, cancelUpdate, rejectUpdate, ROTATE_SECRET, statusQuery } from '../workflows/definitions';
import type { WorkflowHandle } from '@temporalio/client';

type Activities = RotationActivities & ReconnectActivities;
type Step = keyof Activities;

function planFor(strategy: string, extra = ''): RotationPlan {
  const yaml = `
providers: { store: { type: env } }
secrets:
  admin: { provider: store, path: ADMIN }
  db:
    provider: store
    path: DB
    target: { type: ${strategy === 'dual-password' ? 'redis' : 'postgresql'}, connection: secret://admin, ${strategy === 'dual-password' ? 'user' : 'role'}: app }
    rotation: { strategy: ${strategy}, drain: { timeout: 1s }${extra} }
    consumers: [{ type: log }]
`;
  return planRotation(parseConfig(yaml, {}), 'db');
}

/** Records every call in order; `failAt` makes that step throw a non-retryable error. */
function stubActivities(
  calls: string[],
  failAt?: Step,
  current: { username: string | null; version: string | null } = { username: 'app_a', version: '7' },
) {
  const step =
    <T>(name: Step, result: T) =>
    async (_plan: RotationPlan, input?: object): Promise<T> => {
      calls.push(input && 'username' in input ? `${name}(${String((input as { username: string }).username)})` : name);
      if (name === failAt)
        throw ApplicationFailure.create({ type: 'VERIFY_FAILED', message: `${name} failed`, nonRetryable: true });
      return result;
    };
  const activities: Activities = {
    inspect: step('inspect', {
      currentVersion: current.version,
      currentUsername: current.username,
      nextUsername: current.username === 'app_a' ? 'app_b' : 'app_a',
      revokeUsername: current.username,
    }),
    stageCredential: step('stageCredential', undefined),
    // No claim: these runs were never lost, so a rotation ending without running has nothing to converge.
    holdsClaim: async () => false,
    discardPending: step('discardPending', undefined),
    applyCredential: step('applyCredential', undefined),
    disableLogin: step('disableLogin', undefined),
    restorePassword: step('restorePassword', undefined),
    removePassword: step('removePassword', undefined),
    verifyCredential: step('verifyCredential', { endpoint: '127.0.0.1:5432/postgres', from: 'target connection' as const }),
    promote: step('promote', { version: '8', previousVersion: current.version }),
    rollbackStore: step('rollbackStore', undefined),
    notifyConsumers: step('notifyConsumers', undefined),
    planReconnect: step('planReconnect', { steps: [{ kind: 'notify' as const, consumer: 0 }], notes: [] }),
    notifyConsumer: step('notifyConsumer', undefined),
    restartWorkloads: step('restartWorkloads', []),
    awaitRollout: step('awaitRollout', undefined),
    waitForDrain: step('waitForDrain', { remaining: 0 }),
    revokeLogin: step('revokeLogin', { terminatedSessions: 0 }),
    issueTargetCredential: step('issueTargetCredential', { id: 'key-2' }),
    verifyTargetCredential: step('verifyTargetCredential', { endpoint: 'sts', from: 'target connection' as const }),
    withdrawTargetCredential: step('withdrawTargetCredential', { id: 'key-1', afterWithdraw: true }),
    suspendTargetCredential: step('suspendTargetCredential', { suspended: true }),
    resumeTargetCredential: step('resumeTargetCredential', undefined),
    updateAfterWithdraw: step('updateAfterWithdraw', { version: null }),
  };
  return activities;
}

describe('rotateSecret workflow logic', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    // Failing activities are the point here; the SDK's warnings about them are noise.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    env = await timeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  async function run(
    plan: RotationPlan,
    activities: Activities,
    /** Acts on the running rotation (an update, a cancel) before its result is awaited, which lets time skip. */
    meanwhile?: (handle: WorkflowHandle) => Promise<void>,
    /** A short task timeout makes a long local activity heartbeat its task, so an update reaches the workflow mid-step. */
    workflowTaskTimeout?: Duration,
  ): Promise<{ ok: boolean; status: RotationStatus | null; error?: unknown }> {
    const taskQueue = `wf-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities,
    });
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(ROTATE_SECRET, {
        taskQueue,
        workflowId: `rotate/${taskQueue}`,
        args: [{ plan }],
        ...(workflowTaskTimeout ? { workflowTaskTimeout } : {}),
      });
      await meanwhile?.(handle);
      try {
        return { ok: true, status: (await handle.result()) as RotationStatus };
      } catch (error) {
        return { ok: false, status: await handle.query(statusQuery), error };
      }
    });
  }

  it('runs the alternating-users steps in order and revokes the old login after a day-long grace period', async () => {
    const calls: string[] = [];
    const started = await env.currentTimeMs();
    const { ok, status } = await run(planFor('alternating-users', ', grace_period: 1d'), stubActivities(calls));
    expect(ok).toBe(true);
    expect(calls).toEqual([
      'planReconnect', // what reconnect will do, decided before anything changes
      'inspect',
      'stageCredential(app_b)',
      'applyCredential',
      'verifyCredential',
      'promote',
      'notifyConsumer(app_b)',
      'verifyCredential',
      'waitForDrain(app_a)',
      'revokeLogin(app_a)',
      'discardPending', // the rotation's claim on the secret ends last
    ]);
    expect(status).toMatchObject({ outcome: 'succeeded', revokedUsername: 'app_a', version: '8', previousVersion: '7' });
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(86_400_000); // the timer really ran, skipped
  });

  const undoAlternating: Record<string, string[]> = {
    stageCredential: ['discardPending'],
    applyCredential: ['disableLogin(app_b)', 'discardPending'],
    verifyCredential: ['disableLogin(app_b)', 'discardPending'], // the check before publish
    promote: ['rollbackStore', 'disableLogin(app_b)', 'discardPending'],
    notifyConsumer: ['rollbackStore', 'disableLogin(app_b)', 'discardPending'],
  };
  for (const [failAt, undo] of Object.entries(undoAlternating)) {
    it(`alternating-users: a failure in ${failAt} undoes the earlier steps in reverse`, async () => {
      const calls: string[] = [];
      const { ok, status } = await run(planFor('alternating-users'), stubActivities(calls, failAt as Step));
      expect(ok).toBe(false);
      expect(status?.outcome).toBe('rolled-back');
      expect(calls.slice(calls.findIndex((c) => c.startsWith(failAt)) + 1)).toEqual(undo);
    });
  }

  it('alternating-users: a failure in revoke after verify does not roll the committed rotation back', async () => {
    const calls: string[] = [];
    const { ok, status } = await run(planFor('alternating-users'), stubActivities(calls, 'revokeLogin'));
    expect(ok).toBe(false);
    expect(status?.outcome).toBe('revoke-incomplete');
    expect(calls.slice(-2)).toEqual(['revokeLogin(app_a)', 'discardPending']); // no undo, but the claim ends
  });

  /** An issuing target (aws-iam: the plugin says `issues: true`), whose strategy config leaves out. */
  function issuedPlan(): RotationPlan {
    const yaml = `
providers: { store: { type: env } }
secrets:
  admin: { provider: store, path: ADMIN }
  db:
    provider: store
    path: DB
    target: { type: aws-iam, connection: secret://admin, user: app }
    rotation: { grace_period: 1h }
    consumers: [{ type: log }]
`;
    return planRotation(parseConfig(yaml, {}), 'db');
  }

  it('issued: issues into the pending value, publishes, verifies, then suspends, withdraws and updates the stored value', async () => {
    const calls: string[] = [];
    const plan = issuedPlan();
    expect(plan.strategy).toBe('issued');
    const { ok, status } = await run(plan, stubActivities(calls));
    expect(ok).toBe(true);
    expect(calls).toEqual([
      'planReconnect',
      'inspect',
      'issueTargetCredential',
      'promote',
      'notifyConsumer(key-2)',
      'verifyTargetCredential',
      'suspendTargetCredential', // after the grace period: reversibly first
      'withdrawTargetCredential',
      'discardPending', // the claim ends before the stored value's own update
      'updateAfterWithdraw',
      'discardPending',
    ]);
    expect(status).toMatchObject({
      outcome: 'succeeded',
      username: 'key-2',
      previousUsername: 'app_a',
      revokedUsername: 'app_a',
    });
  });

  const undoIssued: Record<string, string[]> = {
    issueTargetCredential: ['withdrawTargetCredential', 'discardPending'],
    promote: ['rollbackStore', 'withdrawTargetCredential', 'discardPending'],
    // Once consumers were told of the new version: the store serves the old one and they are told of it again
    // before the new credential is withdrawn (the publish's own undo then finds the store rolled back already).
    notifyConsumer: ['rollbackStore', 'notifyConsumer(app_a)', 'rollbackStore', 'withdrawTargetCredential', 'discardPending'],
    verifyTargetCredential: [
      'rollbackStore',
      'notifyConsumer(app_a)',
      'rollbackStore',
      'withdrawTargetCredential',
      'discardPending',
    ],
  };
  for (const [failAt, undo] of Object.entries(undoIssued)) {
    it(`issued: a failure in ${failAt} rolls the store back, withdraws the new credential, and ends the claim`, async () => {
      const calls: string[] = [];
      const { ok, status } = await run(issuedPlan(), stubActivities(calls, failAt as Step));
      expect(ok).toBe(false);
      expect(status?.outcome).toBe('rolled-back');
      expect(calls.slice(calls.findIndex((c) => c.startsWith(failAt)) + 1)).toEqual(undo);
      // A consumer that cannot be told again is named, and the rollback goes on.
      if (failAt === 'notifyConsumer')
        expect(status?.notes.some((n) => n.startsWith('could not tell consumer 1 of version'))).toBe(true);
    });
  }

  it('issued: a failure in the withdraw after the commit point ends revoke-incomplete, rolling nothing back', async () => {
    const calls: string[] = [];
    const { ok, status } = await run(issuedPlan(), stubActivities(calls, 'withdrawTargetCredential'));
    expect(ok).toBe(false);
    expect(status?.outcome).toBe('revoke-incomplete');
    expect(calls.slice(-2)).toEqual(['withdrawTargetCredential', 'discardPending']);
  });

  it('ends as failed, having undone nothing, when another rotation holds the secret at stage time', async () => {
    const calls: string[] = [];
    const activities = stubActivities(calls);
    activities.stageCredential = async () => {
      calls.push('stageCredential');
      throw ApplicationFailure.create({ type: 'CONFLICT', message: 'rotation r2 staged first', nonRetryable: true });
    };
    const { ok, status } = await run(planFor('alternating-users'), activities);
    expect(ok).toBe(false);
    expect(status).toMatchObject({ outcome: 'failed', error: { code: 'CONFLICT' } });
    expect(calls).toEqual(['planReconnect', 'inspect', 'stageCredential']);
  });

  it('single-user verifies before it publishes, and restores the old password when verify fails', async () => {
    const calls: string[] = [];
    const { ok } = await run(
      planFor('single-user'),
      stubActivities(calls, 'verifyCredential', { username: 'app', version: '3' }),
    );
    expect(ok).toBe(false);
    expect(calls).toEqual([
      'planReconnect',
      'inspect',
      'stageCredential(app_a)',
      'applyCredential',
      'verifyCredential',
      'restorePassword',
      'discardPending',
    ]);
  });

  it('dual-password withdraws the new password and unpublishes it when consumers cannot be notified', async () => {
    const calls: string[] = [];
    const { ok } = await run(
      planFor('dual-password'),
      stubActivities(calls, 'notifyConsumer', { username: 'app', version: '3' }),
    );
    expect(ok).toBe(false);
    expect(calls.slice(calls.findIndex((c) => c.startsWith('notifyConsumer')) + 1)).toEqual([
      'rollbackStore',
      'removePassword',
      'discardPending',
    ]);
  });

  it('leaves the new login valid when the store could not be rolled back, and says the rollback is incomplete', async () => {
    const calls: string[] = [];
    const activities = stubActivities(calls, 'notifyConsumer');
    activities.rollbackStore = async () => {
      calls.push('rollbackStore');
      throw ApplicationFailure.create({ type: 'PERMISSION_DENIED', message: 'denied', nonRetryable: true });
    };
    const { ok, status } = await run(planFor('alternating-users'), activities);
    expect(ok).toBe(false);
    expect(status?.outcome).toBe('rollback-incomplete');
    expect(status?.notes).toContain('left in place: disable login app_b (the store may still publish it)');
    expect(calls.slice(calls.findIndex((c) => c.startsWith('notifyConsumer')) + 1)).toEqual(['rollbackStore', 'discardPending']);
  });

  describe('with approval required', () => {
    const gated = () => planFor('alternating-users', ', approval: required, approval_timeout: 24h');
    /** Waits (by query, which does not skip time) until the rotation stands at its approval gate. */
    const atGate = async (handle: WorkflowHandle) => {
      for (let i = 0; i < 200; i++) {
        const status = await handle.query(statusQuery).catch(() => null);
        if (status?.approval?.decision === 'pending') return status;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('the rotation never reached its approval gate');
    };

    it('ends expired, having called no step at all, when nobody answers within approval_timeout', async () => {
      const calls: string[] = [];
      const { ok, status } = await run(gated(), stubActivities(calls));
      expect(ok).toBe(true); // a clean end, not a failure
      expect(status).toMatchObject({ outcome: 'expired', error: null, approval: { decision: 'expired', by: null } });
      expect(calls).toEqual([]);
    });

    it('runs every step once approved, and keeps who approved and why in its status', async () => {
      const calls: string[] = [];
      let waiting: RotationStatus | undefined;
      const { ok, status } = await run(gated(), stubActivities(calls), async (handle) => {
        waiting = await atGate(handle);
        await handle.executeUpdate(approveUpdate, { args: [{ by: ' alice ', reason: 'change ticket 42' }] });
      });
      expect(waiting).toMatchObject({ phase: 'approval', outcome: 'running' });
      expect(ok).toBe(true);
      expect(status).toMatchObject({
        outcome: 'succeeded',
        approval: { decision: 'approved', by: 'alice', reason: 'change ticket 42' },
      });
      expect(status?.phases.map((p) => p.name)).toEqual(['approval', 'create', 'publish', 'reconnect', 'verify', 'revoke']);
      expect(calls).toContain('revokeLogin(app_a)');
    });

    it('ends rejected, having called no step, and refuses a decision without a name, or a rejection without a reason', async () => {
      const calls: string[] = [];
      const refusals: string[] = [];
      const { ok, status } = await run(gated(), stubActivities(calls), async (handle) => {
        await atGate(handle);
        const refused = (p: Promise<unknown>) =>
          p.then(
            () => refusals.push('accepted'),
            (e: Error) => refusals.push(String((e.cause as Error | undefined)?.message)),
          );
        await refused(handle.executeUpdate(approveUpdate, { args: [{ by: '   ' }] }));
        await refused(handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob' }] }));
        await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'not during the sale' }] });
      });
      expect(refusals).toEqual(['by: expected the name of who decides', 'reason: a rejection needs a reason']);
      expect(ok).toBe(true);
      expect(status).toMatchObject({ outcome: 'rejected', approval: { decision: 'rejected', by: 'bob' } });
      expect(calls).toEqual([]);
    });

    it('ends cancelled, having called no step, when cancelled while it waits', async () => {
      const calls: string[] = [];
      const { ok, status } = await run(gated(), stubActivities(calls), async (handle) => {
        await atGate(handle);
        await handle.executeUpdate(cancelUpdate, { args: [{ by: 'carol', reason: 'wrong secret' }] });
      });
      expect(ok).toBe(false);
      expect(status).toMatchObject({
        outcome: 'cancelled',
        cancel: { by: 'carol', reason: 'wrong secret' },
        error: { code: 'CANCELLED', message: 'cancelled by carol: wrong secret' },
      });
      expect(calls).toEqual([]);
    });
  });

  describe('a cancel at the commit point', () => {
    /** A promise and the function that settles it: the test and a stub hand each other the turn. */
    const turn = () => {
      let done!: () => void;
      const promise = new Promise<void>((r) => (done = r));
      return { promise, done };
    };

    it('accepted while the last step before it runs (which does not stop for it): rolls back instead of committing', async () => {
      const calls: string[] = [];
      const activities = stubActivities(calls);
      const inLastStep = turn();
      const accepted = turn();
      const verify = activities.verifyCredential;
      activities.verifyCredential = async (plan, input) => {
        const result = await verify(plan, input);
        // The verify after publish is the last step before the commit point.
        if (input && 'version' in input && input.version) {
          inLastStep.done();
          await accepted.promise;
        }
        return result;
      };
      const { ok, status } = await run(
        planFor('alternating-users'),
        activities,
        async (handle) => {
          await inLastStep.promise;
          await handle.executeUpdate(cancelUpdate, { args: [{ by: 'dave' }] });
          accepted.done();
        },
        '2s',
      );
      expect(ok).toBe(false);
      expect(status).toMatchObject({ outcome: 'rolled-back', cancel: { by: 'dave' } });
      expect(calls).not.toContain('revokeLogin(app_a)');
      expect(calls.slice(calls.lastIndexOf('verifyCredential') + 1)).toEqual([
        'rollbackStore',
        'disableLogin(app_b)',
        'discardPending',
      ]);
    });

    it('single-user, cancelled through Temporal after it: consumers still hear of the new password, the claim ends', async () => {
      const calls: string[] = [];
      const activities = stubActivities(calls);
      const notified = turn();
      const notify = activities.notifyConsumer;
      activities.notifyConsumer = async (plan, input) => {
        const result = await notify(plan, input);
        notified.done();
        return result;
      };
      // The reconnect wait is a durable timer after the notify: the cancel lands on it.
      const { ok, status } = await run(planFor('single-user', ', reconnect: { wait: 1h }'), activities, async (handle) => {
        await notified.promise;
        await handle.cancel();
      });
      expect(ok).toBe(true);
      expect(status).toMatchObject({ outcome: 'succeeded', error: null });
      expect(calls).not.toContain('rollbackStore');
      expect(calls.at(-1)).toBe('discardPending');
    });
  });

  it('refuses an approval for a rotation that needs none', async () => {
    const calls: string[] = [];
    let refusal = '';
    const { status } = await run(planFor('alternating-users', ', grace_period: 1h'), stubActivities(calls), async (handle) => {
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }).catch((e: Error) => {
        refusal = String((e.cause as Error | undefined)?.message);
      });
    });
    expect(refusal).toMatch(/needs no approval/);
    expect(status).toMatchObject({ outcome: 'succeeded', approval: null });
  });
});
