// What bounds a worker process's exit after SIGINT/SIGTERM.

/**
 * After SIGINT/SIGTERM the worker cancels the activities in flight at once and waits for them to end. One that does not
 * honour the cancellation (a call with no timeout of its own) would hold the shutdown for ever: past this, `run()`
 * gives up on it and rejects, and the process exits (a fresh worker runs the step again; every step converges).
 */
export const SHUTDOWN_FORCE_TIME_MS = 20_000;

/** How long after the signal a process may still be alive: the forced shutdown, then closing the clients. */
export const EXIT_DEADLINE_MS = SHUTDOWN_FORCE_TIME_MS + 10_000;

/**
 * Once SIGINT or SIGTERM arrives, a process still alive `deadlineMs` later (a client's close that waits on a connection
 * the forced shutdown left in use, a handle nobody closed) says so and exits with status 1. The timer is unref'd: a
 * process that ends by itself is not kept alive by it.
 */
export function exitIfStuckAfterSignal(onStuck: (afterMs: number) => void, deadlineMs = EXIT_DEADLINE_MS): void {
  const arm = () => {
    setTimeout(() => {
      onStuck(deadlineMs);
      process.exit(1);
    }, deadlineMs).unref();
  };
  process.once('SIGINT', arm);
  process.once('SIGTERM', arm);
}
