// The backstop of a worker process's exit: once told to stop, a process that something still holds exits with status 1
// and says so (workers/shutdown.ts). The forced shutdown of a worker whose step ignores its cancellation is in
// test/worker-kill.test.ts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/stack/repo-root';

it('a process held by a handle nobody closes exits with status 1 once its deadline after SIGTERM has passed', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/support/stuck-process.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, STUCK_DEADLINE_MS: '200' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  // Armed; a child that died before (a load error) fails here with what it printed.
  const ready = await Promise.race([once(child.stdout, 'data').then(() => true), exited.then(() => false)]);
  if (!ready) throw new Error(`the stuck process ended before it was ready: ${stderr}`);
  child.kill('SIGTERM');
  // Without the backstop, SIGTERM's default would end it by the signal (null, 'SIGTERM'), not with status 1.
  expect(await exited).toEqual([1, null]);
  expect(stderr).toContain('still running 200 ms after the signal to stop: exiting');
}, 30_000);
