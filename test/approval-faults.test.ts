// The approval gate under the fault-injection harness: a real worker process, SIGKILLed while the rotation waits for
// approval or just after it was approved; a fresh worker takes over and the decision holds.
import { decideRotation, followRotation, startRotation } from '../src/client/rotations';
import { faultTrial, startFaultHarness, type FaultHarness } from './support/fault-harness';
import { unique, untilPhase } from './support/harness';
import { scenarioFor } from './support/rotation-scenarios';
import { startRotator } from './support/rotator';

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

const GATED = ['approval: required', 'approval_timeout: 1h'];

describe('a worker killed around the approval gate', () => {
  it('killed while the rotation waits: a new worker picks it up, and the approval then runs it', async () => {
    const taskQueue = unique('tq');
    const scenario = await scenarioFor('alternating-users', taskQueue, GATED);
    const before = await scenario.current();
    const { worker: faulty } = harness.worker(scenario, taskQueue);
    let fresh;
    try {
      const { handle } = await startRotation(harness.client, taskQueue, scenario.plan, 'cli:test');
      await untilPhase(handle, 'approval');
      await faulty.kill();
      fresh = await startRotator(scenario.yaml, scenario.env, { keys: harness.keys });
      const gate = await decideRotation(harness.client, scenario.secret, 'approve', { by: 'dana' });
      expect(gate).toMatchObject({ decision: 'approved', by: 'dana' });
      const { ok, status } = await followRotation(handle);
      expect(ok).toBe(true);
      expect(status).toMatchObject({ outcome: 'succeeded', approval: { decision: 'approved', by: 'dana' } });
      expect(await scenario.problems(status, before)).toEqual([]);
    } finally {
      await faulty.kill();
      await fresh?.close();
      await scenario.close();
    }
  }, 120_000);

  it('killed right after the approval, before the first step: the next worker runs the approved rotation', async () => {
    const taskQueue = unique('tq');
    const scenario = await scenarioFor('alternating-users', taskQueue, GATED);
    const before = await scenario.current();
    // The update is accepted in the same workflow task that goes on to the first step, which the kill cuts off: the
    // server hands the approval to the next worker with that task, and only then does the decision return.
    let decided: Promise<unknown> = Promise.resolve();
    try {
      const result = await faultTrial(
        harness,
        { yaml: scenario.yaml, env: scenario.env, taskQueue },
        'before:inspect#1',
        async () => {
          const { handle } = await startRotation(harness.client, taskQueue, scenario.plan, 'cli:test');
          await untilPhase(handle, 'approval');
          decided = decideRotation(harness.client, scenario.secret, 'approve', { by: 'eve', reason: 'go' });
          decided.catch(() => undefined); // awaited below, once a worker is there to answer it
          return handle;
        },
        async (handle, trial) => ({ trial, ...(await followRotation(handle)) }),
      );
      expect(await decided).toMatchObject({ decision: 'approved', by: 'eve' });
      expect(result.trial.killed).toBe(true);
      expect(result.status).toMatchObject({ outcome: 'succeeded', approval: { decision: 'approved', by: 'eve', reason: 'go' } });
      expect(await scenario.problems(result.status, before)).toEqual([]);
    } finally {
      await scenario.close();
    }
  }, 120_000);
});
