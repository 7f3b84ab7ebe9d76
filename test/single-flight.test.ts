// Single-flight that does not rest on the workflow id: two rotateSecret executions of one secret under different
// ids (as a Temporal Schedule starts them) never both rotate it.
import { WorkflowFailedError } from '@temporalio/client';
import type { RotationStatus } from '../workflows/definitions';
import { queryStatus, ROTATION_TASK_TIMEOUT } from '../src/client/rotations';
import { unique } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { postgresScenario, type Scenario } from './support/rotation-scenarios';
import { ROTATE_SECRET } from '../workflows/definitions';

const TRIALS = 20;

describe('two rotations of one secret started together under different workflow ids', () => {
  let scenario: Scenario;
  let rotator: Rotator;
  beforeAll(async () => {
    const taskQueue = unique('tq');
    // A grace period keeps the winner's claim on the secret for a second, so the two really overlap.
    scenario = await postgresScenario('alternating-users', taskQueue, ['grace_period: 1s']);
    rotator = await startRotator(scenario.yaml, scenario.env);
  });
  afterAll(async () => {
    await rotator?.close();
    await scenario?.close();
  });

  async function run(workflowId: string): Promise<RotationStatus> {
    const handle = await rotator.client.workflow.start(ROTATE_SECRET, {
      taskQueue: rotator.config.temporal.task_queue,
      workflowId,
      args: [{ plan: scenario.plan }],
      workflowTaskTimeout: ROTATION_TASK_TIMEOUT,
    });
    try {
      return (await handle.result()) as RotationStatus;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      return queryStatus(handle);
    }
  }

  it(
    `lets exactly one rotate and ends the other with CONFLICT, having changed nothing, ${TRIALS} times in a row`,
    async () => {
      const results: string[] = [];
      for (let i = 0; i < TRIALS; i++) {
        const before = await scenario.current();
        const both = await Promise.all([run(unique(`rotate/${scenario.secret}/a`)), run(unique(`rotate/${scenario.secret}/b`))]);
        const winners = both.filter((s) => s.outcome === 'succeeded');
        const losers = both.filter((s) => s.outcome !== 'succeeded');
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(1);
        // "failed" means nothing had changed: no compensation was needed because nothing was written.
        expect(losers[0]).toMatchObject({ outcome: 'failed', error: { code: 'CONFLICT' } });
        expect(losers[0].phases.map((p) => p.name)).toEqual(['create']);
        expect(await scenario.problems(winners[0], before)).toEqual([]);
        expect(await scenario.logsIn((await scenario.current()).value)).toBe(true);
        results.push(losers[0].error!.message);
      }
      expect(results).toHaveLength(TRIALS);
    },
    5 * 60_000,
  );
});
