// The client side of key rotations: start one (one per secret at a time, as credential rotations), and `plan`'s
// checks for a secret whose store holds ciphertexts: the key can be read, and how many ciphertexts are still behind.
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { createKeyActivities } from '../../activities/key-rotation';
import type { PreflightCheck } from '../../activities/plugin';
import { ProviderRegistry } from '../../activities/registry';
import { keyTargetPlugin } from '../../activities/targets';
import { planKeyRotation } from '../config/keys';
import type { Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';
import { SEARCH_ATTRIBUTES, workflowIdFor } from '../../workflows/definitions';
import { ROTATE_KEY, type KeyPlan, type RotateKeyInput } from '../../workflows/key-definitions';
import type { rotateKey } from '../../workflows/rotate-key';
import type { PreflightReport } from './preflight';

export interface StartedKeyRotation {
  handle: WorkflowHandle<typeof rotateKey>;
  started: boolean;
  runId: string | null;
}

/** Starts a key rotation, or finds the one already running (the workflow id is the secret's, as for credentials). */
export async function startKeyRotation(
  client: Client,
  taskQueue: string,
  plan: KeyPlan,
  requestedBy?: string,
): Promise<StartedKeyRotation> {
  const workflowId = workflowIdFor(plan.secret);
  const input: RotateKeyInput = { plan, ...(requestedBy ? { requestedBy } : {}) };
  try {
    const handle = await client.workflow.start<typeof rotateKey>(ROTATE_KEY, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowTaskTimeout: '3s',
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.secret, value: plan.secret },
        { key: SEARCH_ATTRIBUTES.trigger, value: requestedBy ?? 'api' },
      ],
    });
    return { handle, started: true, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle<typeof rotateKey>(workflowId), started: false, runId: null };
  }
}

function messageOf(err: unknown): string {
  return err instanceof RotatorError ? err.message : ((err as Error)?.message ?? String(err)).split('\n')[0]!;
}

/**
 * `rotator plan` for a key secret: the key plugin's own checks (the key can be read), then per configured path how
 * many ciphertexts it holds and how many are on versions older than the key's newest (⚠ when any: a rotation's
 * rewrap brings them over; a raise of min_decryption_version waits for none). Changes nothing.
 */
export async function keyPreflight(config: Config, secretName: string): Promise<PreflightReport> {
  const plan = planKeyRotation(config, secretName);
  const plugin = keyTargetPlugin(plan.key);
  const checks: PreflightCheck[] = [...((await plugin.preflight?.(plan.key as never, config.providers)) ?? [])];
  const stores = new ProviderRegistry(config.providers);
  const keys = createKeyActivities({ providers: config.providers, stores, secrets: [] });
  try {
    if (!checks.some((c) => c.status === 'fail')) {
      try {
        const state = await keys.activities.keyState(plan);
        const counts = await keys.activities.keyCount(plan, state.latest);
        for (const c of counts)
          checks.push({
            check: `ciphertexts at ${c.path}`,
            status: c.old > 0 ? 'warn' : 'ok',
            detail: `${c.total} ciphertexts, ${c.old} on versions older than ${state.latest}`,
            ...(c.old > 0 ? { fix: `rotator rotate ${secretName} rewraps them onto the newest version` } : {}),
          });
        const old = counts.reduce((n, c) => n + c.old, 0);
        checks.push({
          check: 'on old versions',
          status: 'ok',
          detail: `${old} of ${counts.reduce((n, c) => n + c.total, 0)} ciphertexts are on versions older than ${state.latest}`,
        });
      } catch (err) {
        checks.push({ check: 'ciphertexts', status: 'fail', detail: messageOf(err), fix: 'check the store paths under rewrap:' });
      }
    }
  } finally {
    await keys.close();
    await stores.close();
  }
  return { secret: secretName, ok: !checks.some((c) => c.status === 'fail'), checks };
}
