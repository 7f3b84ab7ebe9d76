// Test helpers for the stack's real kube-apiserver: namespaces, kubeconfig files, and the documented Role bound to a user.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { REPO_ROOT, type KubeUser } from '../../src/stack/local-stack';
import { testStack } from './stack';

export const ROLE_FILE = path.join(REPO_ROOT, 'examples', 'kubernetes', 'rotator-role.yaml');

function kube() {
  const info = testStack().kubernetes;
  if (!info) throw new Error('the test stack has no kubernetes service');
  return info;
}

/** A kubeconfig file for `user` (or the admin), in a temp dir of its own; returns its path. */
export function kubeconfigFile(user: KubeUser | 'admin'): string {
  const info = kube();
  const token = user === 'admin' ? info.adminToken : info.users[user];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-kubeconfig-'));
  const file = path.join(dir, 'config');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'stack', cluster: { server: info.server, 'certificate-authority-data': Buffer.from(info.ca).toString('base64') } },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'stack', user } }],
    'current-context': user,
  };
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

export function kubeConfigAs(user: KubeUser | 'admin'): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigFile(user));
  return kc;
}

export function adminClients(): {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  rbac: k8s.RbacAuthorizationV1Api;
  kc: k8s.KubeConfig;
} {
  const kc = kubeConfigAs('admin');
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
  };
}

/** The Role rotator documents, as parsed from examples/kubernetes/rotator-role.yaml. */
export function documentedRole(): k8s.V1Role {
  return parse(fs.readFileSync(ROLE_FILE, 'utf8')) as k8s.V1Role;
}

/**
 * A fresh namespace where `user` holds the documented Role (or `role`, e.g. one with a rule taken out), and no more.
 */
export async function namespaceFor(user: KubeUser = 'rotator', role: k8s.V1Role = documentedRole()): Promise<string> {
  const { core, rbac } = adminClients();
  const namespace = `t-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const name = role.metadata?.name ?? 'rotator';
  await rbac.createNamespacedRole({ namespace, body: { ...role, metadata: { ...role.metadata, name, namespace } } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
  return namespace;
}

/** The documented Role with one verb taken away from the rule for `resource`. */
export function roleWithout(resource: string, verb: string): k8s.V1Role {
  const role = documentedRole();
  return {
    ...role,
    metadata: { ...role.metadata, name: `rotator-without-${verb}-${resource}` },
    rules: (role.rules ?? []).map((r) =>
      r.resources?.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r,
    ),
  };
}

/** A Deployment whose pods would mount `secretName` (so it counts as one of its consumers). */
export function deployment(
  name: string,
  secretName: string,
  replicas = 2,
  labels: Record<string, string> = {},
): k8s.V1Deployment {
  return {
    metadata: { name, labels: { app: name, ...labels } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: {
          containers: [{ name: 'app', image: 'registry.invalid/app:1', envFrom: [{ secretRef: { name: secretName } }] }],
        },
      },
    },
  };
}
