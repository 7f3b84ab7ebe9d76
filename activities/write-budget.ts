// A mass rotation's write budget on the activity side: before each write request to the store (or each writing
// method, as many tokens as it may send), take tokens from the provider's writeBudget workflow, wait for the granted
// time, and send only if still on time; a grant missed (a stalled process) is left unused and another one asked.
import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { RotatorError } from '../src/kernel/errors';
import type { RotationPlan } from '../src/kernel/plan';
import { takeSlotsUpdate, WRITE_BUDGET, writeBudgetIdFor } from '../workflows/mass-definitions';
import type { writeBudget } from '../workflows/write-budget';
import { WRITE_METHODS, type SecretStore, type WriteMethod } from './types';

/** A write is sent only this soon after its grant; later, the grant is left unused (workflows/write-budget.ts). */
export const LATE_MS = 15;
/** Tries to reach the budget before the step fails (it is then retried as a whole, like any outage). */
const ASK_TRIES = 20;

export interface WriteBudgetGate {
  /** Waits until `n` writes to budget `key` may be sent now. */
  take(budget: NonNullable<RotationPlan['writeBudget']>, n: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // not inside an activity (a test calling the store), or a local activity: nothing to tell
  }
}

/** The gate over Temporal: the budget is a workflow on `taskQueue`, started by the first request that needs it. */
export function temporalWriteBudget(client: Client, taskQueue: string): WriteBudgetGate & { missed(): number } {
  let missed = 0;
  async function ask(key: string, perSecond: number, n: number): Promise<number> {
    let lastError: unknown;
    for (let i = 0; i < ASK_TRIES; i++) {
      try {
        const grant = await client.workflow.executeUpdateWithStart(takeSlotsUpdate, {
          args: [{ perSecond, n }],
          startWorkflowOperation: new WithStartWorkflowOperation<typeof writeBudget>(WRITE_BUDGET, {
            workflowId: writeBudgetIdFor(taskQueue, key),
            taskQueue,
            args: [{}],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
        return grant.at;
      } catch (err) {
        // The budget between two runs (continue-as-new, an idle end), or Temporal restarting: ask again.
        lastError = err;
        await sleep(Math.min(50 * 2 ** i, 1_000));
      }
    }
    throw new RotatorError(
      'TRANSIENT',
      `the write budget of provider ${key} did not answer: ${(lastError as Error)?.message ?? 'no answer'}`,
      'write budget',
    );
  }
  return {
    missed: () => missed,
    async take({ key, perSecond }, n) {
      for (;;) {
        const at = await ask(key, perSecond, n);
        for (let wait = at - Date.now(); wait > 0; wait = at - Date.now()) {
          heartbeat();
          await sleep(Math.min(wait, 1_000));
        }
        if (Date.now() <= at + LATE_MS) return;
        missed++;
      }
    },
  };
}

/**
 * The store as a rotation of `plan` uses it: unchanged without a write budget; else each write request takes a token
 * first (a store that can gate its requests), or each writing method takes as many as it may send. Reads are never
 * paced.
 */
export async function budgeted(
  store: Promise<SecretStore>,
  plan: RotationPlan,
  gate: WriteBudgetGate | undefined,
): Promise<SecretStore> {
  const s = await store;
  const budget = plan.writeBudget;
  if (!budget || !gate) return s;
  if (s.withWriteGate) return s.withWriteGate(() => gate.take(budget, 1));
  return new Proxy(s, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (!(WRITE_METHODS as ReadonlyArray<string | symbol>).includes(prop)) return value.bind(target) as unknown;
      const n = target.capabilities.writeRequests?.[prop as WriteMethod] ?? 1;
      return async (...args: unknown[]) => {
        await gate.take(budget, n);
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}
