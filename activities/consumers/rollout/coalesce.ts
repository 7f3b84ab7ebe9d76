// The coalesced rollout's activities: a rotation asks a workload's coordinator for a restart (signal-with-start), and
// the coordinator restarts the workload once for every version asked of it and waits for that rollout.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { parseDuration } from '../../../src/kernel/duration';
import { RotatorError } from '../../../src/kernel/errors';
import type { RotationPlan } from '../../../src/kernel/plan';
import { describeWorkload } from '../../../src/kernel/workloads';
import {
  COALESCE_ROLLOUT,
  coordinatorIdFor,
  restartRequest,
  type CoalesceRolloutInput,
  type RestartRequest,
} from '../../../workflows/rollout-coordinator-definitions';
import { guardedAll } from '../../guarded';
import type { WorkloadRef } from '../../types';
import type { RolloutConfig } from './index';
import { restartAnnotationKey, Rollouts } from './rollouts';
import { awaitRolledOut } from './wait';
import { DEFAULT_OUTAGE_TOLERANCE_MS } from '../../../workflows/lib/policies';

/** Which cluster a consumer reaches: a digest of its kubeconfig and context (a path is no part of a workflow id). */
export function clusterOf(config: RolloutConfig): string {
  const connection = JSON.stringify({ kubeconfig: config.kubeconfig ?? null, context: config.context ?? null });
  return createHash('sha256').update(connection).digest('hex').slice(0, 12);
}

/** The coordinator's and its requesters' steps, failing scrubbed of `secrets` like every activity. */
export function createCoalesceActivities(secrets: ReadonlyArray<string> = []) {
  const opened = new Map<string, Rollouts>();
  function rollouts(config: RolloutConfig): Rollouts {
    const key = JSON.stringify(config);
    let r = opened.get(key);
    if (!r) opened.set(key, (r = new Rollouts(config)));
    return r;
  }

  /**
   * Asks the coordinator of each workload for a restart onto `value`, starting it if none runs; the answers come to
   * the asking rotation as signals. Sent again (the step run again after a worker died), a request is the same
   * request: the coordinator keeps one of each, and a restart already made is not made again.
   */
  async function requestRestarts(
    plan: RotationPlan,
    input: { consumer: number; workloads: WorkloadRef[]; value: string; rotationId: string },
  ): Promise<string[]> {
    const config = plan.consumers?.[input.consumer] as RolloutConfig | undefined;
    if (!config?.coalesce) {
      throw new RotatorError('CONFIG_INVALID', `consumer #${input.consumer} has no coalesce window`, 'coalesce');
    }
    const { info, client } = Context.current();
    const ids: string[] = [];
    for (const workload of input.workloads) {
      const request: RestartRequest = {
        id: `${input.rotationId}/${describeWorkload(workload)}/${input.value}`,
        requester: info.workflowExecution!.workflowId,
        secret: plan.secret,
        value: input.value,
        workload,
        consumer: config,
        windowMs: parseDuration(config.coalesce),
        timeoutMs: parseDuration(config.timeout),
        outageToleranceMs: plan.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS,
      };
      const args: [CoalesceRolloutInput] = [{ pending: [] }];
      await client.workflow.signalWithStart(COALESCE_ROLLOUT, {
        workflowId: coordinatorIdFor(clusterOf(config), workload),
        taskQueue: info.taskQueue,
        args,
        signal: restartRequest,
        signalArgs: [request],
      });
      ids.push(request.id);
    }
    return ids;
  }

  /** One patch of the pod template naming every secret's version (secret → version); nothing if all are there. */
  async function restartTogether(input: {
    consumer: unknown;
    workload: WorkloadRef;
    versions: Record<string, string>;
  }): Promise<{ generation: number; restarted: boolean }> {
    const annotations = Object.fromEntries(
      Object.entries(input.versions).map(([secret, version]) => [restartAnnotationKey(secret), version]),
    );
    const result = await rollouts(input.consumer as RolloutConfig).restartWith(input.workload, annotations);
    Context.current().log.info('workload restarted once for several secrets', {
      workload: describeWorkload(input.workload),
      secrets: Object.keys(input.versions),
      restarted: result.restarted,
    });
    return result;
  }

  /** Waits until the workload rolled out (`awaitRolledOut`): the deadline counts from the restart (`startedAt`). */
  async function awaitWorkloadRollout(input: {
    consumer: unknown;
    workload: WorkloadRef;
    startedAt: number;
    timeoutMs: number;
    /** Absent on a coordinator that asked before the wait rode out outages: the default tolerance. */
    toleranceMs?: number;
  }): Promise<void> {
    const r = rollouts(input.consumer as RolloutConfig);
    await awaitRolledOut((w) => r.progress(w), [input.workload], {
      startedAt: input.startedAt,
      timeoutMs: input.timeoutMs,
      toleranceMs: input.toleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS,
    });
  }

  return guardedAll({ requestRestarts, restartTogether, awaitWorkloadRollout }, secrets);
}

export type CoalesceActivities = ReturnType<typeof createCoalesceActivities>;
