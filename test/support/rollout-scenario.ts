// A PostgreSQL credential kept in a Kubernetes Secret and consumed by Deployments, on the stack's real API server.
import { storeBuilder } from '../../activities/registry';
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { canLogIn, PostgresTarget, postgresConnectionFrom } from '../../activities/targets/postgresql/target';
import type { SecretStore, SecretValue } from '../../activities/types';
import { storePlugin } from '../../activities/stores';
import { parseConfig } from '../../src/config/load';
import type { KubeUser } from '../../src/stack/local-stack';
import { planRotation, type RotationPlan } from '../../src/config/plan';
import { DeploymentController } from './deployment-controller';
import { pgAdminSecret, unique } from './harness';
import { adminClients, deployment, documentedRole, kubeconfigFile, namespaceFor } from './kube';
import { testStack } from './stack';
import { vaultTestStore } from './test-stores';

export const SECRET_NAME = 'orders-db';

export interface RolloutScenarioOptions {
  deployments?: string[];
  /** Lines of the rollout consumer block beyond type, kubeconfig, namespace and workloads. */
  consumer?: string[];
  /** Other consumers, as YAML lines of list items (`- type: webhook`, indented under consumers:). */
  moreConsumers?: string[];
  /** Who rotator is on the API server, and the Role it holds there. */
  user?: KubeUser;
  role?: k8s.V1Role;
  /** Deployments that use the Secret but are not listed as consumers. */
  unlisted?: string[];
  /** More entries under secrets:, as YAML lines indented for it (e.g. a webhook's signing key). */
  moreSecrets?: string[];
}

export interface RolloutScenario {
  secret: string;
  namespace: string;
  yaml: string;
  env: Record<string, string>;
  plan: RotationPlan;
  controller: DeploymentController;
  /** The kubernetes store as rotator's worker opens it. */
  store: SecretStore;
  path: string;
  current(): Promise<{ version: string; value: SecretValue }>;
  logsIn(c: SecretValue): Promise<boolean>;
  deployment(name: string): Promise<k8s.V1Deployment>;
  close(): Promise<void>;
}

/**
 * The PostgreSQL login `<role>_a` with a fresh password, and the Secret `path` holding it as its first version,
 * written the way rotator writes every version (so the Secret is rotator's own).
 */
export async function seedLogin(store: SecretStore, path: string, seed: string, role: string): Promise<void> {
  const pg = testStack().postgres!;
  const first = randomBytes(24).toString('base64url');
  const target = new PostgresTarget(postgresConnectionFrom(pgAdminSecret(), {}), role);
  await target.upsertLogin(`${role}_a`, first);
  await target.close();
  const value: SecretValue = {
    username: `${role}_a`,
    password: first,
    host: pg.host,
    port: pg.port,
    dbname: pg.database,
    engine: 'postgres',
  };
  await store.stagePending(path, seed, value, null);
  await store.promote(path, seed, null);
  await store.discardPending(path, seed);
}

export async function rolloutScenario(taskQueue: string, options: RolloutScenarioOptions = {}): Promise<RolloutScenario> {
  const names = options.deployments ?? ['api', 'worker'];
  const user = options.user ?? 'rotator';
  const namespace = await namespaceFor(user, options.role ?? documentedRole());
  const kubeconfig = kubeconfigFile(user);
  const { apps } = adminClients();
  for (const name of [...names, ...(options.unlisted ?? [])]) {
    await apps.createNamespacedDeployment({ namespace, body: deployment(name, SECRET_NAME) });
  }
  const controller = await new DeploymentController(namespace).start();
  // The workloads are up before rotator comes: their first rollouts are not what a test looks at.
  await controller.until(
    (r) => r.filter((x) => x.outcome === 'complete').length === names.length + (options.unlisted ?? []).length,
    'the first rollouts of the workloads',
  );
  controller.rollouts.length = 0;

  const secret = unique('orders_db');
  const role = unique('app');
  const adminName = unique('pg_admin');
  const vault = vaultTestStore();
  await vault.write(adminName, pgAdminSecret());
  const providerBlock = { type: 'kubernetes' as const, kubeconfig, namespace };
  const store = await storePlugin(providerBlock).create(
    storePlugin(providerBlock).schema.parse(providerBlock) as typeof providerBlock,
    storeBuilder(),
  );
  await seedLogin(store, SECRET_NAME, `seed-${secret}`, role);

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
    ...(options.moreSecrets ?? []),
    `  ${adminName}:`,
    '    provider: vault',
    `    path: ${vault.configPath(adminName)}`,
    `  ${secret}:`,
    '    provider: k8s',
    `    path: ${SECRET_NAME}`,
    '    target:',
    '      type: postgresql',
    `      connection: secret://${adminName}`,
    `      role: ${role}`,
    '    rotation:',
    '      strategy: alternating-users',
    '      drain: { timeout: 1s }',
    '    consumers:',
    '      - type: rollout',
    `        kubeconfig: ${kubeconfig}`,
    `        namespace: ${namespace}`,
    '        workloads:',
    ...names.map((n) => `          - { kind: Deployment, name: ${n} }`),
    ...(options.consumer ?? ['timeout: 60s']).map((l) => `        ${l}`),
    ...(options.moreConsumers ?? []).map((l) => `      ${l}`),
  ].join('\n');
  const env = vault.env;
  return {
    secret,
    namespace,
    yaml,
    env,
    plan: planRotation(parseConfig(yaml, env), secret),
    controller,
    store,
    path: SECRET_NAME,
    async current() {
      const c = await store.readCurrent(SECRET_NAME);
      if (!c) throw new Error('the Secret is gone');
      return c;
    },
    logsIn: (c) => canLogIn(testStack().postgres!, { username: String(c.username), password: String(c.password) }),
    deployment: (name) => apps.readNamespacedDeployment({ name, namespace }),
    async close() {
      controller.stop();
      await store.close();
      await adminClients()
        .core.deleteNamespace({ name: namespace })
        .catch(() => undefined);
    },
  };
}
