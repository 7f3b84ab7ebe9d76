// Restarting Kubernetes workloads by patching their pod template, and reading whether their rollouts are done.
import type * as k8s from '@kubernetes/client-node';
import { RotatorError } from '../../../src/kernel/errors';
import { describeWorkload } from '../../../src/kernel/workloads';
import { KubeClients, kube, kubeConfigFor, strategicMerge } from '../../kubernetes/client';
import type { ConsumerEvent, RolloutConsumer, WorkloadRef } from '../../types';
import type { RolloutConfig } from './index';
import { daemonSetRollout, deploymentRollout, statefulSetRollout, type RolloutState, type WorkloadKind } from './status';

type Workload = k8s.V1Deployment | k8s.V1StatefulSet | k8s.V1DaemonSet;

/** The calls that differ per kind; everything else is the same for the three. */
interface KindApi {
  resource: string;
  read(apps: k8s.AppsV1Api, namespace: string, name: string): Promise<Workload>;
  list(apps: k8s.AppsV1Api, namespace: string, labelSelector?: string): Promise<Workload[]>;
  patch(apps: k8s.AppsV1Api, namespace: string, name: string, body: object): Promise<Workload>;
  state(w: Workload): RolloutState;
}

const KINDS: Record<WorkloadKind, KindApi> = {
  Deployment: {
    resource: 'deployments',
    read: (apps, namespace, name) => apps.readNamespacedDeployment({ name, namespace }),
    list: async (apps, namespace, labelSelector) =>
      (await apps.listNamespacedDeployment({ namespace, ...(labelSelector ? { labelSelector } : {}) })).items,
    patch: (apps, namespace, name, body) => apps.patchNamespacedDeployment({ name, namespace, body }, strategicMerge()),
    state: (w) => deploymentRollout(w as k8s.V1Deployment),
  },
  StatefulSet: {
    resource: 'statefulsets',
    read: (apps, namespace, name) => apps.readNamespacedStatefulSet({ name, namespace }),
    list: async (apps, namespace, labelSelector) =>
      (await apps.listNamespacedStatefulSet({ namespace, ...(labelSelector ? { labelSelector } : {}) })).items,
    patch: (apps, namespace, name, body) => apps.patchNamespacedStatefulSet({ name, namespace, body }, strategicMerge()),
    state: (w) => statefulSetRollout(w as k8s.V1StatefulSet),
  },
  DaemonSet: {
    resource: 'daemonsets',
    read: (apps, namespace, name) => apps.readNamespacedDaemonSet({ name, namespace }),
    list: async (apps, namespace, labelSelector) =>
      (await apps.listNamespacedDaemonSet({ namespace, ...(labelSelector ? { labelSelector } : {}) })).items,
    patch: (apps, namespace, name, body) => apps.patchNamespacedDaemonSet({ name, namespace, body }, strategicMerge()),
    state: (w) => daemonSetRollout(w as k8s.V1DaemonSet),
  },
};

export { describeWorkload };

export class Rollouts implements RolloutConsumer {
  readonly rollsOut = true;
  private readonly clients: KubeClients;

  constructor(private readonly config: RolloutConfig) {
    this.clients = new KubeClients(kubeConfigFor(config));
  }

