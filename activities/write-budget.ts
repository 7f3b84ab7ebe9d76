// A mass rotation's write budget on the activity side: before each write request to the store (or each writing
// method, as many tokens as it may send), take tokens from the provider's writeBudget workflow, wait for the granted
// time, and send only if still on time; a grant missed (a stalled process) is left unused and another one asked.
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

/**
 * The gate over Temporal: the budget is a workflow on `taskQueue`, started by the first request that needs it. Each
 * worker process has at most one request in flight per budget (Temporal admits only a few in-flight updates per
 * workflow): the writes waiting meanwhile are asked for together, up to the budget's per-second capacity, and sent
 * together at their grant.
 */
export function temporalWriteBudget(client: Client, taskQueue: string): WriteBudgetGate & { missed(): number } {
  let missed = 0;
  interface Waiter {
    n: number;
    resolve: () => void;
    reject: (err: unknown) => void;
  }
  const queues = new Map<string, { waiting: Waiter[]; asking: boolean }>();

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

  async function pump(key: string, perSecond: number): Promise<void> {
    const q = queues.get(key)!;
    if (q.asking) return;
    q.asking = true;
    try {
      const capacity = Math.max(1, Math.floor(perSecond));
      while (q.waiting.length > 0) {
        const batch: Waiter[] = [];
        let total = 0;
        while (q.waiting.length > 0 && (batch.length === 0 || total + q.waiting[0]!.n <= capacity)) {
          const w = q.waiting.shift()!;
          batch.push(w);
          total += w.n;
        }
        let at: number;
        try {
          at = await ask(key, perSecond, total);
        } catch (err) {
          for (const w of batch) w.reject(err);
          continue;
        }
        // Released at the grant, while the next batch is asked for; too late (a stalled process): asked for again.
        setTimeout(
          () => {
            if (Date.now() <= at + LATE_MS) for (const w of batch) w.resolve();
            else {
              missed++;
              q.waiting.unshift(...batch);
              void pump(key, perSecond);
            }
          },
          Math.max(0, at - Date.now()),
        );
      }
    } finally {
      q.asking = false;
    }
  }

  return {
    missed: () => missed,
    take({ key, perSecond }, n) {
      if (!queues.has(key)) queues.set(key, { waiting: [], asking: false });
      return new Promise<void>((resolve, reject) => {
        queues.get(key)!.waiting.push({ n, resolve, reject });
        void pump(key, perSecond);
      });
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
