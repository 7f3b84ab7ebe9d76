// How a failure reads in a rotation's status: it names the step, and a step that ran into Temporal's own timeout reads
// as an outage.
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure } from '@temporalio/common';
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
