// The lifecycle workflows' recordings for a fixture set: a scheduled rotation that succeeds and one that ends needing
// a human, a sweep, and a lease keeper through one full cycle (issue, renew, re-issue, grace, revoke).
import type { temporal } from '@temporalio/proto';
import type { SecretValue } from '../../activities/types';
import { SCHEDULED_ROTATION, scheduledWorkflowIdFor, SWEEP } from '../../workflows/lifecycle-definitions';
import { configYaml, seedAdmin, testEnv, unique, vaultClient } from '../support/harness';
import { startRotator } from '../support/rotator';
import { recordKeeperCycle } from './record-keeper';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

/** Every password the store holds at `path`, so the recorder can refuse a history that holds one. */
async function passwordsAt(path: string): Promise<string[]> {
  const kv = vaultClient();
  const meta = (await kv.read(path.replace('/data/', '/metadata/')).catch(() => null)) as {
    data: { current_version: number };
  } | null;
  const out: string[] = [];
  for (let v = 1; v <= (meta?.data.current_version ?? 0); v++) {
    const body = (await kv.read(`${path}?version=${v}`).catch(() => null)) as { data: { data: SecretValue } } | null;
    if (body?.data.data.password) out.push(String(body.data.data.password));
  }
  return out;
}

export async function recordLifecycle(): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  const taskQueue = unique('record');
  const adminPath = `test/${unique('pg_admin')}`;
  await seedAdmin(adminPath);
  const ok = unique('db');
  const broken = unique('db');
  const yaml = configYaml(
    taskQueue,
    [
      { name: ok, role: unique('app'), extra: 'max_age: 1ms\nschedule: { every: 1h }' },
      {
        name: broken,
        role: unique('nobody'),
        strategy: 'single-user',
        extra: 'schedule: { every: 1h, attempts: 2, retry_delay: 1s }',
      },
    ],
    adminPath,
  );
  const rotator = await startRotator(yaml, testEnv(), { codec: false });
  try {
    for (const [name, secret] of [
      ['scheduled-rotation-succeeded', ok],
      ['scheduled-rotation-needs-human', broken],
    ] as const) {
      const handle = await rotator.client.workflow.start(SCHEDULED_ROTATION, {
        taskQueue,
        workflowId: `${scheduledWorkflowIdFor(secret)}-${unique('r')}`,
        args: [{ secret }],
      });
      await handle.result();
      recorded.push([name, await handle.fetchHistory(), await passwordsAt(`secret/data/test/${secret}`)]);
    }
    const sweep = await rotator.client.workflow.start(SWEEP, { taskQueue, workflowId: unique('sweep'), args: [] });
    await sweep.result();
    recorded.push(['sweep', await sweep.fetchHistory(), await passwordsAt(`secret/data/test/${ok}`)]);
  } finally {
    await rotator.close();
  }

  recorded.push(...(await recordKeeperCycle()));
  return recorded;
}
