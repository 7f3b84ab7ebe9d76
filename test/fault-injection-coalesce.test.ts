// The coalesced rollout under the fault-injection harness: three secrets of one Deployment rotated together, the real
// worker process SIGKILLed before and after each step of the requests and of the coordinator (real kube-apiserver,
// PostgreSQL, OpenBao; the Deployment controller is the stand-in of test/support/deployment-controller.ts). A fresh
// worker finishes; every rotation must succeed, each version must be restarted onto exactly once, the template must
// name all three, no rotation may verify before the rollout carrying its version completed, and the old logins go.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { restartAnnotationKey } from '../activities/consumers/rollout/rollouts';
import { followRotation, startRotation } from '../src/client/rotations';
import type { RotationStatus } from '../workflows/definitions';
import { coalesceScenario, WORKLOAD } from './support/coalesce-scenario';
import { type FaultHarness, faultTrial, killTable, type KillTrial, pool, startFaultHarness } from './support/fault-harness';
import { killPointName } from './support/fault-injection';
import { unique } from './support/harness';

const STEPS = ['requestRestarts', 'restartTogether', 'awaitWorkloadRollout'];
/**
 * `npm run chaos` (ROTATOR_KILL_POINTS=all): before and after each step. npm test: a sample, the two that test the
 * idempotence this harness is for (a request sent again, a restart made again); each trial costs a worker timeout.
 */
const ALL = STEPS.flatMap((a) => [`before:${a}#1`, `after:${a}#1`]);
const SAMPLE = ['after:requestRestarts#1', 'after:restartTogether#1'];
const POINTS = process.env.ROTATOR_KILL_POINTS === 'all' ? ALL : SAMPLE;
const CONCURRENCY = 3;

type Trial = KillTrial & { rollouts: number };

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const s = await coalesceScenario(taskQueue, { coalesce: '3s' });
  try {
    const before = await Promise.all(s.secrets.map((x) => s.current(x)));
    let handles: WorkflowHandle[] = [];
    return await faultTrial(
      harness,
      { yaml: s.yaml, env: s.env, taskQueue },
      killAt,
      async () => {
        handles = await Promise.all(s.secrets.map(async (x) => (await startRotation(harness.client, taskQueue, x.plan)).handle));
        return handles[0]!;
      },
      async (_handle, { killed, steps }) => {
        const statuses: RotationStatus[] = [];
        for (const h of handles) statuses.push((await followRotation(h)).status);
        const problems: string[] = [];
        const rollouts = s.controller.rolloutsOf(WORKLOAD);
        const template = (await s.deployment()).spec!.template.metadata!.annotations ?? {};
        for (const [i, secret] of s.secrets.entries()) {
          const st = statuses[i]!;
          const name = `secret ${i + 1}`;
          if (st.outcome !== 'succeeded') problems.push(`${name} ${st.outcome}: ${st.error?.message ?? ''}`);
          const key = restartAnnotationKey(secret.name);
          // Restarted onto its version exactly once: the rollouts where the annotation turned to it.
          const onto = rollouts.filter(
            (r, j) => r.annotations[key] === st.version && rollouts[j - 1]?.annotations[key] !== st.version,
          );
          if (onto.length !== 1) problems.push(`${name}: restarted onto its version ${onto.length} times`);
          if (template[key] !== st.version) problems.push(`${name}: the template names ${template[key]}, not ${st.version}`);
          // Never outran its readers: its verify started after the rollout carrying its version completed.
          const verify = st.phases.find((p) => p.name === 'verify');
          const done = onto[0]?.endedAt;
          if (!verify || done === undefined || verify.startedAt < done)
            problems.push(
              `${name}: verified before its rollout completed (verify began ${verify ? new Date(verify.startedAt).toISOString() : 'never'}, ` +
                `the rollout ended ${done === undefined ? `unrecorded (${onto.length} onto its version)` : new Date(done).toISOString()})`,
            );
          if (await s.logsIn(before[i]!.value)) problems.push(`${name}: the old login still works`);
          const now = await s.current(secret);
          if (!(await s.logsIn(now.value))) problems.push(`${name}: the current credential does not log in`);
        }
        const outcome = statuses.every((st) => st.outcome === 'succeeded')
          ? 'succeeded'
          : statuses.find((st) => st.outcome !== 'succeeded')!.outcome;
        return { killAt, killed, outcome, problems, steps, rollouts: rollouts.length };
      },
    );
  } finally {
    await s.close();
  }
}

describe('a worker process killed at a step of a coalesced rollout', () => {
  it(
    'three rotations sharing one Deployment end succeeded, each version restarted onto once, none verified before its rollout',
    async () => {
      const [clean, ...trials] = await pool([null, ...POINTS], CONCURRENCY, (p) => trial(p));

      const report = [
        killTable('rollout coalesce (3 secrets, 1 Deployment)', [clean!, ...trials]),
        '',
        `rollouts per trial: ${[clean!, ...trials].map((t) => `${t.killAt ?? 'clean'} ${t.rollouts}`).join(', ')}`,
      ].join('\n');
      const out = resolve(__dirname, '../.rotator');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'fault-injection-coalesce.md'), report + '\n');
      process.stderr.write(`\n${report}\n`);

      // How many rollouts a run takes depends on whether the three requests met within the window (a kill delays
      // some); what must hold in every run is in the checks: each version restarted onto once, none outrun.
      expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
      expect(clean!.steps.map(killPointName)).toEqual(expect.arrayContaining(ALL.filter((p) => p.startsWith('after:'))));

      expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
      expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
    },
    10 * 60_000,
  );
});
