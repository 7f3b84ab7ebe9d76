// A short regular step (restore, withdraw, compensate) is heartbeated by its worker while it runs, so the server
// notices a worker that died mid-step within the step's heartbeat timeout instead of its whole start-to-close timeout.
// A wait that heartbeats itself (drain, rollout) keeps its own details: the wrapper does not beat over them.
import { msToNumber } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { guarded } from '../activities/guarded';
import { COMPENSATE, heartbeatingWait, IRREVERSIBLE, RESTORE, STEP_HEARTBEAT_TIMEOUT } from '../workflows/lib/policies';

/** Runs `fn` as an activity with `heartbeatTimeoutMs`, resolving it once the fake clock has passed `forMs`. */
async function heartbeatsDuring(heartbeatTimeoutMs: number | undefined, forMs: number, own?: (beat: () => void) => void) {
  const env = new MockActivityEnvironment({ activityType: 'revokeLogin', heartbeatTimeoutMs });
  const beats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => beats.push(details));
  const step = guarded(async () => {
    own?.(() => env.context.heartbeat({ remaining: 1 }));
    await jest.advanceTimersByTimeAsync(forMs);
  }, []);
  await env.run(step);
  return beats;
}

describe('the worker heartbeats a short regular step', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('gives every short regular step the step heartbeat timeout', () => {
    for (const policy of [RESTORE, IRREVERSIBLE, COMPENSATE]) expect(policy.heartbeatTimeout).toBe(STEP_HEARTBEAT_TIMEOUT);
    expect(msToNumber(STEP_HEARTBEAT_TIMEOUT)).toBeLessThan(msToNumber(IRREVERSIBLE.startToCloseTimeout!));
  });

  it('beats at least twice per heartbeat timeout while the step runs', async () => {
    const timeout = msToNumber(STEP_HEARTBEAT_TIMEOUT);
    const beats = await heartbeatsDuring(timeout, 3 * timeout);
    expect(beats.length).toBeGreaterThanOrEqual(6);
  });

  it('does not beat for a step without a heartbeat timeout (a local activity) or over a wait that beats itself', async () => {
    expect(await heartbeatsDuring(undefined, 20_000)).toEqual([]);
    const wait = msToNumber(heartbeatingWait(60_000).heartbeatTimeout!);
    const beats = await heartbeatsDuring(wait, 3 * wait, (beat) => beat());
    expect(beats).toEqual([{ remaining: 1 }]);
  });
});
