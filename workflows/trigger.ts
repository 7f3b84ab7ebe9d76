// triggerRotation: one provider event or webhook, mapped to a secret. Its workflow id is derived from the event's id,
// so a second delivery of the same event cannot start it again; it rotates once, joins a rotation that already
// answers the event, or skips, and says which.
import { proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { TriggerActivities } from '../activities/trigger';
import type { TriggerInput, TriggerResult } from './lifecycle-definitions';
import { rotateAsChild } from './lib/child-rotation';
import { SHORT_IO } from './lib/policies';

const triggers = proxyLocalActivities<TriggerActivities>(SHORT_IO);
/**
 * Looking again while another rotation of the secret runs: durable timers, so a thousand waiting triggers hold no
 * worker slot that the rotation they wait for needs. From 1 s, doubling to 5 min, for about a day in all.
 */
const RECHECK_FIRST_MS = 1_000;
const RECHECK_MAX_MS = 300_000;
const ROUNDS = 300;

export async function triggerRotation(input: TriggerInput): Promise<TriggerResult> {
  const { secret, action, event } = input;
  const result = (outcome: TriggerResult['outcome'], reason: string | null, rotationId: string | null = null) => ({
    secret,
    outcome,
    reason,
    rotationId,
  });
  for (let round = 1; ; round++) {
    const setup = await triggers.triggerSetup(input);
    if (action === 'alert') return result('alerted', `${event.type} from ${event.source}`);
    if (!setup.plan) return result('skipped', setup.why);
    // Any rotation that began after the event was raised answers it: ten deliveries of a burst rotate once.
    if (setup.answeredBy) {
      const state = setup.answeredBy.running ? 'running' : 'done';
      return result('joined', `a rotation started after the event is ${state}`, setup.answeredBy.rotationId);
    }
    if (action === 'rotate-if-due' && !setup.due) return result('skipped', 'not due');
    if (action === 'reconcile' && setup.inSync) return result('skipped', 'the store and the target agree');
    const rotation = await rotateAsChild(setup.plan, `event:${event.source}`);
    if (rotation.outcome !== 'already-running') return result(rotation.outcome, rotation.error, rotation.rotationId);
    // Another is running: one started before the event may not answer it (it may fail, or predate an out-of-band
    // write); one started after it will show as the answer when we look again.
    if (round === ROUNDS) return result('joined', 'a rotation of this secret is running', null);
    await sleep(Math.min(RECHECK_FIRST_MS * 2 ** (round - 1), RECHECK_MAX_MS));
  }
}
