// `rotator plan` for a rollout consumer: the named workloads exist, and rotator's identity may get and patch them
// (list for label selectors). Reads and SelfSubjectAccessReviews only: nothing restarts.
import { RotatorError } from '../../../src/kernel/errors';
import { describeWorkload } from '../../../src/kernel/workloads';
import { KubeClients, kubeConfigFor } from '../../kubernetes/client';
import { accessCheck, type Access } from '../../kubernetes/preflight';
import type { PreflightCheck } from '../../plugin';
import type { RolloutConfig } from './index';
import { Rollouts } from './rollouts';

const RESOURCES = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' } as const;

export async function preflight(config: RolloutConfig): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  let clients: KubeClients;
  try {
    clients = new KubeClients(kubeConfigFor(config));
  } catch (err) {
    const message = err instanceof RotatorError ? err.message : String(err);
    return [
      { check: 'rollout: kubeconfig', status: 'fail', detail: message, fix: 'check the consumer’s kubeconfig and context' },
    ];
  }
  // Listing needs `list` for selectors; asked first, so a denied list is reported as a right rather than as an error.
  const selectors: Access[] = config.workloads
    .filter((w) => w.selector)
    .map((w) => ({ verb: 'list', group: 'apps', resource: RESOURCES[w.kind], namespace: w.namespace ?? config.namespace }));
  if (selectors.length > 0) checks.push(await accessCheck(clients, 'rollout: may list workloads by selector', selectors));
  const found = 'rollout: workloads exist';
  let workloads;
  try {
    workloads = await new Rollouts(config).workloads();
  } catch (err) {
    const message = err instanceof RotatorError ? err.message : String(err);
    checks.push({
      check: found,
      status: 'fail',
      detail: message,
      fix: 'correct the workload names in consumers:, or create them',
    });
    return checks;
  }
  if (workloads.length === 0) {
    checks.push({ check: found, status: 'warn', detail: 'the selectors match no workload: the rotation restarts nothing' });
    return checks;
  }
  checks.push({ check: found, status: 'ok', detail: workloads.map(describeWorkload).join(', ') });
  const rights = workloads.flatMap((w) =>
    ['get', 'patch'].map((verb): Access => ({
      verb,
      group: 'apps',
      resource: RESOURCES[w.kind],
      namespace: w.namespace,
      name: w.name,
    })),
  );
  checks.push(await accessCheck(clients, 'rollout: may restart the workloads', rights));
  return checks;
}
