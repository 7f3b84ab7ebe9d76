// A local forward step ends itself when its next attempt would start past its schedule-to-close timeout (the step's
// outage_tolerance): Temporal's core loses that timeout when it passes between fast-failing attempts, and the step
// would retry a refusing database forever (found by test/fault-matrix.test.ts, cell "applyCredential postgresql down").
import type { Context } from '@temporalio/activity';
import { retryBudgetSpent } from '../activities/guarded';
import { forwardIo } from '../workflows/lib/policies';

const T0 = 1_000_000;
const info = (attempt: number, over: Partial<Context['info']> = {}): Context['info'] =>
  ({
    isLocal: true,
    attempt,
    scheduledTimestampMs: T0,
    scheduleToCloseTimeoutMs: 10_000,
    retryPolicy: forwardIo(10_000).retry,
    ...over,
  }) as Context['info'];

describe('a local step’s retry budget', () => {
  it('is left while the next attempt (after its backoff) starts within the schedule-to-close timeout', () => {
    expect(retryBudgetSpent(info(1), T0 + 100)).toBe(false); // next in 200 ms
    expect(retryBudgetSpent(info(7), T0 + 6_900)).toBe(false); // next in 2 s (the cap), at 8.9 s
  });

  it('is spent when the next attempt would start within a second of it (core’s own timeout may win that race)', () => {
    expect(retryBudgetSpent(info(7), T0 + 7_100)).toBe(true); // next at 9.1 s
  });

  it('is spent when the next attempt would start at or past it', () => {
    expect(retryBudgetSpent(info(7), T0 + 8_000)).toBe(true);
    expect(retryBudgetSpent(info(30), T0 + 60_000)).toBe(true);
  });

  it('does not apply to regular activities (the server ends their retries) or steps without that timeout', () => {
    expect(retryBudgetSpent(info(30, { isLocal: false }), T0 + 60_000)).toBe(false);
    expect(retryBudgetSpent(info(30, { scheduleToCloseTimeoutMs: 0 }), T0 + 60_000)).toBe(false);
  });
});
