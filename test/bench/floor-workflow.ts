// The bench's floor: a workflow made of as many steps as a rotation, each a no-op. What it costs one at a time and
// 20 in flight is what Temporal and its SDK cost this machine before a rotation does any work of its own.
import { continueAsNew, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';

export interface FloorShape {
  /** Local activities, run one after another (a rotation's inspect, stage, apply, verify, promote, ...). */
  local: number;
  /** Regular activities, run after all local ones but the last (a rotation's revoke). */
  regular: number;
}

export interface FloorActivities {
  noop(): Promise<void>;
}

const local = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });
const regular = proxyActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });

export async function floor({ local: locals, regular: regulars }: FloorShape): Promise<void> {
  for (let i = 0; i < locals - 1; i++) await local.noop();
  for (let i = 0; i < regulars; i++) await regular.noop();
  if (locals > 0) await local.noop();
}

/**
 * A keeper's floor, the steps of keepLease's renewal run (run-per-cycle) as no-ops: a local activity (its config
 * read), a timer, a local activity (the renew), continue-as-new. The first wake is `offsetMs` in, so many of them do
 * not wake together.
 */
export async function floorKeeper({ intervalMs, offsetMs }: { intervalMs: number; offsetMs: number }): Promise<void> {
  await local.noop();
  await sleep(offsetMs || intervalMs);
  await local.noop();
  await continueAsNew<typeof floorKeeper>({ intervalMs, offsetMs: 0 });
}
