// A mass rotation's write budget on the activity side: before each write request to the store (or each writing
// method, as many tokens as it may send), take tokens from this process's lease on the provider's writeBudget
// workflow. The lease is a share of the budget's capacity (tokens per window) this process holds for LEASE_MS and
// spends by its own clock: a log of its writes, each counted from its turn until a window after its answer (a write
// reaches the store between the two, however long its answer takes), so the store receives at most its share in any
// window; it asks again before the lease runs out, while its writes go on. However slow the answer (seconds on a loaded worker), nothing is
// missed: the lease counts in the budget from its grant, before the answer, to its end plus a window, and this
// process sends under it only until LEASE_MS minus SEND_GUARD_MS after its ask, by its own clock (durations only: the
// budget's clock, the Temporal server's, is never compared with it).
import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { stillWanted } from '../src/kernel/attempt';
import { RotatorError } from '../src/kernel/errors';
import type { RotationPlan } from '../src/kernel/plan';
import { leaseTokensUpdate, WRITE_BUDGET, writeBudgetIdFor, type LeaseGrant } from '../workflows/mass-definitions';
import { grantWindow, SLACK_MS, type writeBudget } from '../workflows/write-budget';
import { WRITE_METHODS, type SecretStore, type WriteGate, type WriteMethod } from './types';

/** How long a lease runs from its ask; it is asked again from halfway while writes wait. */
export const LEASE_MS = 20_000;
/** A write is sent under a lease only up to this long before its end: the time a sent request may take to arrive. */
export const SEND_GUARD_MS = 1_000;
/** Tries to reach the budget before the step fails (it is then retried as a whole, like any outage). */
const ASK_TRIES = 20;

export interface WriteBudgetGate {
  /**
   * Waits until `n` writes to budget `key` may be sent now, and answers their release: call it once they have their
   * answers (or failed). `signal`: the step's cancellation (its timeout passed, or the rotation was cancelled); once
   * aborted the wait ends with its reason and the writes are never sent.
   */
  take(budget: NonNullable<RotationPlan['writeBudget']>, n: number, signal?: AbortSignal): Promise<() => void>;
}

export interface TemporalWriteBudgetOptions {
  /** This process's clock (epoch ms), read only for durations. Default Date.now. */
  now?: () => number;
  /** How long a lease runs (default LEASE_MS; tests shorten it). */
  leaseMs?: number;
  /** Told of each wait that ended in a send, as it ends (`at`: this process's clock): for metrics and tests. */
  onLetGo?: (key: string, n: number, at: number) => void;
}

