// What bounds a worker process's exit after SIGINT/SIGTERM, beyond the SDK's own shutdown (SHUTDOWN_FORCE_TIME_MS).
import { SHUTDOWN_FORCE_TIME_MS } from './worker';

/** How long after the signal a process may still be alive: the forced shutdown, then closing the clients. */
export const EXIT_DEADLINE_MS = SHUTDOWN_FORCE_TIME_MS + 10_000;

/**
 * Once SIGINT or SIGTERM arrives, a process still alive EXIT_DEADLINE_MS later (a client's close that waits on a
 * connection the forced shutdown left in use, a handle nobody closed) says so and exits with status 1. The timer is
 * unref'd: a process that ends by itself is not kept alive by it.
 */
export function exitIfStuckAfterSignal(onStuck: (afterMs: number) => void): void {
  const arm = () => {
    setTimeout(() => {
      onStuck(EXIT_DEADLINE_MS);
      process.exit(1);
    }, EXIT_DEADLINE_MS).unref();
  };
  process.once('SIGINT', arm);
  process.once('SIGTERM', arm);
}
