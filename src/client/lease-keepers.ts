// Client side of the lease keepers: start one per dynamic secret of the config, read a keeper's status.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { readerLeased, type Config } from '../config/schema';
import {
  KEEP_LEASE,
  keeperIdFor,
  keeperStatusQuery,
  type KeepLeaseInput,
  type KeeperState,
} from '../../workflows/lifecycle-definitions';
import { ROTATION_TASK_TIMEOUT } from './rotations';

/** The dynamic secrets rotator's worker keeps: those it publishes (a secret without publish: is leased by its readers). */
export function dynamicSecrets(config: Config): string[] {
  return Object.entries(config.secrets)
    .filter(([, s]) => s.type === 'dynamic' && !readerLeased(s))
    .map(([name]) => name);
}

/** Starts the keeper of every dynamic secret that has none running; idempotent. */
export async function ensureKeepers(client: Client, config: Config): Promise<{ started: string[]; running: string[] }> {
  const started: string[] = [];
  const running: string[] = [];
  for (const secret of dynamicSecrets(config)) {
    const input: KeepLeaseInput = { secret };
    try {
      await client.workflow.start(KEEP_LEASE, {
        taskQueue: config.temporal.task_queue,
        workflowId: keeperIdFor(secret),
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowTaskTimeout: ROTATION_TASK_TIMEOUT,
      });
      started.push(secret);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      running.push(secret);
    }
  }
  return { started, running };
}

/** The keeper's state, or null when none runs for `secret`. */
export async function keeperStatus(client: Client, secret: string): Promise<KeeperState | null> {
  const handle = client.workflow.getHandle(keeperIdFor(secret));
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return null;
    return await handle.query(keeperStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}