/** What a gate has done. */
export interface WriteBudgetStats {
  /** Times writes waited because the lease had run out before its renewal was answered. */
  missed: number;
  /** Waits abandoned by a cancelled step. */
  abandoned: number;
  /** Leases answered with tokens. */
  granted: number;
  /** Asks answered with none (the capacity held by others): asked again later. */
  refused: number;
  /** Writes let go (tokens spent). */
  sent: number;
  /** Writes waiting now. */
  waiting: number;
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
 * The gate over Temporal: the budget is a workflow on `taskQueue`, started by the first ask that needs it. Each
 * worker process holds at most one lease per budget and has at most one ask in flight for it (Temporal admits only a
 * few in-flight updates per workflow).
 */
export function temporalWriteBudget(
  client: Client,
  taskQueue: string,
  options: TemporalWriteBudgetOptions = {},
): WriteBudgetGate & { stats(): WriteBudgetStats; missed(): number } {
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const holder = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const counts = { missed: 0, abandoned: 0, granted: 0, refused: 0, sent: 0 };
  interface Waiter {
    n: number;
    resolve: (release: () => void) => void;
    reject: (err: unknown) => void;
    /** Set once its step abandoned it: never sent. */
    gone: boolean;
  }
  interface Budget {
    key: string;
    perSecond: number;
    waiting: Waiter[];
    /**
     * The tokens this process spent that still count, by its own clock: from the turn of their write until a window
     * after its answer (`end`; none while it has none).
     */
    sent: Array<{ end?: number }>;
    lease?: { tokens: number; sendUntil: number };
    asking: boolean;
    /** No ask before this (a refusal said when to ask again). */
    askAfter: number;
    timer?: NodeJS.Timeout;
  }
  const budgets = new Map<string, Budget>();
  /** Budgets known to be running: asked with a plain update. */
  const running = new Set<string>();

  async function ask(key: string, perSecond: number, want: number): Promise<LeaseGrant> {
    const request = { perSecond, holder, want, leaseMs };
    let lastError: unknown;
    for (let i = 0; i < ASK_TRIES; i++) {
      try {
        // A budget this process has reached answers a plain update (one round trip less than with its start); one
        // that ended meanwhile is started again by the next try.
        if (running.has(key)) {
          try {
            return await client.workflow
              .getHandle<typeof writeBudget>(writeBudgetIdFor(taskQueue, key))
              .executeUpdate(leaseTokensUpdate, { args: [request] });
          } catch (err) {
            running.delete(key);
            throw err;
          }
        }
        const grant = await client.workflow.executeUpdateWithStart(leaseTokensUpdate, {
          args: [request],
          startWorkflowOperation: new WithStartWorkflowOperation<typeof writeBudget>(WRITE_BUDGET, {
            workflowId: writeBudgetIdFor(taskQueue, key),
            taskQueue,
            args: [{}],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
        running.add(key);
        return grant;
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

  function renew(b: Budget): void {
    if (b.asking) return;
    b.asking = true;
    const askedAt = now();
    ask(b.key, b.perSecond, grantWindow(b.perSecond).capacity)
      .then(
        (grant) => {
          if (grant.tokens > 0) {
            counts.granted++;
            // Sent only while the lease runs, counted from the ask (the budget granted it after), less the guard.
            b.lease = { tokens: grant.tokens, sendUntil: askedAt + grant.leaseMs - SEND_GUARD_MS };
          } else {
            counts.refused++;
            b.askAfter = now() + grant.retryMs;
          }
        },
        (err: unknown) => {
          for (const w of b.waiting.splice(0)) w.reject(err);
        },
      )
      .finally(() => {
        b.asking = false;
        drain(b);
      });
  }

  /** Lets go every waiter the lease and the log allow, asks for a lease when needed, and sets when to look again. */
  function drain(b: Budget): void {
    clearTimeout(b.timer);
    b.timer = undefined;
    b.waiting = b.waiting.filter((w) => !w.gone);
    if (b.waiting.length === 0) return;
    const t = now();
    const lease = b.lease && t < b.lease.sendUntil ? b.lease : undefined;
    if (!lease && b.lease) {
      counts.missed++;
      b.lease = undefined;
    }
    // Asked again from halfway through the lease while writes wait, so a slow answer comes before it runs out.
    if ((!lease || lease.sendUntil - t < leaseMs / 2) && t >= b.askAfter) renew(b);
    // Look again when the renewal is due (none while one is asked: its answer looks again).
    let wakeAt = b.asking ? Infinity : Math.max(b.askAfter, lease ? lease.sendUntil - leaseMs / 2 : 0, t + 1);
    if (lease) {
      // The budget's window without the slack for transit: a write counts until a window after its answer, so its
      // transit, however long, is inside what it counts.
      const windowMs = grantWindow(b.perSecond).windowMs - SLACK_MS;
      b.sent = b.sent.filter((s) => s.end === undefined || t - s.end < windowMs);
      const capacity = grantWindow(b.perSecond).capacity;
      while (b.waiting.length > 0) {
        const w = b.waiting[0]!;
        // A request larger than the whole capacity waits for an empty window and takes it alone.
        const fits = b.sent.length + w.n <= lease.tokens || (b.sent.length === 0 && w.n > capacity && lease.tokens === capacity);
        if (!fits) break;
        b.waiting.shift();
        const spent = Array.from({ length: w.n }, () => ({}) as { end?: number });
        b.sent.push(...spent);
        counts.sent += w.n;
        options.onLetGo?.(b.key, w.n, t);
        let released = false;
        w.resolve(() => {
          if (released) return;
          released = true;
          const end = now();
          for (const s of spent) s.end = end;
          drain(b);
        });
      }
      if (b.waiting.length === 0) return;
      // Next look: when the first answered write stops counting (one still unanswered looks again at its release).
      const ends = b.sent.filter((s) => s.end !== undefined).map((s) => s.end! + windowMs);
      if (ends.length > 0) wakeAt = Math.min(wakeAt, ...ends);
      wakeAt = Math.min(wakeAt, lease.sendUntil);
    }
    if (wakeAt !== Infinity) b.timer = setTimeout(() => drain(b), Math.max(1, wakeAt - t));
  }

  return {
    stats: () => ({
      ...counts,
      waiting: [...budgets.values()].reduce((sum, b) => sum + b.waiting.filter((w) => !w.gone).length, 0),
    }),
    missed: () => counts.missed,
    take({ key, perSecond }, n, signal) {
      if (!budgets.has(key)) budgets.set(key, { key, perSecond, waiting: [], sent: [], asking: false, askAfter: 0 });
      const b = budgets.get(key)!;
      b.perSecond = perSecond;
      return new Promise<() => void>((resolve, reject) => {
        if (signal?.aborted) return reject(abandonedError(signal, key));
        const onAbort = () => {
          if (w.gone) return;
          w.gone = true;
          counts.abandoned++;
          reject(abandonedError(signal!, key));
        };
        const w: Waiter = {
          n,
          gone: false,
          resolve: (release) => {
            signal?.removeEventListener('abort', onAbort);
            w.gone = true;
            resolve(release);
          },
          reject: (err) => {
            signal?.removeEventListener('abort', onAbort);
            w.gone = true;
            reject(err);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        b.waiting.push(w);
        drain(b);
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
    const release = await gate.take(budget, n, signal);
    try {
      stillWanted('a write after its turn in the write budget');
    } catch (err) {
      release();
      throw err;
    }
    return release;
  };
  if (s.withWriteGate) return s.withWriteGate((() => take(1)) satisfies WriteGate);
  return new Proxy(s, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (!(WRITE_METHODS as ReadonlyArray<string | symbol>).includes(prop)) return value.bind(target) as unknown;
      const n = target.capabilities.writeRequests?.[prop as WriteMethod] ?? 1;
      return async (...args: unknown[]) => {
        const release = await take(n);
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          release();
        }
      };
    },
  });
}
