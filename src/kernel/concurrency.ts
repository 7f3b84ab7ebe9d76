// Bounded concurrency for the many-calls-at-once places (store reads in the sweep, Schedule calls in a sync).

/** Runs `fn` over `items` with at most `limit` in flight; resolves when all are done, rejects on the first failure. */
export async function eachLimited<T>(items: ReadonlyArray<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
