// Rotations with consumers for a fixture set: two Deployments rolled out, and a failed rollout rolled back (on the
// stack's kube-apiserver, with the test's Deployment controller stand-in writing their status).
import type { temporal } from '@temporalio/proto';
import { startRotation } from '../../src/client/rotations';
import { unique } from '../support/harness';
import { rolloutScenario } from '../support/rollout-scenario';
import { startRotator } from '../support/rotator';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordRollout(): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  for (const [name, failing] of [
    ['rollout-succeeded', false],
    ['rollout-rolled-back', true],
  ] as const) {
    const s = await rolloutScenario(unique('record'));
    const rotator = await startRotator(s.yaml, s.env, { codec: false });
    try {
      if (failing) s.controller.set('worker', 'fail-once');
      const before = await s.current();
      const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, s.plan);
      await handle.result().catch(() => undefined);
      const after = await s.current();
      recorded.push([name, await handle.fetchHistory(), [String(before.value.password), String(after.value.password)]]);
    } finally {
      await rotator.close();
      await s.close();
    }
  }
  return recorded;
}
