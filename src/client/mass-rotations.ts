// Client side of a mass rotation: start the run of a selection (or attach to it while it runs), carry over what an
// earlier run of the same selection rotated, and follow its progress until it ends.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { massRunIdFor, type Selection } from '../config/mass';
import type { massRotation } from '../../workflows/mass-rotation';
import {
  MASS_ROTATION,
  massProgressQuery,
  type MassProgress,
  type MassResult,
  type MassRotationInput,
} from '../../workflows/mass-definitions';

export interface StartedMass {
  handle: WorkflowHandle<typeof massRotation>;
  runId: string;
  /** started: a new run; attached: the run of this selection was still running; nothing-left: every secret succeeded. */
  state: 'started' | 'attached' | 'nothing-left';
  /** Secrets an earlier run rotated, not started again. */
  carried: number;
}

/** The secrets the last run of `workflowId` ended with as rotated (succeeded now or before), if it completed. */
async function doneBefore(handle: WorkflowHandle<typeof massRotation>): Promise<string[]> {
  const result = await handle.result().catch(() => null);
  if (!result) return [];
  return Object.entries(result.results)
    .filter(([, e]) => e.outcome === 'succeeded' || e.outcome === 'already-done')
    .map(([secret]) => secret);
}

export async function startMassRotation(
  client: Client,
  taskQueue: string,
  selection: Selection,
  options: { fresh: boolean; maxConcurrent: number; requestedBy: string },
): Promise<StartedMass> {
  const runId = massRunIdFor(selection);
  const existing = client.workflow.getHandle<typeof massRotation>(runId);
  const run = await existing.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  });
  if (run?.status.name === 'RUNNING') return { handle: existing, runId, state: 'attached', carried: 0 };
  const done = run && !options.fresh ? await doneBefore(existing) : [];
  const inSelection = new Set(selection.secrets);
  const carried = done.filter((s) => inSelection.has(s));
  if (selection.secrets.length > 0 && carried.length === selection.secrets.length)
    return { handle: existing, runId, state: 'nothing-left', carried: carried.length };
  const input: MassRotationInput = {
    selector: selection.selector,
    secrets: selection.secrets,
    done: carried,
    maxConcurrent: options.maxConcurrent,
    requestedBy: options.requestedBy,
  };
  try {
    const handle = await client.workflow.start<typeof massRotation>(MASS_ROTATION, {
      taskQueue,
      workflowId: runId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    return { handle, runId, state: 'started', carried: carried.length };
  } catch (err) {
    // Another CLI started it a moment ago: follow that one.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { handle: existing, runId, state: 'attached', carried: 0 };
    throw err;
  }
}

/**
 * Polls the run's progress every `intervalMs` (through a worker or Temporal being away for a while: `onProgress` gets
 * null then) until it ends, and returns its result.
 */
export async function followMassRotation(
  handle: WorkflowHandle<typeof massRotation>,
  onProgress: (p: MassProgress | null) => void,
  intervalMs = 500,
): Promise<MassResult> {
  let ended = false;
  const result = handle.result().finally(() => (ended = true));
  result.catch(() => undefined);
  while (!ended) {
    const progress = await handle.query(massProgressQuery).catch(() => null);
    if (!ended) onProgress(progress);
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, intervalMs))]);
  }
  return result;
}
