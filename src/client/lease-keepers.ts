// Client side of the lease keepers: start one per dynamic secret of the config, read a keeper's status.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { dynamicSecrets, type Config } from '../config/schema';
import { KeepersSchema } from '../config/lifecycle';
import {
  KEEP_LEASE,
  keeperIdFor,
  initialKeeperState,
  keeperStatusQuery,
  type KeepLeaseInput,
  type KeeperState,
} from '../../workflows/lifecycle-definitions';
import { ROTATION_TASK_TIMEOUT } from './rotations';

/**
 * Spaces keeper starts at the config's `keepers.rate`: each keeper's first task is scheduled one gap after the one
 * before, so a first start of many dynamic secrets does not become an issue storm (see KeepersSchema). One pacer per
 * starter (a `schedule sync` run, a worker's sweep): two starters at once each keep the rate, not both together.
 */
export class KeeperStartPacer {
  /** On a monotonic clock (performance.now()): a wall clock set back would stretch every later delay. */
  private nextAt = -Infinity;
  private readonly gapMs: number;

  constructor(config: Pick<Config, 'keepers'>) {
    const { rate } = config.keepers ?? KeepersSchema.parse({});
    this.gapMs = rate.per / rate.starts;
  }

  /** The slot of a keeper starting `now`: how long its first task waits. */
  take(now = performance.now()): { delayMs: number; at: number } {
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + this.gapMs;
    return { delayMs: at - now, at };
  }

  /**
   * Gives back the slot of a keeper that was running already (no start happened), if no later slot was taken since.
   * A start that failed otherwise keeps its slot: the server may have started it with that delay all the same.
   */
  release(slot: { at: number }): void {
    if (this.nextAt === slot.at + this.gapMs) this.nextAt = slot.at;
  }
}

/**
 * Starts the keeper of `secret` unless one runs, its first task `pacer` spaces after the last; the time that task is
 * scheduled, or null when a keeper was running already.
 */
export async function startKeeper(
  client: Client,
  taskQueue: string,
  secret: string,
  pacer: KeeperStartPacer,
): Promise<Date | null> {
  const slot = pacer.take();
  const firstTaskAt = new Date(Date.now() + slot.delayMs);
  const input: KeepLeaseInput = { secret };
  try {
    await client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(secret),
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowTaskTimeout: ROTATION_TASK_TIMEOUT,
      ...(slot.delayMs > 0 ? { startDelay: slot.delayMs } : {}),
    });
    return firstTaskAt;
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    pacer.release(slot);
    return null;
  }
}

/**
 * Starts the keeper of every dynamic secret that has none running, paced at `keepers.rate`; idempotent. `lastStartsAt`:
 * when the first task of the last keeper started is scheduled.
 */
export async function ensureKeepers(
  client: Client,
  config: Config,
): Promise<{ started: string[]; running: string[]; lastStartsAt: string | null }> {
  const pacer = new KeeperStartPacer(config);
  const started: string[] = [];
  const running: string[] = [];
  let lastStartsAt: Date | null = null;
  for (const secret of dynamicSecrets(config)) {
    const at = await startKeeper(client, config.temporal.task_queue, secret, pacer);
    if (at) {
      started.push(secret);
      lastStartsAt = at;
    } else running.push(secret);
  }
  return { started, running, lastStartsAt: lastStartsAt?.toISOString() ?? null };
}

/** The keeper's state, or null when none runs for `secret`. */
export async function keeperStatus(client: Client, secret: string): Promise<KeeperState | null> {
  const handle = client.workflow.getHandle(keeperIdFor(secret));
  try {
    const described = await handle.describe();
    if (described.status.name !== 'RUNNING') return null;
    const ahead = firstTaskAhead(described);
    if (ahead) return { ...initialKeeperState(secret, 'starting'), nextActionAt: ahead.getTime() };
    return await handle.query(keeperStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/**
 * When the first task of a keeper paced by KeeperStartPacer is scheduled, while it has not been: the first run of its
 * chain, started with a delay (its execution time after its start), whose history holds its start alone. Such a run
 * cannot answer a query yet. Null for a keeper that has begun, and for every later run of one: continue-as-new
 * starts them at once, yet CI caught such a run with its start alone in its history and an execution time after it.
 */
export function firstTaskAhead(description: WorkflowExecutionDescription): Date | null {
  const at = description.executionTime;
  const firstRun = description.raw.workflowExecutionInfo?.firstRunId;
  const first = !firstRun || firstRun === description.runId;
  return first && at && at > description.startTime && description.historyLength <= 1 ? at : null;
}
