// Waiting for workloads to roll out, shared by a rotation's own rollout and a coordinator's coalesced one: the rules of
// `kubectl rollout status`, a deadline from the restart, and an API server that does not answer waited for as long
// as the rotation's outage tolerance, as every forward step waits for its system.
import { Context } from '@temporalio/activity';
import { RotatorError } from '../../../src/kernel/errors';
import { seconds } from '../../timeouts';
import type { WorkloadRef } from '../../types';
import { describeWorkload, rolloutFailed } from './rollouts';

const ROLLOUT_POLL_MS = 500;

export type RolloutProgress = (w: WorkloadRef) => Promise<{ state: 'done' | 'waiting' | 'failed'; message: string }>;

/**
 * Waits, heartbeating, until every workload rolled out. A rollout the controller gave up on fails at once; the
 * deadline counts from `startedAt` (the restart), so a retry on another worker does not start the clock again. A read
 * that fails TRANSIENT counts as still waiting until the API server has not answered for `toleranceMs`: the attempt
 * then fails, and later attempts fail at once until it answers, since the outage's start travels in the heartbeat.
 */
export async function awaitRolledOut(
  progress: RolloutProgress,
  workloads: WorkloadRef[],
  { startedAt, timeoutMs, toleranceMs }: { startedAt: number; timeoutMs: number; toleranceMs: number },
): Promise<void> {
  const ctx = Context.current();
  const deadline = startedAt + timeoutMs;
  const details = ctx.info.heartbeatDetails as { outageSince?: unknown } | undefined;
  let outageSince = typeof details?.outageSince === 'number' ? details.outageSince : null;
  let pending = [...workloads];
  for (;;) {
    const still: WorkloadRef[] = [];
    let last = '';
    try {
      for (const w of pending) {
        const { state, message } = await progress(w);
        if (state === 'failed') throw rolloutFailed(w, message);
        if (state === 'waiting') {
          still.push(w);
          last = message;
        }
      }
      pending = still;
      outageSince = null;
    } catch (err) {
      if (!(err instanceof RotatorError && err.code === 'TRANSIENT')) throw err;
      outageSince ??= Date.now();
      const down = Date.now() - outageSince;
      if (down >= toleranceMs) {
        throw new RotatorError(
          'TRANSIENT',
          `${err.message} (no answer for ${seconds(down)}, past the rotation's outage tolerance of ${seconds(toleranceMs)})`,
        );
      }
      last = err.message;
    }
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw rolloutFailed(pending[0]!, `not rolled out within ${Math.round(timeoutMs / 1000)}s (${last})`);
    }
    ctx.heartbeat({ waitingFor: pending.map(describeWorkload), ...(outageSince !== null ? { outageSince } : {}) });
    await ctx.sleep(Math.min(ROLLOUT_POLL_MS, Math.max(0, deadline - Date.now())));
  }
}
