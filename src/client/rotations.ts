// Client-side operations on rotations, shared by the CLI, the demo, the bench and the tests.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { RotationPlan } from '../kernel/plan';
import { workflowIdFor } from '../kernel/plan';
import type { rotateSecret } from '../../workflows/rotate-secret';
import { ROTATE_SECRET, statusQuery, type RotateSecretInput, type RotationStatus } from '../../workflows/definitions';

/**
 * How long a workflow task may take before the server hands it to another worker. It is also how long a rotation
 * stalls when its worker dies mid-task, which for single-user is how long the store's current password can be
 * refused (the new one is set, the promote not yet done). Our tasks take milliseconds: local activities heartbeat
 * the task at 80% of this, so no slow step can hit it. The server's default is 10 s.
 */
export const ROTATION_TASK_TIMEOUT = '3s';

export interface StartedRotation {
  handle: WorkflowHandle<typeof rotateSecret>;
  /** False when a rotation of this secret was already running and we attached to it instead. */
  started: boolean;
}

/** Starts a rotation, or finds the one already running: Temporal refuses a second run with the same workflow id. */
export async function startRotation(
  client: Client,
  taskQueue: string,
  plan: RotationPlan,
  requestedBy?: string,
): Promise<StartedRotation> {
  const workflowId = workflowIdFor(plan.secret);
  try {
    const input: RotateSecretInput = { plan, ...(requestedBy ? { requestedBy } : {}) };
    const handle = await client.workflow.start<typeof rotateSecret>(ROTATE_SECRET, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowTaskTimeout: ROTATION_TASK_TIMEOUT,
    });
    return { handle, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle<typeof rotateSecret>(workflowId), started: false };
  }
}

export async function queryStatus(handle: WorkflowHandle): Promise<RotationStatus> {
  return handle.query(statusQuery);
}

export interface RotationOutcome {
  status: RotationStatus;
  ok: boolean;
}

/**
 * Waits for the rotation to end, calling `onProgress` whenever its status changes. Progress comes from the status
 * query; the end comes from the workflow result, so nothing is missed if a poll falls between two phases.
 */
export async function followRotation(
  handle: WorkflowHandle,
  onProgress?: (status: RotationStatus) => void,
  pollMs = 200,
): Promise<RotationOutcome> {
  let done = false;
  let last = '';
  const report = (s: RotationStatus) => {
    const key = JSON.stringify([s.phase, s.phases.length, s.outcome]);
    if (key !== last) {
      last = key;
      onProgress?.(s);
    }
  };
  const poller = (async () => {
    while (!done && onProgress) {
      try {
        report(await queryStatus(handle));
      } catch {
        // no worker picked the rotation up yet, or it just closed: the result below decides
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  })();
  try {
    const status = (await handle.result()) as RotationStatus;
    report(status);
    return { status, ok: true };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const status = await queryStatus(handle);
    report(status);
    return { status, ok: false };
  } finally {
    done = true;
    await poller;
  }
}

export interface RunSummary {
  workflowId: string;
  runId: string;
  status: string;
  startTime: Date;
  closeTime: Date | null;
}

/** Newest first. Visibility stores cannot all sort, so runs are listed (up to a bound), sorted, then cut. */
export async function rotationHistory(client: Client, secret: string, limit = 20, scanAtMost = 1000): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  const id = workflowIdFor(secret).replace(/'/g, "\\'");
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${id}'` })) {
    runs.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      status: wf.status.name,
      startTime: wf.startTime,
      closeTime: wf.closeTime ?? null,
    });
    if (runs.length >= scanAtMost) break;
  }
  return runs.sort((a, b) => b.startTime.getTime() - a.startTime.getTime()).slice(0, limit);
}

export async function latestRun(client: Client, secret: string): Promise<RunSummary | null> {
  try {
    const d = await client.workflow.getHandle(workflowIdFor(secret)).describe();
    return {
      workflowId: d.workflowId,
      runId: d.runId,
      status: d.status.name,
      startTime: d.startTime,
      closeTime: d.closeTime ?? null,
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** True when some worker polled the task queue recently; a rotation started without one waits until one does. */
export async function hasWorkers(client: Client, taskQueue: string): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
  });
  return (res.pollers?.length ?? 0) > 0;
}
