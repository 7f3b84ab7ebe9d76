// Three PostgreSQL credentials, each in its own Kubernetes Secret, all consumed by one Deployment whose rollout
// consumer coalesces restarts: the scenario of "one restart for many secrets" (real kube-apiserver, OpenBao,
// PostgreSQL; the Deployment controller is the stand-in of test/support/deployment-controller.ts).
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { storeBuilder } from '../../activities/registry';
import { storePlugin } from '../../activities/stores';
import { canLogIn, PostgresTarget, postgresConnectionFrom } from '../../activities/targets/postgresql/target';
import type { SecretStore, SecretValue } from '../../activities/types';
import { parseConfig } from '../../src/config/load';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import { DeploymentController } from './deployment-controller';
import { seedLogin } from './rollout-scenario';
import { pgAdminSecret, unique } from './harness';
import { adminClients, deployment, kubeconfigFile, namespaceFor } from './kube';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';

export const WORKLOAD = 'app';

export interface CoalescedSecret {
  /** rotator's name for it. */
  name: string;
  /** The Kubernetes Secret it lives in. */
  path: string;
  /** Its PostgreSQL role: logins `<role>_a` and `<role>_b` take turns. */
  role: string;
  plan: RotationPlan;
}

export interface CoalesceScenario {
  namespace: string;
  yaml: string;
  env: Record<string, string>;
  secrets: CoalescedSecret[];
  controller: DeploymentController;
  current(s: CoalescedSecret): Promise<{ version: string; value: SecretValue }>;
  logsIn(c: SecretValue): Promise<boolean>;
  /** Sets a login's password to something no store holds: its next login fails (a verify that fails). */
  breakLogin(username: string): Promise<void>;
  deployment(): Promise<k8s.V1Deployment>;
  close(): Promise<void>;
}

export async function coalesceScenario(
  taskQueue: string,
  options: { count?: number; coalesce?: string; timeout?: string } = {},
): Promise<CoalesceScenario> {
  const count = options.count ?? 3;
  const namespace = await namespaceFor('rotator');
  const kubeconfig = kubeconfigFile('rotator');
  const { apps } = adminClients();
  const paths = Array.from({ length: count }, (_, i) => `db-${String.fromCharCode(97 + i)}`);
  // One Deployment reading every Secret into its environment.
  const body = deployment(WORKLOAD, paths[0]);
  body.spec!.template.spec!.containers[0].envFrom = paths.map((name) => ({ secretRef: { name } }));
  await apps.createNamespacedDeployment({ namespace, body });
  const controller = await new DeploymentController(namespace).start();
  await controller.until((r) => r.some((x) => x.outcome === 'complete'));
  controller.rollouts.length = 0;

  const vault = vaultTestStore();
  const adminName = unique('pg_admin');
  await vault.write(adminName, pgAdminSecret());
  const pg = testStack().postgres!;
  const providerBlock = { type: 'kubernetes' as const, kubeconfig, namespace };
  const plugin = storePlugin(providerBlock);
  const store: SecretStore = await plugin.create(plugin.schema.parse(providerBlock) as typeof providerBlock, storeBuilder());
  const target = (role: string) => new PostgresTarget(postgresConnectionFrom(pgAdminSecret(), {}), role);

  const made: Array<{ name: string; path: string; role: string }> = [];
  for (const path of paths) {
    const name = unique(path.replace('-', '_'));
    const role = unique('app');
    await seedLogin(store, path, `seed-${name}`, role);
    made.push({ name, path, role });
  }

  const yaml = [
    'temporal:',
    `  address: "${testStack().temporal!.address}"`,
    `  task_queue: ${taskQueue}`,
    'providers:',
    '  vault:',
    ...vault.providerYaml,
    '  k8s:',
    '    type: kubernetes',
    `    kubeconfig: ${kubeconfig}`,
    `    namespace: ${namespace}`,
    'secrets:',
    `  ${adminName}:`,
    '    provider: vault',
    `    path: ${vault.configPath(adminName)}`,
    ...made.flatMap((m) => [
      `  ${m.name}:`,
      '    provider: k8s',
      `    path: ${m.path}`,
      '    target:',
      '      type: postgresql',
      `      connection: secret://${adminName}`,
      `      role: ${m.role}`,
      '    rotation:',
      '      strategy: alternating-users',
      '      drain: { timeout: 1s }',
      '    consumers:',
      '      - type: rollout',
      `        kubeconfig: ${kubeconfig}`,
      `        namespace: ${namespace}`,
      `        workloads: [{ kind: Deployment, name: ${WORKLOAD} }]`,
      `        timeout: ${options.timeout ?? '60s'}`,
      `        coalesce: ${options.coalesce ?? '8s'}`,
    ]),
  ].join('\n');
  const env = vault.env;
  const config = parseConfig(yaml, env);
  return {
    namespace,
    yaml,
    env,
    secrets: made.map((m) => ({ ...m, plan: planRotation(config, m.name) })),
    controller,
    async current(s) {
      const c = await store.readCurrent(s.path);
      if (!c) throw new Error(`Secret ${s.path} is gone`);
      return c;
    },
    logsIn: (c) => canLogIn(pg, { username: String(c.username), password: String(c.password) }),
    async breakLogin(username) {
      const t = target(username.replace(/_[ab]$/, ''));
      await t.upsertLogin(username, randomBytes(24).toString('base64url'));
      await t.close();
    },
    deployment: () => apps.readNamespacedDeployment({ name: WORKLOAD, namespace }),
    async close() {
      controller.stop();
      await store.close();
      await adminClients()
        .core.deleteNamespace({ name: namespace })
        .catch(() => undefined);
    },
  };
}
