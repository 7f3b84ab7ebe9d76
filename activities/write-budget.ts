// A mass rotation's write budget on the activity side: before each write request to the store (or each writing
// method, as many tokens as it may send), take tokens from the provider's writeBudget workflow, wait the delay it
// grants, and send only if still on time; a grant missed (a stalled process, a slow answer) is left unused and
// another one asked. Only this process's own clock is read, and only for how long something took: the budget's clock
// (the Temporal server's) is never compared with it.
import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { stillWanted } from '../src/kernel/attempt';
import { RotatorError } from '../src/kernel/errors';
import type { RotationPlan } from '../src/kernel/plan';
import { takeSlotsUpdate, WRITE_BUDGET, writeBudgetIdFor } from '../workflows/mass-definitions';
import { SLACK_MS, type writeBudget } from '../workflows/write-budget';
import { WRITE_METHODS, type SecretStore, type WriteMethod } from './types';

/** How long a request released by the gate may take to reach the store. */
export const TRANSIT_MS = 90;
/**
 * A write is sent only if at most this long has passed beyond its grant, counted from when it was asked for (the
 * budget granted it at some moment between the ask and the answer, so the answer's round trip counts as lateness);
 * later, the grant is left unused. Each ask declares its lateness (this plus TRANSIT_MS), and the budget keeps its
 * grant in the log that much longer: twice the last round trip, between MIN_LATE_MS and MAX_SEND_LATE_MS (300 ms).
 */
export const MIN_LATE_MS = SLACK_MS - TRANSIT_MS;
/**
 * The most lateness an ask allows itself: a grant counts in the budget's log its window plus this, so a larger one
 * would leave the budget mostly unused while the worker is slow (a round trip of seconds); past it, a grant is
 * missed and asked for again.
 */
const MAX_SEND_LATE_MS = 300;
/** Tries to reach the budget before the step fails (it is then retried as a whole, like any outage). */
const ASK_TRIES = 20;

export interface WriteBudgetGate {
  /**
   * Waits until `n` writes to budget `key` may be sent now. `signal`: the step's cancellation (its timeout passed, or
   * the rotation was cancelled); once aborted the wait ends with its reason and the writes are never sent.
   */
  take(budget: NonNullable<RotationPlan['writeBudget']>, n: number, signal?: AbortSignal): Promise<void>;
}

export interface TemporalWriteBudgetOptions {
  /** This process's clock (epoch ms), read only for durations. Default Date.now. */
  now?: () => number;
}

/** What a gate has done: grants missed (asked again), and waits abandoned by a cancelled step. */
export interface WriteBudgetStats {
  missed: number;
  abandoned: number;
  /** Grants answered by the budget. */
  granted: number;
  /** Grants whose wait ended (sent, missed, or with every waiter gone). */
  fired: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running activity's cancellation signal, or none outside an activity. */
function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

function abandonedError(signal: AbortSignal, key: string): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new RotatorError(
    'TRANSIENT',
    `the step ended while its write waited on the write budget of provider ${key}`,
    'write budget',
  );
}

/**
 * The gate over Temporal: the budget is a workflow on `taskQueue`, started by the first request that needs it. Each
 * worker process has at most one request in flight per budget (Temporal admits only a few in-flight updates per
 * workflow): the writes waiting meanwhile are asked for together, up to the budget's per-second capacity, and sent
 * together at their grant.
 */
