// `rotator plan` on a Kubernetes API server: SelfSubjectAccessReviews ask whether rotator's identity may do a thing
// without doing it (what `kubectl auth can-i` sends); nothing in the cluster changes.
import * as k8s from '@kubernetes/client-node';
import type { PreflightCheck } from '../plugin';
import { kube, type KubeClients } from './client';

export interface Access {
  verb: string;
  /** '' for the core group (secrets), `apps` for workloads. */
  group: string;
  resource: string;
  namespace: string;
  name?: string;
}

function describe(a: Access): string {
  return `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.name ? `/${a.name}` : ''} in ${a.namespace}`;
}

/** One ✓/✗ line for everything `wanted` needs: ✗ lists what the identity may not do, with the Role rule that fixes it. */
export async function accessCheck(clients: KubeClients, check: string, wanted: Access[]): Promise<PreflightCheck> {
  const authz = clients.config.makeApiClient(k8s.AuthorizationV1Api);
  const denied: Access[] = [];
  for (const a of wanted) {
    const review = await kube(`ask whether rotator may ${describe(a)}`, () =>
      authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: a.verb,
              group: a.group,
              resource: a.resource,
              namespace: a.namespace,
              ...(a.name ? { name: a.name } : {}),
            },
          },
        },
      }),
    );
    if (!review.status?.allowed) denied.push(a);
  }
  if (denied.length === 0) return { check, status: 'ok', detail: `allowed: ${wanted.map(describe).join(', ')}` };
  return { check, status: 'fail', detail: `not allowed: ${denied.map(describe).join(', ')}`, fix: ruleFix(denied) };
}

/** The Role rules that would allow what was denied, grouped per namespace, group and resource. */
function ruleFix(denied: Access[]): string {
  const rules = new Map<string, Set<string>>();
  for (const a of denied) {
    const key = `${a.namespace}|${a.group}|${a.resource}`;
    rules.set(key, (rules.get(key) ?? new Set()).add(a.verb));
  }
  const parts = [...rules].map(([key, verbs]) => {
    const [namespace, group, resource] = key.split('|');
    return `in namespace ${namespace}: { apiGroups: ["${group}"], resources: ["${resource}"], verbs: [${[...verbs].map((v) => `"${v}"`).join(', ')}] }`;
  });
  return `add to the Role bound to rotator's identity (examples/kubernetes/rotator-role.yaml) ${parts.join('; ')}`;
}
