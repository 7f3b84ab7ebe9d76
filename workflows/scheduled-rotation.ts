// scheduledRotation: what a Schedule starts. Waits for the secret's window, then rotates it under its own id
// (`rotate/<secret>`, the CLI's), a bounded number of times with fresh material, and leaves the rest to a person.
import { proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { LifecycleActivities } from '../activities/lifecycle';
import { msUntilWindow, type TimeWindow } from '../src/kernel/window';
import { STUCK_OUTCOMES, type ScheduledRotationInput, type ScheduledRotationResult } from './lifecycle-definitions';
import { rotateAsChild } from './lib/child-rotation';
import { SHORT_IO } from './lib/policies';

const lifecycle = proxyLocalActivities<LifecycleActivities>(SHORT_IO);

export async function scheduledRotation({
  secret,
  trigger = 'schedule',
}: ScheduledRotationInput): Promise<ScheduledRotationResult> {
  const result: ScheduledRotationResult = { secret, outcome: 'skipped', reason: null, attempts: [], waitedUntil: null };
  const skip = (reason: string) => ({ ...result, outcome: 'skipped' as const, reason });

  let setup = await lifecycle.scheduledSetup(secret);
  for (let attempt = 1; attempt <= setup.attempts; attempt++) {
    if (attempt > 1) await sleep(setup.retryDelayMs);
    if (setup.window) await untilOpen(setup.window);
    // Read again right before rotating: a wait (window, retry) can be long, and the config or the standing may
    // have changed meanwhile.
    if (attempt > 1 || result.waitedUntil !== null) setup = await lifecycle.scheduledSetup(secret);
    if (!setup.plan) return skip(setup.why ?? 'not rotatable');
    if (setup.needsHuman && attempt === 1) return skip(`needs a human: ${setup.consecutiveFailures} failed rotation(s) in a row`);
    const rotation = await rotateAsChild(setup.plan, trigger);
    result.attempts.push(rotation);
    if (rotation.outcome === 'already-running') return skip('already running');
    if (rotation.outcome === 'succeeded') return { ...result, outcome: 'succeeded' };
    // A person cancelled or rejected it, or let its approval lapse: decisions, not failures to try again.
    if (rotation.code === 'CANCELLED' || rotation.outcome === 'cancelled') return skip('the rotation was cancelled');
    if (rotation.outcome === 'rejected') return skip('the rotation was rejected');
    if (rotation.outcome === 'expired') return skip('nobody approved the rotation in time');
    if (STUCK_OUTCOMES.includes(rotation.outcome)) break;
  }
  return {
    ...result,
    outcome: 'needs-human',
    reason: `${result.attempts.length} attempt(s) failed; the last ${result.attempts.at(-1)?.outcome}`,
  };

  /** Sleeps until the window opens; checks again on waking, since a daylight-saving shift can move it. */
  async function untilOpen(window: TimeWindow): Promise<void> {
    for (let wait = msUntilWindow(Date.now(), window); wait > 0; wait = msUntilWindow(Date.now(), window)) {
      result.waitedUntil = Date.now() + wait;
      await sleep(wait);
    }
  }
}
