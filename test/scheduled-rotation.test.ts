// scheduledRotation, what a Schedule starts: it waits for the secret's window (on the time-skipping server, which
// makes hours pass at once), shares the one-rotation-per-secret guard with the CLI, and gives up after its attempts.
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../src/config/load';
import { decideRotation, startRotation } from '../src/client/rotations';
import { insideWindow } from '../src/kernel/window';
import { workflowIdFor } from '../workflows/definitions';
import { SCHEDULED_ROTATION, scheduledWorkflowIdFor, type ScheduledRotationResult } from '../workflows/lifecycle-definitions';
import { createRotatorWorker } from '../workers/worker';
import { configYaml, seedAdmin, testEnv, unique, untilPhase, workflowBundle } from './support/harness';
import { timeSkippingEnvironment } from './support/time-skipping';
import { startRotator } from './support/rotator';
import { testStack } from './support/stack';
import { connectTemporal } from '../src/client/temporal';

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

async function configFor(taskQueue: string, specs: Parameters<typeof configYaml>[1]) {
  const adminPath = `test/${unique('pg_admin')}`;
  await seedAdmin(adminPath);
  return configYaml(taskQueue, specs, adminPath);
}

describe('a scheduled rotation', () => {
  it('started outside its window waits for the window (hours, on the time-skipping server), then rotates inside it', async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') }); // before the environment makes one with its own
    const env = await timeSkippingEnvironment();
    // The time-skipping server has no visibility: the secret's standing is read from the dev server.
    const devConnection = await connectTemporal({ address: testStack().temporal!.address });
    try {
      const taskQueue = unique('window');
      const name = unique('db');
      const opens = Date.now() + 3 * 3_600_000;
      const window = { start: hhmm(opens), end: hhmm(opens + 3_600_000), time_zone: 'UTC' };
      const yaml = await configFor(taskQueue, [
        {
          name,
          role: unique('app'),
          extra: `schedule: { every: 1h, window: { start: "${window.start}", end: "${window.end}", time_zone: UTC } }`,
        },
      ]);
      const config = parseConfig(yaml.replace(testStack().temporal!.address, env.address), testEnv());
      // env.client skips time while it waits on a result; it has no codec, so neither has this worker.
      const dataConverter = {};
      const rotator = await createRotatorWorker({
        config,
        dataConverter,
        workflowBundle: await workflowBundle(),
        logLevel: 'ERROR',
        client: new Client({ connection: devConnection }),
      });
      const client = env.client;
      const result = await rotator.worker.runUntil(
        client.workflow.execute(SCHEDULED_ROTATION, {
          taskQueue,
          workflowId: `${scheduledWorkflowIdFor(name)}-test`,
          args: [{ secret: name }],
        }) as Promise<ScheduledRotationResult>,
      );
      await rotator.close();
      expect(result).toMatchObject({ outcome: 'succeeded', attempts: [{ outcome: 'succeeded' }] });
      expect(result.waitedUntil).not.toBeNull();
      const rotation = await client.workflow.getHandle(workflowIdFor(name)).describe();
      expect(insideWindow(rotation.startTime.getTime(), window)).toBe(true);
      expect(rotation.startTime.getTime()).toBeGreaterThan(Date.now() + 2 * 3_600_000); // the server's clock moved on
    } finally {
      await devConnection.close();
      await env.teardown();
    }
  }, 60_000);

  it('and a CLI rotation of the same secret at the same moment make one rotation; the other says already running', async () => {
    const taskQueue = unique('both');
    const name = unique('db');
    // The winner waits at its approval gate until the loser has tried, so the two surely meet whatever the machine's
    // load: the test approves only once both attempts have been answered.
    const yaml = await configFor(taskQueue, [
      { name, role: unique('app'), extra: 'approval: required\nschedule: { every: 1h }' },
    ]);
    const rotator = await startRotator(yaml, testEnv());
    try {
      const scheduledRun = rotator.client.workflow.execute(SCHEDULED_ROTATION, {
        taskQueue,
        workflowId: `${scheduledWorkflowIdFor(name)}-${Date.now()}`,
        args: [{ secret: name }],
      }) as Promise<ScheduledRotationResult>;
      const cli = await startRotation(rotator.client, taskQueue, rotator.plan(name));
      // The CLI won: the scheduled run has tried and ended without waiting. It lost: the scheduled run started it.
      const skipped = cli.started ? await scheduledRun : undefined;
      if (skipped) expect(skipped).toMatchObject({ outcome: 'skipped', reason: 'already running' });
      await untilPhase(cli.handle, 'approval');
      await decideRotation(rotator.client, name, 'approve', { by: 'test', reason: 'both tried' });
      expect(await cli.handle.result()).toMatchObject({ outcome: 'succeeded' });
      if (!skipped) expect(await scheduledRun).toMatchObject({ outcome: 'succeeded', attempts: [{ outcome: 'succeeded' }] });
      const runs: string[] = [];
      for await (const wf of rotator.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(name)}'` }))
        runs.push(wf.runId);
      expect(runs).toHaveLength(1);
    } finally {
      await rotator.close();
    }
  }, 60_000);

  it('that keeps failing tries its attempts with fresh material, then needs a human and stops trying', async () => {
    const taskQueue = unique('fails');
    const name = unique('db');
    const yaml = await configFor(taskQueue, [
      { name, role: unique('nobody'), strategy: 'single-user', extra: 'schedule: { every: 1h, attempts: 2, retry_delay: 1s }' },
    ]);
    const rotator = await startRotator(yaml, testEnv());
    const run = () =>
      rotator.client.workflow.execute(SCHEDULED_ROTATION, {
        taskQueue,
        workflowId: `${scheduledWorkflowIdFor(name)}-${unique('t')}`,
        args: [{ secret: name }],
      }) as Promise<ScheduledRotationResult>;
    try {
      const first = await run();
      expect(first.outcome).toBe('needs-human');
      expect(first.attempts).toHaveLength(2);
      // Each attempt was its own rotation (own run id), so each drew its own password.
      expect(new Set(first.attempts.map((a) => a.rotationId)).size).toBe(2);
      // Visibility catches up with the two failures (bounded), then the next scheduled run does not try again.
      const deadline = Date.now() + 10_000;
      let again: ScheduledRotationResult;
      do {
        again = await run();
        if (again.outcome === 'skipped') break;
      } while (Date.now() < deadline);
      expect(again).toMatchObject({ outcome: 'skipped', attempts: [] });
      expect(again.reason).toMatch(/needs a human/);
    } finally {
      await rotator.close();
    }
  }, 60_000);
});
