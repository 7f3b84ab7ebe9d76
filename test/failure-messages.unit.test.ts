// How a failure reads in a rotation's status: it names the step, and a step that ran into Temporal's own timeout reads
// as an outage.
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ConsumerRegistry, ProviderRegistry, TargetRegistry } from '../activities/registry';
import { createActivities } from '../activities/rotation';
import type { ProviderConfig } from '../src/config/schema';
import { describeFailure } from '../workflows/lib/failures';

it('a timed-out step is TRANSIENT naming the step, not "[UNKNOWN] Local Activity timed out"', () => {
  const timedOut = new ActivityFailure(
    'Local Activity timed out',
    'verifyCredential',
    '3',
    RetryState.TIMEOUT,
    undefined,
    new TimeoutFailure('Local Activity timed out', undefined, 'START_TO_CLOSE'),
  );
  expect(describeFailure(timedOut)).toEqual({
    code: 'TRANSIENT',
    message: 'step verifyCredential did not finish within its start-to-close timeout',
  });
});

it("an activity's own failure still counts over the timeout around it", () => {
  const failed = new ActivityFailure(
    'Activity task failed',
    'promote',
    '4',
    RetryState.MAXIMUM_ATTEMPTS_REACHED,
    undefined,
    ApplicationFailure.create({ type: 'TRANSIENT', message: 'vault at http://127.0.0.1:8200 did not answer within 10s' }),
  );
  expect(describeFailure(failed)).toEqual({
    code: 'TRANSIENT',
    message: 'promote: vault at http://127.0.0.1:8200 did not answer within 10s',
  });
});

it('names the step once: a message that already names it is left as it is', () => {
  const failed = new ActivityFailure(
    'Activity task failed',
    'applyCredential',
    '4',
    RetryState.MAXIMUM_ATTEMPTS_REACHED,
    undefined,
    ApplicationFailure.create({ type: 'TRANSIENT', message: 'applyCredential of db (store vault, target postgresql) gave up' }),
  );
  expect(describeFailure(failed).message).toBe('applyCredential of db (store vault, target postgresql) gave up');
  const bare = ApplicationFailure.create({ type: 'CONFLICT', message: 'rotation r2 staged first' });
  expect(describeFailure(bare).message).toBe('rotation r2 staged first');
});

it('a store step out of retry budget names the store’s system, not only the provider’s name (fault matrix, moto cells)', async () => {
  const providers = new ProviderRegistry({
    // Nothing listens on port 9 (discard): every request is refused at once.
    secrets: {
      type: 'aws-secrets-manager',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      access_key_id: 'test',
      secret_access_key: 'test',
    },
  } as unknown as Record<string, ProviderConfig>);
  expect(providers.system('secrets')).toBe('AWS Secrets Manager');
  const { stageCredential } = createActivities({ providers, targets: new TargetRegistry(), consumers: new ConsumerRegistry() });
  // A local step with a 2 s budget: its first failed attempt is its last, and its message says whose step it was.
  const env = new MockActivityEnvironment({
    activityType: 'stageCredential',
    isLocal: true,
    scheduleToCloseTimeoutMs: 2_000,
    scheduledTimestampMs: Date.now(),
  });
  const plan = { secret: 'orders_db', store: { provider: 'secrets', path: 'orders' }, target: { type: 'postgresql' } };
  await expect(
    env.run(stageCredential, plan as never, { rotationId: 'rotation-1', username: 'app', baseVersion: null }),
  ).rejects.toMatchObject({
    message: expect.stringContaining('stageCredential of orders_db (store secrets: AWS Secrets Manager, target postgresql)'),
  });
});
