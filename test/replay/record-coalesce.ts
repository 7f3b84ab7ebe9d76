// Coalesced rollouts for a fixture set: three secrets of one Deployment rotated together (one rotation's history,
// and its coordinator's), and one of three rolled back after a failed verify (the rolled-back rotation's history).
// `tsx test/replay/record-coalesce.ts v<N>` records only these (into a set, on a private stack of its own);
// `npm run fixtures:record` records them with all the rest.
import { recorderMain, type Recorded } from './recorder';

export async function recordCoalesce(): Promise<Recorded[]> {
  // Loaded here: the test helpers read the stack file on first use, which the caller has just written.
  const { startRotation } = await import('../../src/client/rotations');
  const { clusterOf } = await import('../../activities/consumers/rollout/coalesce');
  const { coordinatorIdFor } = await import('../../workflows/rollout-coordinator-definitions');
  const { unique } = await import('../support/harness');
  const { coalesceScenario, WORKLOAD } = await import('../support/coalesce-scenario');
  const { startRotator } = await import('../support/rotator');
  const recorded: Recorded[] = [];
  for (const failing of [false, true]) {
    const s = await coalesceScenario(unique('record'));
    const rotator = await startRotator(s.yaml, s.env, { codec: false });
    try {
      const passwords = async () => (await Promise.all(s.secrets.map((x) => s.current(x)))).map((c) => String(c.value.password));
      const secrets = await passwords();
      if (failing) s.controller.set(WORKLOAD, 'stall');
      const handles = await Promise.all(
        s.secrets.map(async (x) => (await startRotation(rotator.client, rotator.config.temporal.task_queue, x.plan)).handle),
      );
      if (failing) {
        await s.controller.until((r) => r.length === 1);
        await s.breakLogin(`${s.secrets[1].role}_b`);
        s.controller.release(WORKLOAD);
      }
      await Promise.all(handles.map((h) => h.result().catch(() => undefined)));
      secrets.push(...(await passwords()));
      const consumer = s.secrets[0].plan.consumers![0] as Parameters<typeof clusterOf>[0];
      const coordinator = rotator.client.workflow.getHandle(
        coordinatorIdFor(clusterOf(consumer), { kind: 'Deployment', namespace: s.namespace, name: WORKLOAD }),
      );
      if (failing) recorded.push(['coalesce-rotation-rolled-back', await handles[1].fetchHistory(), secrets]);
      else {
        recorded.push(['coalesce-rotation-succeeded', await handles[0].fetchHistory(), secrets]);
        // The coordinator ends once idle: its whole run, from the first request to the end.
        await coordinator.result();
        recorded.push(['coalesce-coordinator', await coordinator.fetchHistory(), secrets]);
      }
    } finally {
      await rotator.close();
      await s.close();
    }
  }
  return recorded;
}

if (require.main === module) recorderMain(__filename, ['temporal', 'vault', 'postgres', 'kubernetes'], recordCoalesce);
