// Whether a workload's rollout is done, by the rules `kubectl rollout status` applies (k8s.io/kubectl rollout_status.go).
import type * as k8s from '@kubernetes/client-node';

import type { RolloutState } from '../../types';

export type { RolloutState, WorkloadKind } from '../../types';

const waiting = (message: string): RolloutState => ({ state: 'waiting', message });

export function deploymentRollout(d: k8s.V1Deployment): RolloutState {
  const name = d.metadata?.name ?? '';
  const status = d.status ?? {};
  if ((d.metadata?.generation ?? 0) > (status.observedGeneration ?? 0)) {
    return waiting(`deployment ${name}: waiting for the spec update to be observed`);
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { state: 'failed', message: `deployment ${name} exceeded its progress deadline` };
  }
  const updated = status.updatedReplicas ?? 0;
  const wanted = d.spec?.replicas;
  if (wanted !== undefined && updated < wanted) {
    return waiting(`deployment ${name}: ${updated} of ${wanted} new replicas updated`);
  }
  if ((status.replicas ?? 0) > updated) {
    return waiting(`deployment ${name}: ${(status.replicas ?? 0) - updated} old replicas pending termination`);
  }
  if ((status.availableReplicas ?? 0) < updated) {
    return waiting(`deployment ${name}: ${status.availableReplicas ?? 0} of ${updated} updated replicas available`);
  }
  return { state: 'done', message: `deployment ${name} rolled out` };
}

export function statefulSetRollout(s: k8s.V1StatefulSet): RolloutState {
  const name = s.metadata?.name ?? '';
  const strategy = s.spec?.updateStrategy;
  if (strategy?.type && strategy.type !== 'RollingUpdate') {
    return {
      state: 'failed',
      message: `statefulset ${name} uses the ${strategy.type} update strategy: a template change restarts no pod`,
    };
  }
  const status = s.status;
  if (!status?.observedGeneration || (s.metadata?.generation ?? 0) > status.observedGeneration) {
    return waiting(`statefulset ${name}: waiting for the spec update to be observed`);
  }
  const wanted = s.spec?.replicas;
  if (wanted !== undefined && (status.readyReplicas ?? 0) < wanted) {
    return waiting(`statefulset ${name}: waiting for ${wanted - (status.readyReplicas ?? 0)} pods to be ready`);
  }
  const partition = strategy?.rollingUpdate?.partition;
  if (partition !== undefined && partition > 0) {
    // kubectl calls a partitioned rollout complete, but the pods below the partition keep the old value, and the old
    // credential would be revoked under them.
    return {
      state: 'failed',
      message: `statefulset ${name} is partitioned at ${partition}: ${partition} pod(s) would keep the old credential`,
    };
  }
  if (status.updateRevision !== status.currentRevision) {
    return waiting(`statefulset ${name}: rolling update to revision ${status.updateRevision ?? '?'} in progress`);
  }
  return { state: 'done', message: `statefulset ${name} rolled out` };
}

export function daemonSetRollout(d: k8s.V1DaemonSet): RolloutState {
  const name = d.metadata?.name ?? '';
  const strategy = d.spec?.updateStrategy?.type;
  if (strategy && strategy !== 'RollingUpdate') {
    return {
      state: 'failed',
      message: `daemonset ${name} uses the ${strategy} update strategy: a template change restarts no pod`,
    };
  }
  const status = d.status;
  if (!status || (d.metadata?.generation ?? 0) > (status.observedGeneration ?? 0)) {
    return waiting(`daemonset ${name}: waiting for the spec update to be observed`);
  }
  const desired = status.desiredNumberScheduled;
  if ((status.updatedNumberScheduled ?? 0) < desired) {
    return waiting(`daemonset ${name}: ${status.updatedNumberScheduled ?? 0} of ${desired} new pods updated`);
  }
  if ((status.numberAvailable ?? 0) < desired) {
    return waiting(`daemonset ${name}: ${status.numberAvailable ?? 0} of ${desired} updated pods available`);
  }
  return { state: 'done', message: `daemonset ${name} rolled out` };
}
