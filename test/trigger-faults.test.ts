// The trigger workflow under the fault-injection harness: a worker process killed at each step of an event's
// rotation; the next worker finishes it, the secret is rotated exactly once, and the event stays a duplicate.
import { workflowIdFor } from '../workflows/definitions';
import type { TriggerResult } from '../workflows/lifecycle-definitions';
import { faultTrial, pool, startFaultHarness, type FaultHarness } from './support/fault-harness';
import { readStore } from './support/harness';
import { dispatchFor, triggerConfig } from './support/trigger-config';

const KILL_POINTS = [
  'before:triggerSetup#1',
  'after:triggerSetup#1',
  'after:inspect#1',
  'after:promote#1',
  'after:verifyCredential#2',
  'after:discardPending#1',
];

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(killAt: string): Promise<string> {
  const built = await triggerConfig({
    secrets: 1,
    sources: ['    ci:', '      type: webhook', '      signing_key: 0123456789abcdef0123'],
    rules: (s) => [`- { source: ci, resource: ${s}, secret: ${s}, action: rotate }`],
  });
  const secret = built.secrets[0]!;
  const dispatch = dispatchFor(built, harness.client);
  const event = { source: 'ci', id: `evt-${killAt}`, type: 'rotator.rotate', resource: secret, time: Date.now() };
  return faultTrial(
    harness,
    built,
    killAt,
    async () => {
      const started = await dispatch(event);
      if (started.status !== 'started') throw new Error(`${killAt}: dispatch ${started.status}`);
      return harness.client.workflow.getHandle(started.workflowId);
    },
    async (handle, { killed }) => {
      const result = (await handle.result()) as TriggerResult;
      const runs = [];
      for await (const w of harness.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(secret)}'` })) runs.push(w);
      const again = await dispatch(event);
      const version = (await readStore(`test/${secret}`))?.version ?? 0;
      return `${killAt}: ${killed ? 'killed' : 'NOT REACHED'}, ${result.outcome}, ${runs.length} rotation(s), version ${version}, again ${again.status}`;
    },
  );
}

it(
  'a worker killed at each step of an event’s rotation: one rotation, succeeded, and the event stays a duplicate',
  async () => {
    const rows = await pool(KILL_POINTS, 3, trial);
    expect(rows).toEqual(KILL_POINTS.map((k) => `${k}: killed, succeeded, 1 rotation(s), version 1, again duplicate`));
  },
  10 * 60_000,
);
