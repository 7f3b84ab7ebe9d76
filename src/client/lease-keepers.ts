// Client side of the lease keepers: start one per dynamic secret of the config, read a keeper's status.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { readerLeased, type Config } from '../config/schema';
import { KEEPER_START_RATE } from '../config/lifecycle';
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

/**
 * Spaces keeper starts at the config's `keepers.rate`: each keeper's first task is scheduled one gap after the one
 * before, so a first start of many dynamic secrets does not become an issue storm (see KeepersSchema).
 */
export class KeeperStartPacer {
  private nextAt = 0;
  private readonly gapMs: number;

  constructor(config: Pick<Config, 'keepers'>) {
    const rate = config.keepers?.rate ?? KEEPER_START_RATE;
    this.gapMs = rate.per / rate.starts;
  }

  /** The delay for a keeper starting at `now`; a start that did not happen must give its slot back (release). */
  take(now: number): number {
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + this.gapMs;
    return at - now;
  }

  release(): void {
    this.nextAt -= this.gapMs;
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
  const now = Date.now();
  const delayMs = pacer.take(now);
  const input: KeepLeaseInput = { secret };
  try {
    await client.workflow.start(KEEP_LEASE, {
      taskQueue,
      workflowId: keeperIdFor(secret),
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowTaskTimeout: ROTATION_TASK_TIMEOUT,
      ...(delayMs > 0 ? { startDelay: delayMs } : {}),
    });
    return new Date(now + delayMs);
  } catch (err) {
    pacer.release();
    if (err instanceof WorkflowExecutionAlreadyStartedError) return null;
    throw err;
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
    // Paced (KeeperStartPacer): until its first task is scheduled, it has no state to answer a query with.
    const firstTaskAt = described.executionTime?.getTime() ?? 0;
    if (firstTaskAt > Date.now()) return pendingKeeper(secret, firstTaskAt);
    return await handle.query(keeperStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** A keeper whose first task is still ahead: it has issued nothing yet. */
function pendingKeeper(secret: string, firstTaskAt: number): KeeperState {
  return {
    secret,
    generation: 0,
    current: null,
    revokeQueue: [],
    irrevocable: [],
    irrevocableTotal: 0,
    revoked: 0,
    renewed: 0,
    lost: 0,
    phase: 'starting',
    nextActionAt: firstTaskAt,
    lastError: null,
  };
}
