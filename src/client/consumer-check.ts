// What `rotator validate` checks on a cluster: workloads that use a secret's Kubernetes Secret but are not its consumers.
import type { Config } from '../config/schema';
import { storePlugin } from '../../activities/stores';
import { consumerPlugin } from '../../activities/consumers';
import type { RolloutConfig } from '../../activities/consumers/rollout';
import { RotatorError } from '../kernel/errors';

export interface ConsumerWarning {
  secret: string;
  message: string;
}

/**
 * One warning per workload that would keep the old value through a rotation, and one per secret whose cluster could
 * not be asked (validate still passes: the config itself is fine).
 */
export async function unlistedConsumers(config: Config): Promise<ConsumerWarning[]> {
  const warnings: ConsumerWarning[] = [];
  const { KubeClients, kubeConfigFor } = await import('../../activities/kubernetes/client');
  const { Rollouts, describeWorkload, secretUsers, unlistedNote } = await import('../../activities/consumers/rollout/public');
  for (const [name, secret] of Object.entries(config.secrets)) {
    const provider = config.providers[secret.provider] as ({ type: string } & Record<string, unknown>) | undefined;
    const location = provider && storePlugin(provider).kubernetesSecret?.(provider, secret.path);
    if (!provider || !location) continue;
    try {
      const listed = new Set<string>();
      for (const c of secret.consumers.filter((c): c is RolloutConfig => !!consumerPlugin(c).rollsOut)) {
        for (const w of await new Rollouts(c).workloads()) listed.add(describeWorkload(w));
      }
      const clients = new KubeClients(kubeConfigFor(location.connection));
      for (const w of await secretUsers(clients, location)) {
        if (!listed.has(describeWorkload(w))) warnings.push({ secret: name, message: unlistedNote(w, location.name) });
      }
    } catch (err) {
      const why = err instanceof RotatorError ? err.message : String(err);
      warnings.push({ secret: name, message: `could not look for workloads using Secret ${location.name}: ${why}` });
    }
  }
  return warnings;
}
