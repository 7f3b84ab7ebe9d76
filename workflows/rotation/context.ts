// One rotation in progress: its plan, its status (what the status query returns), its saga, the scope a cancel
// reaches, and the activity proxies every phase shares. The phases, the strategies and the settling read and write it.
import { CancellationScope, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ReconnectActivities, ReconnectPlan } from '../../activities/reconnect';
import type { RotationActivities } from '../../activities/rotation';
import type { RotationPlan } from '../../src/kernel/plan';
import type { PhaseName, RotationStatus } from '../definitions';
import { report } from '../lib/events';
import { describeFailure } from '../lib/failures';
import { inPhase } from '../lib/phases';
import {
  COMPENSATE,
  DEFAULT_OUTAGE_TOLERANCE_MS,
  forwardIo,
  heartbeatingWait,
  IRREVERSIBLE,
  RESTORE,
  verifyLogin,
} from '../lib/policies';
import { Saga } from '../lib/saga';
import type { Strategy } from './strategy';

const revoker = proxyActivities<RotationActivities>(IRREVERSIBLE);
const releaser = proxyActivities<RotationActivities>(IRREVERSIBLE);
const undo = proxyActivities<RotationActivities>(COMPENSATE);
const restorer = proxyActivities<RotationActivities>(RESTORE);
const undoConsumers = proxyActivities<ReconnectActivities>(COMPENSATE);

export class Rotation {
  readonly saga = new Saga();
  /** Forward steps, local: they wait out an outage of the store or the database for the plan's tolerance. */
  readonly io: RotationActivities;
  /** Logging in with a credential, local. */
  readonly verifier: RotationActivities;
  /** Consumer steps, local. */
  readonly consumers: ReconnectActivities;
  /** The long drain wait rides out an outage as the revoke after it does. */
  readonly drainer: RotationActivities;
  /** Regular activities that change what cannot be changed back (revoke) and the claim's release. */
  readonly revoker = revoker;
  readonly releaser = releaser;
  /** Compensations: undo steps retry as long as it takes. */
  readonly undo = undo;
  readonly restorer = restorer;
  readonly undoConsumers = undoConsumers;
  /**
   * What reconnect will do, decided before anything changes: a consumer that names a workload that is not there
   * fails the rotation while there is nothing to undo. Null for rotations started before consumers had steps.
   */
  reconnectPlan: ReconnectPlan | null = null;
  /** Whether the claim was released already: past the commit point, with the rest of the rotation. */
  released = false;
  /**
   * Whether the step just taken was the revoke, as a regular activity: its result, and every step before it, are in
   * history, so a worker death from here on runs again only what follows it (the release, which converges).
   */
  revokedDurably = false;

  constructor(
    readonly plan: RotationPlan,
    /** How this plan's strategy creates, publishes and revokes: its module. */
    readonly strategy: Strategy,
    /** The first run's id: a reset starts a new run, which must still recognise this rotation's claim as its own. */
    readonly rotationId: string,
    readonly status: RotationStatus,
    /**
     * Everything the rotation does runs in this scope; `rotator cancel` cancels it (a cancel through Temporal reaches
     * it from the root scope), and what settles the rotation afterwards runs outside it.
     */
    readonly work: CancellationScope,
  ) {
    // Retry options are not in history, so running rotations take the new ones on replay too.
    const tolerance = plan.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS;
    this.io = proxyLocalActivities<RotationActivities>(forwardIo(tolerance));
    this.verifier = proxyLocalActivities<RotationActivities>(verifyLogin(tolerance));
    this.consumers = proxyLocalActivities<ReconnectActivities>(forwardIo(tolerance));
    this.drainer = proxyActivities<RotationActivities>({ ...heartbeatingWait(plan.drain.timeoutMs), retry: IRREVERSIBLE.retry });
  }

  /** Runs `body` as phase `name`: timed in the status, and reported when it starts, completes or fails. */
  async phase<T>(name: PhaseName, body: () => Promise<T>): Promise<T> {
    const status = this.status;
    report(status, 'phase.started', { phase: name });
    try {
      const result = await inPhase(status, name, body);
      report(status, 'phase.completed', { phase: name, durationMs: status.phases.at(-1)?.durationMs ?? 0 });
      return result;
    } catch (err) {
      report(status, 'phase.failed', {
        phase: name,
        durationMs: status.phases.at(-1)?.durationMs ?? 0,
        error: describeFailure(err),
      });
      throw err;
    }
  }
}
