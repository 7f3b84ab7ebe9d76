// The reconnect phase's activities: tell each consumer, or restart its workloads batch by batch and wait for each.
import { Context } from '@temporalio/activity';
import { parseDuration } from '../src/kernel/duration';
import { RotatorError } from '../src/kernel/errors';
import type { RotationPlan } from '../src/kernel/plan';
import { awaitRolledOut, describeWorkload, restartAnnotationKey, secretUsers, unlistedNote } from './consumers/rollout/public';
import { KubeClients, kubeConfigFor } from './kubernetes/client';
import { consumerPlugin } from './consumers';
import { guardedAll } from './guarded';
import { DEFAULT_OUTAGE_TOLERANCE_MS } from '../workflows/lib/policies';
import type { ConsumerRegistry, ProviderRegistry } from './registry';
import type { RolloutConsumer, WorkloadRef } from './types';

export interface NotifyStep {
  kind: 'notify';
  consumer: number;
}

/**
 * Restart a rollout consumer's workloads. Histories from before this name hold the consumer's type as the kind: the
 * workflow tells steps apart by `notify` only, so both mean this step.
 */
export interface RolloutStep {
  kind: 'restart';
  consumer: number;
  /** Restarted one batch after the other, in this order; each batch's rollouts must finish before the next. */
  batches: WorkloadRef[][];
  timeoutMs: number;
  /** The consumer's `coalesce` window: each batch asks its workloads' coordinators for the restart. Absent: restarts itself. */
  coalesceMs?: number;
}

export type ReconnectStep = NotifyStep | RolloutStep;

export interface ReconnectPlan {
  steps: ReconnectStep[];
  /** Workloads that use the Secret but are no consumer of it: they keep the old value until they restart. */
  notes: string[];
}

export interface RestartResult {
  workload: WorkloadRef;
  generation: number;
  restarted: boolean;
}

export interface ReconnectDeps {
  providers: ProviderRegistry;
  consumers: ConsumerRegistry;
  secrets?: ReadonlyArray<string>;
}

/**
 * The consumers a reconnect step talks to, as its messages name them: the one it is for, or (planning) every one.
 * "consumer rollout: kubernetes API server".
 */
function consumerSystems(args: unknown[]): string[] {
  const plan = args[0] as Partial<RotationPlan> | undefined;
  const index = (args[1] as { consumer?: unknown } | undefined)?.consumer;
  const consumers = typeof index === 'number' ? [plan?.consumers?.[index]] : (plan?.consumers ?? []);
  return consumers.flatMap((c) => {
    if (!c) return [];
    const system = consumerPlugin(c)?.system;
    return [`consumer ${c.type}${system ? `: ${system}` : ''}`];
  });
}

export function createReconnectActivities(deps: ReconnectDeps) {
  function consumerConfig(plan: RotationPlan, index: number) {
    const config = plan.consumers?.[index];
    if (!config) throw new RotatorError('CONFIG_INVALID', `the plan has no consumer #${index}`, 'consumer');
    return config;
  }

  async function rolloutConsumer(plan: RotationPlan, index: number): Promise<RolloutConsumer> {
    const consumer = await deps.consumers.consumer(consumerConfig(plan, index));
    if (!('rollsOut' in consumer)) {
      throw new RotatorError('CONFIG_INVALID', `consumer #${index} restarts no workloads`, 'consumer');
    }
    return consumer as RolloutConsumer;
  }

  /** What reconnect will do, decided once per rotation (selectors expanded now) and kept in history. */
  async function planReconnect(plan: RotationPlan): Promise<ReconnectPlan> {
    const steps: ReconnectStep[] = [];
    const listed = new Set<string>();
    const rollouts: RolloutConsumer[] = [];
    for (const [consumer, config] of (plan.consumers ?? []).entries()) {
      if (!consumerPlugin(config).rollsOut) {
        steps.push({ kind: 'notify', consumer });
        continue;
      }
      const rollout = await rolloutConsumer(plan, consumer);
      rollouts.push(rollout);
      const workloads = await rollout.workloads();
      for (const w of workloads) listed.add(describeWorkload(w));
      const size = (config as { max_parallel: number }).max_parallel;
      const batches: WorkloadRef[][] = [];
      for (let i = 0; i < workloads.length; i += size) batches.push(workloads.slice(i, i + size));
      const { timeout, coalesce } = config as { timeout: string; coalesce?: string };
      steps.push({
        kind: 'restart',
        consumer,
        batches,
        timeoutMs: parseDuration(timeout),
        ...(coalesce ? { coalesceMs: parseDuration(coalesce) } : {}),
      });
    }
    const notes: string[] = [];
    const secret = deps.providers.kubernetesSecret(plan.store.provider, plan.store.path);
    if (secret && rollouts.length > 0) {
      // A warning only: asked of the store's cluster (not a consumer's), and never a reason to stop the rotation.
      try {
        const users = await secretUsers(new KubeClients(kubeConfigFor(secret.connection)), secret);
        for (const w of users.filter((u) => !listed.has(describeWorkload(u)))) notes.push(unlistedNote(w, secret.name));
      } catch (err) {
        notes.push(`could not look for other users of Secret ${secret.name}: ${(err as Error).message}`);
      }
    }
    if (notes.length > 0)
      Context.current().log.warn('workloads use the secret but are not consumers', { secret: plan.secret, notes });
    return { steps, notes };
  }

  async function notifyConsumer(
    plan: RotationPlan,
    input: { consumer: number; version: string; username: string; rotationId: string },
  ): Promise<void> {
    const consumer = await deps.consumers.consumer(consumerConfig(plan, input.consumer));
    await consumer.notify({
      secret: plan.secret,
      version: input.version,
      username: input.username,
      rotationId: input.rotationId,
    });
  }

  /**
   * Restarts one batch: sets the pod-template annotation that names the secret's version (`value`). A workload that
   * already carries it is left alone, so a batch run again after a worker death restarts nothing twice.
   */
  async function restartWorkloads(
    plan: RotationPlan,
    input: { consumer: number; workloads: WorkloadRef[]; value: string; onlyIf?: string },
  ): Promise<RestartResult[]> {
    const rollout = await rolloutConsumer(plan, input.consumer);
    const annotation = {
      key: restartAnnotationKey(plan.secret),
      value: input.value,
      ...(input.onlyIf !== undefined ? { onlyIf: input.onlyIf } : {}),
    };
    const results: RestartResult[] = [];
    for (const workload of input.workloads) results.push({ workload, ...(await rollout.restart(workload, annotation)) });
    Context.current().log.info('workloads restarted', {
      secret: plan.secret,
      restarted: results.filter((r) => r.restarted).map((r) => describeWorkload(r.workload)),
    });
    return results;
  }

  /** Waits until every workload of the batch rolled out (`awaitRolledOut`), for the rotation's outage tolerance. */
  async function awaitRollout(
    plan: RotationPlan,
    input: { consumer: number; workloads: WorkloadRef[]; startedAt: number; timeoutMs: number },
  ): Promise<void> {
    const rollout = await rolloutConsumer(plan, input.consumer);
    await awaitRolledOut((w) => rollout.progress(w), input.workloads, {
      startedAt: input.startedAt,
      timeoutMs: input.timeoutMs,
      toleranceMs: plan.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS,
    });
  }

  const activities = { planReconnect, notifyConsumer, restartWorkloads, awaitRollout };
  return guardedAll(activities, deps.secrets ?? [], consumerSystems);
}

export type ReconnectActivities = ReturnType<typeof createReconnectActivities>;
