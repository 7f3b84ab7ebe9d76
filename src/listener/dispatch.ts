// From an authenticated event to at most one trigger workflow: the rules pick the secret and action, the event's id
// picks the workflow id, and Temporal refuses a second workflow with that id (also after a listener restart).
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { TriggerRule, TriggersConfig } from '../config/trigger';
import type { Logger } from '../kernel/log';
import { shown } from '../kernel/printable';
import { TRIGGER_ROTATION, type TriggerInput } from '../../workflows/lifecycle-definitions';
import type { Dispatch, TriggerEvent } from './events';
import { RECORD } from './records';

/** `trigger/<source>/<hash of the event id>`: ids are the sender's, of any length and alphabet. */
export function triggerWorkflowIdFor(event: Pick<TriggerEvent, 'source' | 'id'>): string {
  const hash = createHash('sha256').update(event.id).digest('hex').slice(0, 32);
  return `trigger/${event.source}/${hash}`;
}

/** `*` matches any run of characters; everything else literally. */
function globMatches(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 's');
  return re.test(value);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first rule that maps the event, or null. */
export function ruleFor(rules: ReadonlyArray<TriggerRule>, event: TriggerEvent): TriggerRule | null {
  return (
    rules.find(
      (r) =>
        r.source === event.source &&
        (r.event === undefined || r.event === event.type) &&
        (r.resource === undefined || globMatches(r.resource, event.resource)),
    ) ?? null
  );
}

export function createDispatch(options: { client: Client; taskQueue: string; triggers: TriggersConfig; log: Logger }): Dispatch {
  const { client, taskQueue, triggers, log } = options;
  return async (event) => {
    const rule = ruleFor(triggers.rules, event);
    const fields = { source: event.source, eventId: shown(event.id), type: shown(event.type), resource: shown(event.resource) };
    if (!rule) {
      log.warn(fields, RECORD.unmapped);
      return { status: 'unmapped' };
    }
    const workflowId = triggerWorkflowIdFor(event);
    const input: TriggerInput = {
      secret: rule.secret,
      action: rule.action,
      event: { source: event.source, id: event.id, type: event.type, resource: event.resource, time: event.time },
    };
    try {
      await client.workflow.start(TRIGGER_ROTATION, {
        workflowId,
        taskQueue,
        args: [input],
        // Never a second run for one event id, not even after the first ended: that is the dedupe.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowTaskTimeout: '3s',
        // The SQS message is gone once this is started: a trigger that fails (an outage while it decides) is run
        // again by the server under the same id, for about an hour, rather than dropping the event.
        retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 10 },
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        log.info({ ...fields, workflowId }, RECORD.duplicate);
        return { status: 'duplicate', workflowId };
      }
      throw err;
    }
    log.info({ ...fields, secret: rule.secret, action: rule.action, workflowId }, RECORD.dispatched);
    return { status: 'started', secret: rule.secret, action: rule.action, workflowId };
  };
}
