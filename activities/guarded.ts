// How every activity fails: as a typed ApplicationFailure, scrubbed of the config's secret values, and said in the
// worker's log when it is slow, fails or is tried again.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, msToNumber } from '@temporalio/common';
import { asAttempt } from '../src/kernel/attempt';
import { redact, toFailure } from '../src/kernel/redact';
import { STEP_HEARTBEAT_TIMEOUT } from '../workflows/lib/policies';
import { CONNECT_TIMEOUT_MS, seconds } from './timeouts';

/** A step still running after this long is waiting on a system that does not answer: said once in the worker's log. */
export const SLOW_STEP_MS = CONNECT_TIMEOUT_MS;

const STEP_HEARTBEAT_MS = msToNumber(STEP_HEARTBEAT_TIMEOUT);

/** The systems a step talks to beyond its plan's store and target (a consumer step's consumers), from its arguments. */
export type MoreSystems = (args: unknown[]) => string[];

/**
 * What a provider's store is, as a step's messages name it (`AWS Secrets Manager`), when its plugin declares it: the
 * provider's own name may say nothing of it ("store secrets").
 */
export type StoreSystem = (provider: string) => string | undefined;

/**
 * "promote of orders_db (store vault, target postgresql)": the step and the systems it talks to, from its plan (and
 * `more`, e.g. "consumer rollout: kubernetes API server"; the store as "store secrets: AWS Secrets Manager" when its
 * plugin names its system).
 */
function stepOf(activityType: string, args: unknown[], more?: MoreSystems, storeSystem?: StoreSystem): string {
  const plan = args[0] as { secret?: unknown; store?: { provider?: unknown }; target?: { type?: unknown } } | undefined;
  if (!plan || typeof plan !== 'object' || typeof plan.secret !== 'string') return activityType;
  const provider = typeof plan.store?.provider === 'string' ? plan.store.provider : null;
  const system = provider !== null ? storeSystem?.(provider) : undefined;
  const systems = [
    provider !== null ? `store ${provider}${system ? `: ${system}` : ''}` : null,
    typeof plan.target?.type === 'string' ? `target ${plan.target.type}` : null,
    ...(more?.(args) ?? []),
  ].filter(Boolean);
  return `${activityType} of ${plan.secret}${systems.length ? ` (${systems.join(', ')})` : ''}`;
}

/**
 * Whether a local activity's failed attempt is its last: the next one would start after its schedule-to-close timeout
 * (a forward step's `outage_tolerance`). Temporal's core keeps retrying a local activity whose attempts fail fast
 * (a refused or reset connection) past that timeout when it passes between attempts, so a forward step would wait
 * for its store or database forever; the step ends itself instead, as the server ends a regular activity's retries.
 */
export function retryBudgetSpent(info: Context['info'], now = Date.now()): boolean {
  const budget = info.scheduleToCloseTimeoutMs;
  if (!info.isLocal || !budget) return false;
  const retry = info.retryPolicy;
  const initial = retry?.initialInterval !== undefined ? msToNumber(retry.initialInterval) : 1000;
  const max = retry?.maximumInterval !== undefined ? msToNumber(retry.maximumInterval) : initial * 100;
  const next = Math.min(initial * (retry?.backoffCoefficient ?? 2) ** Math.max(0, info.attempt - 1), max);
  return now + next + RACE_MARGIN_MS >= info.scheduledTimestampMs + budget;
}

/**
 * A next attempt that would start this close to the step's schedule-to-close timeout is not made: core's own timeout
 * may end the step first (seen when the worker is loaded), as "did not finish within its schedule-to-close timeout",
 * naming no system (fault matrix, cell "consumers restartWorkloads kubernetes reset_peer").
 */
const RACE_MARGIN_MS = 1_000;

/**
 * How long before a local step's schedule-to-close timeout the step ends itself (so its own message wins). 250 ms lost
 * the race on a loaded worker (fault matrix: dual-password applyCredential redis blackhole, "step applyCredential did
 * not finish within its schedule-to-close timeout", naming no system).
 */
const BUDGET_MARGIN_MS = RACE_MARGIN_MS;

/** The running activity's context; none when a step runs outside an activity (a test calling it directly). */
export function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null; // called directly, outside an activity (tests, the CLI's own checks)
  }
}

/** The activity's logger; none outside an activity. */
export const activityLog = (): Context['log'] | null => activityContext()?.log ?? null;

