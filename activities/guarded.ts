// How every activity fails: as a typed ApplicationFailure, scrubbed of the config's secret values.
import { toFailure } from '../src/kernel/redact';

/** Wraps an activity so its failures leave scrubbed of `secrets`, wherever a driver may have echoed them. */
export function guarded<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  secrets: ReadonlyArray<string>,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toFailure(err, secrets);
    }
  };
}

/** Every activity of a factory, guarded: the shape every `create…Activities` returns. */
export function guardedAll<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
  secrets: ReadonlyArray<string>,
): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [name, guarded(fn as (...a: unknown[]) => Promise<unknown>, secrets)]),
  ) as unknown as T;
}
