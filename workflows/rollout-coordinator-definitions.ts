// The rollout coordinator's contract: its name, its id per workload, and the two signals between it and the
// rotations that ask it for a restart. Workflow, activities and tests import these.
import { defineSignal } from '@temporalio/workflow';
import type { WorkloadRef } from '../activities/types';

/** The workflow type name the rotations' activity signal-with-starts and the worker registers. */
export const COALESCE_ROLLOUT = 'coalesceRollout';

/**
 * One coordinator per workload of one cluster: `cluster` is a short digest of the consumer's kubeconfig and context
 * (the same names on two clusters are two workloads), then namespace, kind and name.
 */
export function coordinatorIdFor(cluster: string, w: WorkloadRef): string {
  return `rollout/${cluster}/${w.namespace}/${w.kind}/${w.name}`;
}

/** "Restart this workload for version `value` of `secret`, and tell me when that restart has rolled out." */
export interface RestartRequest {
  /** Unique per rotation, workload and version: a request sent again (a step run again) is the same request. */
  id: string;
  /** The asking rotation's workflow id: the answer is signalled there. */
  requester: string;
  secret: string;
  value: string;
  workload: WorkloadRef;
  /** The rollout consumer's config (connection and options; references only, no secret value). */
  consumer: unknown;
  /** How long the coordinator gathers requests before it restarts (the consumer's `coalesce`). */
  windowMs: number;
  /** How long the rollout may take (the consumer's `timeout`). */
  timeoutMs: number;
  /** How long the rollout's wait rides out an API server that does not answer (the rotation's `outage_tolerance`). */
  outageToleranceMs?: number;
}

/** What became of a request: rolled out (with every version the one restart named), or why not. */
export interface RestartAnswer {
  id: string;
  ok: boolean;
  /** On failure the error code and sentence (CONSUMER_FAILED for a rollout that failed). */
  code?: string;
  message: string;
  generation?: number;
  /** Secret → version: every version the restart that carried this request's named on the pod template. */
  versions: Record<string, string>;
}

export interface CoalesceRolloutInput {
  /** Requests carried over a continue-as-new (none when signal-with-start starts it). */
  pending: RestartRequest[];
}

export const restartRequest = defineSignal<[RestartRequest]>('restartRequest');
export const restartAnswer = defineSignal<[RestartAnswer]>('restartAnswer');
