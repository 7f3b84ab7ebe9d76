// rotator_leases_irrevocable_total counts a lease the keeper gives up on: its revokeLease activity failed for good
// (the retry policy's last attempt, or a non-retryable error), not each failed attempt. Run through the worker's
// activity interceptor in Temporal's own activity test environment, with the attempt and retry policy the server sends.
import { ApplicationFailure, CancelledFailure, type Logger, type RetryPolicy } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { WorkerMetrics } from '../src/observability/metrics';

/** The SDK logs each failed attempt; the test's output needs none of them. */
const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

async function revokeFails(metrics: WorkerMetrics, attempt: number, retryPolicy: RetryPolicy | undefined, err: Error) {
  const env = new MockActivityEnvironment(
    { activityType: 'revokeLease', attempt, retryPolicy },
    { interceptors: [metrics.activityInterceptor], logger: quiet },
  );
  await expect(env.run(() => Promise.reject(err), 'orders_db', { leaseId: 'database/creds/app/abc' })).rejects.toBe(err);
}

async function counts(metrics: WorkerMetrics): Promise<{ irrevocable: number; failedRevokes: number }> {
  const json = await metrics.registry.getMetricsAsJSON();
  const value = (name: string, labels: Record<string, string> = {}) =>
    json
      .find((m) => m.name === name)
      ?.values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
      .reduce((sum, v) => sum + v.value, 0) ?? 0;
  return {
    irrevocable: value('rotator_leases_irrevocable_total'),
    failedRevokes: value('rotator_lease_revocations_total', { result: 'failed' }),
  };
}

const POLICY: RetryPolicy = { maximumAttempts: 5, nonRetryableErrorTypes: ['LeaseNotFound'] };

describe('rotator_leases_irrevocable_total', () => {
  it('counts a revoke that failed on its last attempt, and not the attempts before it', async () => {
    const metrics = new WorkerMetrics();
    for (let attempt = 1; attempt < 5; attempt++) await revokeFails(metrics, attempt, POLICY, new Error('vault: 503'));
    expect(await counts(metrics)).toEqual({ irrevocable: 0, failedRevokes: 4 });
    await revokeFails(metrics, 5, POLICY, new Error('vault: 503'));
    expect(await counts(metrics)).toEqual({ irrevocable: 1, failedRevokes: 5 });
  });

  it('counts a non-retryable failure at once, and neither a cancellation nor an attempt under an unlimited policy', async () => {
    const metrics = new WorkerMetrics();
    await revokeFails(metrics, 1, POLICY, ApplicationFailure.nonRetryable('lease unknown to the engine'));
    expect((await counts(metrics)).irrevocable).toBe(1);
    await revokeFails(metrics, 2, POLICY, ApplicationFailure.create({ type: 'LeaseNotFound', message: 'gone' }));
    expect((await counts(metrics)).irrevocable).toBe(2);
    await revokeFails(metrics, 5, POLICY, new CancelledFailure('worker shutting down'));
    await revokeFails(metrics, 40, { maximumAttempts: 0 }, new Error('vault: 503'));
    await revokeFails(metrics, 40, undefined, new Error('vault: 503'));
    expect(await counts(metrics)).toEqual({ irrevocable: 2, failedRevokes: 5 });
  });
});
