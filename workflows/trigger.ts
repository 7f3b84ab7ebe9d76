// triggerRotation: one provider event or webhook, mapped to a secret. Its workflow id is derived from the event's id,
// so a second delivery of the same event cannot start it again; it rotates once, joins a rotation that already
// answers the event, or skips, and says which.
import { proxyLocalActivities } from '@temporalio/workflow';
import type { TriggerActivities } from '../activities/triggers';
import type { TriggerInput, TriggerResult } from './lifecycle-definitions';
import { rotateAsChild } from './lib/child-rotation';
import { SHORT_IO } from './lib/policies';

const triggers = proxyLocalActivities<TriggerActivities>(SHORT_IO);

export async function triggerRotation(input: TriggerInput): Promise<TriggerResult> {
  const { secret, action, event } = input;
  const result = (outcome: TriggerResult['outcome'], reason: string | null, rotationId: string | null = null) => ({
    secret,
    outcome,
    reason,
    rotationId,
  });
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
  if (rotation.outcome === 'already-running') return result('joined', 'a rotation of this secret is running');
  return result(rotation.outcome, rotation.error, rotation.rotationId);
}
