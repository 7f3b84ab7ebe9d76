// Trigger workflows for a fixture set: an event that rotates, and a late one that an earlier rotation answers.
import type { temporal } from '@temporalio/proto';
import { readStore } from '../support/harness';
import { startRotator } from '../support/rotator';
import { dispatchFor, triggerConfig } from '../support/trigger-config';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordTrigger(): Promise<Recorded[]> {
  const built = await triggerConfig({
    secrets: 1,
    sources: ['    ci:', '      type: webhook', '      signing_key: 0123456789abcdef0123'],
    rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate }`],
  });
  const secret = built.secrets[0]!;
  const rotator = await startRotator(built.yaml, built.env, { codec: false });
  const recorded: Recorded[] = [];
  try {
    const dispatch = dispatchFor(built, rotator.client);
    const raised = Date.now();
    for (const [name, time] of [
      ['trigger-rotated', raised],
      ['trigger-joined', raised - 1000],
    ] as const) {
      const started = await dispatch({ source: 'ci', id: `${name}-${raised}`, type: 'rotator.rotate', resource: secret, time });
      if (started.status !== 'started') throw new Error(`${name}: ${started.status}`);
      const handle = rotator.client.workflow.getHandle(started.workflowId);
      await handle.result();
      const password = (await readStore(`test/${secret}`))?.data.password;
      recorded.push([name, await handle.fetchHistory(), password ? [String(password)] : []]);
    }
  } finally {
    await rotator.close();
  }
  return recorded;
}
