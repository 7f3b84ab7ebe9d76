// What a trigger workflow decides from: the plan, whether the secret is due or out of sync, and whether a rotation
// that started after the event already answers it.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../src/config/schema';
import { planRotation, type RotationPlan } from '../src/config/plan';
import { workflowIdFor } from '../workflows/definitions';
import type { TriggerInput } from '../workflows/lifecycle-definitions';
import { guarded } from './guarded';
import { assessSecrets } from './lifecycle';
import { openAnyTarget, type ProviderRegistry, type TargetRegistry } from './registry';
import { isIssuing } from './types';

export interface TriggerDeps {
  config: Config;
  client: Client;
  providers: ProviderRegistry;
  targets: TargetRegistry;
  secrets?: ReadonlyArray<string>;
}

export interface TriggerSetup {
  /** Null when the worker's config does not rotate this secret; `why` says so. */
  plan: RotationPlan | null;
  why: string | null;
  /** A rotation of the secret that started at or after the event (running or ended): it answers the event. */
  answeredBy: { rotationId: string; running: boolean } | null;
  /** rotate-if-due: the sweep's verdict for this secret (due or overdue). */
  due?: boolean;
  /** reconcile: whether the store's current credential still logs in to the target. */
  inSync?: boolean;
}

export function createTriggerActivities(deps: TriggerDeps) {
  const { config, client } = deps;

  /**
   * The latest rotation of the secret, if it answers an event raised at `eventTime`: running or succeeded (a failed,
   * rolled-back or cancelled one answers nothing), and started after the event (sources give the latest moment a
   * coarse time can mean: when in doubt, one rotation more, never one event dropped).
   */
  async function answeredBy(secret: string, eventTime: number): Promise<TriggerSetup['answeredBy']> {
    try {
      const d = await client.workflow.getHandle(workflowIdFor(secret)).describe();
      const started = d.startTime.getTime();
      const counts = d.status.name === 'RUNNING' || d.status.name === 'COMPLETED';
      return counts && started >= eventTime ? { rotationId: d.runId, running: d.status.name === 'RUNNING' } : null;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  /** Whether the store's current credential logs in: an out-of-band write (PutSecretValue) may have broken that. */
  async function inSync(plan: RotationPlan): Promise<boolean> {
    const current = await (await deps.providers.store(plan.store.provider)).readCurrent(plan.store.path);
    if (!current) return false;
    const target = await openAnyTarget(deps.providers, deps.targets, plan.target);
    try {
      if (isIssuing(target)) {
        const credential = target.credentialOf(current.value);
        if (!credential) return false;
        await target.verify(credential, current.value);
        return true;
      }
      if (typeof current.value.username !== 'string' || typeof current.value.password !== 'string') return false;
      // Through the endpoint the stored value names, as its consumers connect.
      await target.verify(
        { username: current.value.username, password: current.value.password },
        plan.verifyQuery,
        current.value,
      );
      return true;
    } catch (err) {
      // Refused: out of sync. Anything else (the database is down) is not a reason to rotate: fail and retry.
      const code = (err as { code?: unknown }).code;
      if (code === 'VERIFY_FAILED' || code === 'PERMISSION_DENIED') return false;
      throw err;
    }
  }

  async function triggerSetup(input: TriggerInput): Promise<TriggerSetup> {
    const { secret, action, event } = input;
    const log = Context.current().log;
    const entry = config.secrets[secret];
    if (action === 'alert') {
      // An alert is the event itself, in the worker's log (names and ids only) and in this workflow's result.
      log.warn('rotation event alert', { secret, source: event.source, type: event.type, eventId: event.id });
      return { plan: null, why: null, answeredBy: null };
    }
    if (!entry?.target || !entry.rotation) {
      const why = entry ? 'the config does not rotate this secret' : 'the config has no such secret';
      return { plan: null, why, answeredBy: null };
    }
    const plan = planRotation(config, secret);
    const setup: TriggerSetup = { plan, why: null, answeredBy: await answeredBy(secret, event.time) };
    if (action === 'rotate-if-due') {
      const { due } = await assessSecrets(deps, Date.now(), undefined, { only: [secret] });
      setup.due = due.includes(secret);
    }
    if (action === 'reconcile') setup.inSync = await inSync(plan);
    return setup;
  }

  return {
    triggerSetup: guarded(triggerSetup, deps.secrets ?? []),
  };
}

export type TriggerActivities = ReturnType<typeof createTriggerActivities>;