  async workloads(): Promise<WorkloadRef[]> {
    const { apps } = this.clients;
    const seen = new Set<string>();
    const out: WorkloadRef[] = [];
    for (const w of this.config.workloads) {
      const namespace = w.namespace ?? this.config.namespace;
      const api = KINDS[w.kind];
      let names: string[];
      if (w.name !== undefined) {
        // Read now, before the rotation changes anything: a misspelt name fails it while nothing has moved.
        await kube(`get ${w.kind.toLowerCase()} ${namespace}/${w.name}`, () => api.read(apps, namespace, w.name!));
        names = [w.name];
      } else {
        const selector = Object.entries(w.selector!)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        const found = await kube(`list ${api.resource} in ${namespace} matching ${selector}`, () =>
          api.list(apps, namespace, selector),
        );
        names = found.map((f) => f.metadata!.name!).sort();
      }
      for (const name of names) {
        const key = `${w.kind}/${namespace}/${name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ kind: w.kind, namespace, name });
      }
    }
    return out;
  }

  usersOf(secret: { namespace: string; name: string }): Promise<WorkloadRef[]> {
    return secretUsers(this.clients, secret);
  }

  async restart(
    w: WorkloadRef,
    annotation: { key: string; value: string; onlyIf?: string },
  ): Promise<{ generation: number; restarted: boolean }> {
    const api = KINDS[w.kind];
    for (let attempt = 1; ; attempt++) {
      const current = await kube(`get ${describeWorkload(w)}`, () => api.read(this.clients.apps, w.namespace, w.name));
      const now = current.spec?.template?.metadata?.annotations?.[annotation.key];
      // Already carrying this value: this batch restarted it before (a step run again after a worker died). Or, for
      // an undo, never restarted onto the version being undone: nothing to restart back.
      if (now === annotation.value || (annotation.onlyIf !== undefined && now !== annotation.onlyIf)) {
        return { generation: current.metadata?.generation ?? 0, restarted: false };
      }
      // Conditioned on what was just read, so a restart by someone else in between is seen, not overwritten.
      const body = {
        metadata: { resourceVersion: current.metadata?.resourceVersion },
        spec: { template: { metadata: { annotations: { [annotation.key]: annotation.value } } } },
      };
      try {
        const patched = await kube(`patch ${describeWorkload(w)}`, () => api.patch(this.clients.apps, w.namespace, w.name, body));
        return { generation: patched.metadata?.generation ?? 0, restarted: true };
      } catch (err) {
        // The controller writes status all the time: a changed resourceVersion is usually that. Read again.
        if (!(err instanceof RotatorError && err.code === 'CONFLICT') || attempt === 5) throw err;
      }
    }
  }

  /**
   * One restart for several secrets (a coalesced rollout): sets every annotation in `annotations` that the pod
   * template does not carry yet, in one patch, so the workload rolls out once for all of them. Nothing to set (a
   * step run again after a worker died): nothing restarts.
   */
  async restartWith(w: WorkloadRef, annotations: Record<string, string>): Promise<{ generation: number; restarted: boolean }> {
    const api = KINDS[w.kind];
    for (let attempt = 1; ; attempt++) {
      const current = await kube(`get ${describeWorkload(w)}`, () => api.read(this.clients.apps, w.namespace, w.name));
      const now = current.spec?.template?.metadata?.annotations ?? {};
      const missing = Object.fromEntries(Object.entries(annotations).filter(([key, value]) => now[key] !== value));
      if (Object.keys(missing).length === 0) return { generation: current.metadata?.generation ?? 0, restarted: false };
      const body = {
        metadata: { resourceVersion: current.metadata?.resourceVersion },
        spec: { template: { metadata: { annotations: missing } } },
      };
      try {
        const patched = await kube(`patch ${describeWorkload(w)}`, () => api.patch(this.clients.apps, w.namespace, w.name, body));
        return { generation: patched.metadata?.generation ?? 0, restarted: true };
      } catch (err) {
        if (!(err instanceof RotatorError && err.code === 'CONFLICT') || attempt === 5) throw err;
      }
    }
  }

  async notify(event: ConsumerEvent): Promise<void> {
    const annotation = { key: restartAnnotationKey(event.secret), value: event.version };
    for (const w of await this.workloads()) await this.restart(w, annotation);
  }

  async progress(w: WorkloadRef): Promise<RolloutState> {
    const api = KINDS[w.kind];
    const current = await kube(`get ${describeWorkload(w)}`, () => api.read(this.clients.apps, w.namespace, w.name));
    return api.state(current);
  }
}

/** The workloads in the Secret's namespace whose pods use it. */
export async function secretUsers(clients: KubeClients, secret: { namespace: string; name: string }): Promise<WorkloadRef[]> {
  const users: WorkloadRef[] = [];
  for (const kind of Object.keys(KINDS) as WorkloadKind[]) {
    const api = KINDS[kind];
    const all = await kube(`list ${api.resource} in ${secret.namespace}`, () => api.list(clients.apps, secret.namespace));
    for (const w of all) {
      if (templateUses(w.spec?.template, secret.name)) users.push({ kind, namespace: secret.namespace, name: w.metadata!.name! });
    }
  }
  return users;
}

/** Why a workload that uses the Secret and is no consumer of it matters. */
export function unlistedNote(w: WorkloadRef, secretName: string): string {
  return `${describeWorkload(w)} uses Secret ${secretName} but is not a consumer: it keeps the old value until it restarts`;
}

/** Whether a pod template mounts the Secret, or reads it into env (envFrom, valueFrom), or pulls images with it. */
export function templateUses(template: k8s.V1PodTemplateSpec | undefined, secretName: string): boolean {
  const spec = template?.spec;
  if (!spec) return false;
  const containers = [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])];
  return (
    (spec.volumes ?? []).some(
      (v) => v.secret?.secretName === secretName || (v.projected?.sources ?? []).some((s) => s.secret?.name === secretName),
    ) ||
    (spec.imagePullSecrets ?? []).some((s) => s.name === secretName) ||
    containers.some(
      (c) =>
        (c.envFrom ?? []).some((e) => e.secretRef?.name === secretName) ||
        (c.env ?? []).some((e) => e.valueFrom?.secretKeyRef?.name === secretName),
    )
  );
}

/**
 * The pod-template annotation that records which version of `secret` a workload was restarted for. One key per
 * secret, so two secrets restarting the same workload do not undo each other's idempotence.
 */
export function restartAnnotationKey(secret: string): string {
  const name = secret.replace(/[^A-Za-z0-9]+$/, '').slice(0, 63) || 'secret';
  return `secret.rotator.dev/${name}`;
}

export function rolloutFailed(w: WorkloadRef, message: string): RotatorError {
  return new RotatorError('CONSUMER_FAILED', `the rollout of ${describeWorkload(w)} failed: ${message}`);
}