export function temporalWriteBudget(
  client: Client,
  taskQueue: string,
  options: TemporalWriteBudgetOptions = {},
): WriteBudgetGate & { stats(): WriteBudgetStats; missed(): number } {
  const now = options.now ?? Date.now;
  const stats: WriteBudgetStats = { missed: 0, abandoned: 0, granted: 0, fired: 0 };
  interface Waiter {
    n: number;
    resolve: () => void;
    reject: (err: unknown) => void;
    /** Set once its step abandoned it: never sent, never asked for again. */
    gone: boolean;
  }
  const queues = new Map<string, { waiting: Waiter[]; asking: boolean }>();
  /** The last ask's round trip per budget: the next ask declares twice it as its lateness. */
  const lastRoundTrip = new Map<string, number>();
  /** Budgets known to be running: asked with a plain update. */
  const running = new Set<string>();

  async function ask(key: string, perSecond: number, n: number, lateMs: number): Promise<number> {
    let lastError: unknown;
    for (let i = 0; i < ASK_TRIES; i++) {
      try {
        // A budget this process has reached answers a plain update (one round trip less than with its start, and the
        // round trip counts as lateness); one that ended meanwhile is started again by the next try.
        if (running.has(key)) {
          try {
            const grant = await client.workflow
              .getHandle<typeof writeBudget>(writeBudgetIdFor(taskQueue, key))
              .executeUpdate(takeSlotsUpdate, { args: [{ perSecond, n, lateMs }] });
            return grant.delayMs;
          } catch (err) {
            running.delete(key);
            throw err;
          }
        }
        const grant = await client.workflow.executeUpdateWithStart(takeSlotsUpdate, {
          args: [{ perSecond, n, lateMs }],
          startWorkflowOperation: new WithStartWorkflowOperation<typeof writeBudget>(WRITE_BUDGET, {
            workflowId: writeBudgetIdFor(taskQueue, key),
            taskQueue,
            args: [{}],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
        running.add(key);
        return grant.delayMs;
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
      for (;;) {
        q.waiting = q.waiting.filter((w) => !w.gone);
        if (q.waiting.length === 0) break;
        const batch: Waiter[] = [];
        let total = 0;
        while (q.waiting.length > 0 && (batch.length === 0 || total + q.waiting[0]!.n <= capacity)) {
          const w = q.waiting.shift()!;
          batch.push(w);
          total += w.n;
        }
        // The budget grants at some moment between this ask and its answer: the wait is counted from the answer (never
        // early), and the lateness from the ask (never more late than it may be).
        const askedAt = now();
        const allowedMs = Math.min(MAX_SEND_LATE_MS, Math.max(MIN_LATE_MS, 2 * (lastRoundTrip.get(key) ?? MIN_LATE_MS)));
        let delayMs: number;
        try {
          delayMs = await ask(key, perSecond, total, allowedMs + TRANSIT_MS);
          lastRoundTrip.set(key, now() - askedAt);
          stats.granted++;
        } catch (err) {
          for (const w of batch) w.reject(err);
          continue;
        }
        // Released after the delay, while the next batch is asked for; too late (a stalled process): asked for again.
        setTimeout(
          () => {
            stats.fired++;
            const live = batch.filter((w) => !w.gone);
            if (live.length === 0) return;
            if (now() - (askedAt + delayMs) <= allowedMs) for (const w of live) w.resolve();
            else {
              stats.missed++;
              q.waiting.unshift(...live);
              void pump(key, perSecond);
            }
          },
          Math.max(0, delayMs),
        );
      }
    } finally {
      q.asking = false;
    }
  }

  return {
    stats: () => ({ ...stats }),
    missed: () => stats.missed,
    take({ key, perSecond }, n, signal) {
      if (!queues.has(key)) queues.set(key, { waiting: [], asking: false });
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(abandonedError(signal, key));
        const onAbort = () => {
          if (w.gone) return;
          w.gone = true;
          stats.abandoned++;
          reject(abandonedError(signal!, key));
        };
        const w: Waiter = {
          n,
          gone: false,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            w.gone = true;
            resolve();
          },
          reject: (err) => {
            signal?.removeEventListener('abort', onAbort);
            w.gone = true;
            reject(err);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queues.get(key)!.waiting.push(w);
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
  signal: AbortSignal | undefined = activitySignal(),
): Promise<SecretStore> {
  const s = await store;
  const budget = plan.writeBudget;
  if (!budget || !gate) return s;
  // A write leaves only while its attempt is still wanted: a local step that ended itself at its budget is not
  // cancelled by Temporal, so its signal never fires, and the grant would release the write after the rollback.
  const take = async (n: number) => {
    await gate.take(budget, n, signal);
    stillWanted('a write after its turn in the write budget');
  };
  if (s.withWriteGate) return s.withWriteGate(() => take(1));
  return new Proxy(s, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (!(WRITE_METHODS as ReadonlyArray<string | symbol>).includes(prop)) return value.bind(target) as unknown;
      const n = target.capabilities.writeRequests?.[prop as WriteMethod] ?? 1;
      return async (...args: unknown[]) => {
        await take(n);
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}