/** Wraps an activity so its failures leave scrubbed of `secrets`, wherever a driver may have echoed them. */
export function guarded<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  secrets: ReadonlyArray<string>,
  more?: MoreSystems,
  storeSystem?: StoreSystem,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const ctx = activityContext();
    const step = ctx ? stepOf(ctx.info.activityType, args, more, storeSystem) : '';
    // A frozen store or database used to leave the log silent until the step's own timeout: say so as it happens.
    if (ctx && ctx.info.attempt > 1) ctx.log.warn(`retrying ${step}: attempt ${ctx.info.attempt}`);
    // A short regular step (policy STEP_HEARTBEAT_TIMEOUT): heartbeated here while it runs, so the server notices a
    // dead worker within seconds. Waits with a longer heartbeat timeout (drain, rollout, issuing a lease) heartbeat
    // themselves with where they stand, are long by design, and say so themselves.
    const timeout = ctx?.info.heartbeatTimeoutMs || 0; // none: undefined or 0
    const short = ctx !== null && timeout <= STEP_HEARTBEAT_MS;
    const beat = ctx && timeout > 0 && short ? setInterval(() => ctx.heartbeat(), timeout / 3) : undefined;
    beat?.unref();
    const slow =
      ctx && short
        ? setTimeout(
            () => ctx.log.warn(`${step} has had no answer for ${seconds(SLOW_STEP_MS)} (attempt ${ctx.info.attempt})`),
            SLOW_STEP_MS,
          )
        : undefined;
    slow?.unref();
    // A local step's attempt still waiting on its system when the step's retry budget ends: Temporal would end it
    // with a bare schedule-to-close timeout that names no system; end it here, naming the step and its systems.
    const budget = ctx?.info.isLocal ? ctx.info.scheduleToCloseTimeoutMs : 0;
    let outOfBudget: NodeJS.Timeout | undefined;
    const spent = budget
      ? new Promise<never>((_, reject) => {
          const left = ctx!.info.scheduledTimestampMs + budget - Date.now() - BUDGET_MARGIN_MS;
          outOfBudget = setTimeout(
            () =>
              reject(
                ApplicationFailure.create({
                  type: 'TRANSIENT',
                  nonRetryable: true,
                  message: `${step} had no answer within its retry budget of ${seconds(budget)} (attempt ${ctx!.info.attempt})`,
                }),
              ),
            Math.max(0, left),
          );
        })
      : null;
    // Once this returns or throws, the attempt has ended: if `fn` is still waiting (the budget ran out), what it does
    // after its wait changes nothing (src/kernel/attempt.ts).
    const attempt = asAttempt(step || 'the step', () => fn(...args));
    try {
      return await (spent ? Promise.race([attempt.result, spent]) : attempt.result);
    } catch (err) {
      let failure = toFailure(err, secrets);
      if (ctx && !failure.nonRetryable && retryBudgetSpent(ctx.info)) {
        const spent = Date.now() - ctx.info.scheduledTimestampMs;
        failure = ApplicationFailure.create({
          type: failure.type ?? undefined,
          nonRetryable: true,
          message: `${step} gave up after ${seconds(spent)} and ${ctx.info.attempt} attempts (its retry budget is ${seconds(ctx.info.scheduleToCloseTimeoutMs)}): ${failure.message}`,
        });
      }
      // A local step's failure reaches the rotation's status without its step's name (a regular step's is named by
      // its ActivityFailure): it names the step itself, or the operator reads a consumer's or a driver's words alone
      // (fault matrix: "webhook: http://… did not accept …", not saying it was notifyConsumer).
      if (ctx?.info.isLocal && !failure.message.includes(ctx.info.activityType)) {
        failure = ApplicationFailure.create({
          type: failure.type ?? undefined,
          nonRetryable: failure.nonRetryable ?? undefined,
          message: `${ctx.info.activityType}: ${failure.message}`,
          details: failure.details ?? undefined,
        });
      }
      if (ctx) {
        const then = failure.nonRetryable ? 'not retried' : 'Temporal retries it unless its retries are used up';
        ctx.log.warn(
          `${step} failed (attempt ${ctx.info.attempt}, ${failure.type ?? 'UNKNOWN'}): ${redact(failure.message, secrets)}; ${then}`,
        );
      }
      throw failure;
    } finally {
      attempt.end();
      clearInterval(beat);
      clearTimeout(slow);
      clearTimeout(outOfBudget);
    }
  };
}

/** Every activity of a factory, guarded: the shape every `create…Activities` returns. */
export function guardedAll<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
  secrets: ReadonlyArray<string>,
  more?: MoreSystems,
  storeSystem?: StoreSystem,
): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      guarded(fn as (...a: unknown[]) => Promise<unknown>, secrets, more, storeSystem),
    ]),
  ) as unknown as T;
}
