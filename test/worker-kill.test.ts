// A worker killed with SIGKILL mid-rotation loses nothing: a fresh worker process finishes the rotation. A worker
// told to stop (SIGTERM) while a step ignores its cancellation still exits, and a fresh worker finishes that rotation.
import { spawn, type ChildProcess } from 'node:child_process';

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@temporalio/client';
import { getDataConverter } from '../src/client/codec/data-converter';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import { followRotation, queryStatus, startRotation } from '../src/client/rotations';
import { canLogin, codecKeyEnv, configYaml, readStore, seedAdmin, testCodecKeys, testEnv, unique } from './support/harness';
import { startFaultHarness } from './support/fault-harness';
import { readTrace } from './support/fault-injection';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { connectTemporal } from '../src/client/temporal';

const ROOT = resolve(__dirname, '..');

function startWorkerProcess(configFile: string, env: Record<string, string>): ChildProcess {
  // node itself, not the tsx wrapper: SIGKILL must hit the process that runs the worker, not a parent of it.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'workers/main.ts'), configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env, ROTATOR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((res) => child.once('exit', (code, signal) => res(signal ?? code)));
}

/** Polls the workflow's status query until it reports `phase`; the query is answered by whichever worker runs. */
async function waitForPhase(handle: Parameters<typeof queryStatus>[0], phase: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const status = await queryStatus(handle).catch(() => null);
    if (status?.phase === phase) return;
    if (status && status.outcome !== 'running') throw new Error(`rotation ended (${status.outcome}) before phase ${phase}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`rotation never reached phase ${phase}`);
}

describe('worker crash', () => {
  it('a fresh worker completes a rotation whose worker was SIGKILLed after publish', async () => {
    const keys = testCodecKeys();
    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const secret = { name: unique('db'), role: unique('app'), extra: 'reconnect: { wait: 3s }' };
    const yaml = configYaml(taskQueue, [secret], adminPath);
    const configFile = join(mkdtempSync(join(tmpdir(), 'rotator-kill-')), 'rotator.yaml');
    writeFileSync(configFile, yaml, { mode: 0o600 });
    const env = { ...testEnv(), ROTATOR_CODEC_KEY: codecKeyEnv(keys) };

    const connection = await connectTemporal({ address: testStack().temporal!.address });
    const client = new Client({ connection, dataConverter: getDataConverter(keys) });
    const first = startWorkerProcess(configFile, env);
    let second: ChildProcess | undefined;
    try {
      const plan = planRotation(parseConfig(yaml, testEnv()), secret.name);
      const { handle } = await startRotation(client, taskQueue, plan);
      await waitForPhase(handle, 'reconnect'); // created and published; the durable reconnect timer is running
      expect((await readStore(`test/${secret.name}`))?.data.username).toBe(`${secret.role}_a`);

      const firstExit = exited(first);
      first.kill('SIGKILL');
      expect(await firstExit).toBe('SIGKILL');

      second = startWorkerProcess(configFile, env);
      const { ok, status } = await followRotation(handle);
      expect(ok).toBe(true);
      expect(status.phases.map((p) => p.name)).toEqual(['create', 'publish', 'reconnect', 'verify', 'revoke']);
      const current = await readStore(`test/${secret.name}`);
      expect(current!.version).toBe(1); // published exactly once
      expect(await canLogin(String(current!.data.username), String(current!.data.password))).toBe(true);
    } finally {
      first.kill('SIGKILL');
      if (second) {
        const secondExit = exited(second);
        second.kill('SIGTERM');
        await secondExit;
      }
      await connection.close();
    }
  });

  it('a worker told to stop while a step ignores its cancellation still exits, and a fresh worker finishes', async () => {
    const harness = await startFaultHarness();
    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const secret = { name: unique('db'), role: unique('app') };
    const yaml = configYaml(taskQueue, [secret], adminPath);
    // The first step never ends and ignores its cancellation, as a call with no timeout of its own would.
    const { worker: stuck, traceFile } = harness.worker({ yaml, env: testEnv() }, taskQueue, { killAt: 'hang:inspect#1' });
    let fresh: Rotator | undefined;
    try {
      const plan = planRotation(parseConfig(yaml, testEnv()), secret.name);
      const { handle } = await startRotation(harness.client, taskQueue, plan);
      for (let i = 0; i < 600 && !readTrace(traceFile).some((e) => e.event === 'hang'); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(
        readTrace(traceFile)
          .filter((e) => e.event === 'hang')
          .map((e) => e.activity),
      ).toEqual(['inspect']);

      // The SDK cancels the step and waits for it; the forced shutdown ends the wait and the process exits, status 1,
      // by itself: not through the backstop that exits a process still alive after its deadline (no `stuck` event).
      stuck.child.kill('SIGTERM');
      expect(await stuck.exited).toBe(1);
      expect(readTrace(traceFile).filter((e) => e.event === 'stuck')).toEqual([]);

      fresh = await startRotator(yaml, testEnv(), { keys: harness.keys });
      const { ok, status } = await followRotation(handle);
      expect(ok).toBe(true);
      expect(status.phases.map((p) => p.name)).toEqual(['create', 'publish', 'reconnect', 'verify', 'revoke']);
    } finally {
      await stuck.kill();
      await fresh?.close();
      await harness.close();
    }
  }, 120_000);
});
