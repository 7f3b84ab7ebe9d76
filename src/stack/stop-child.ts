import type { ChildProcess } from 'node:child_process';

/**
 * How a server started unref'd is stopped: SIGTERM, SIGKILL after `graceMs`, resolved once it has exited. The child is
 * held (ref'd) from SIGTERM until it has exited: otherwise, once the SIGKILL timer has fired, nothing may keep the
 * event loop alive and Node exits 0 with the stop pending (jest's global teardown then never returns, and jest writes
 * no results and reports no failure).
 */
export function stopChild(child: ChildProcess, graceMs: number): () => Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve()).once('error', () => resolve());
  });
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    child.ref();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
}
