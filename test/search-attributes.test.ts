// Rotator's search attributes on the real Temporal dev server (the local stack registers them at start): every
// rotation carries its secret, trigger and strategy from its start, and its outcome once it ends, so
// `temporal workflow list --query "RotatorOutcome='rolled-back'"` finds the rotations that were rolled back.
import { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { RotatorError } from '../src/kernel/errors';
import { followRotation, startRotation } from '../src/client/rotations';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { unique } from './support/harness';
import { scenarioFor, type Scenario } from './support/rotation-scenarios';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';
import { connectTemporal } from '../src/client/temporal';

/** Visibility is eventually consistent: lists until `query` finds the run, at most `waitMs`. */
async function listedBy(client: Client, query: string, runId: string, waitMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    for await (const wf of client.workflow.list({ query })) if (wf.runId === runId) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('search attributes of a rotation', () => {
  let scenario: Scenario;
  let rotator: Rotator;
  beforeAll(async () => {
    // A verify that cannot pass: the rotation is rolled back.
    scenario = await scenarioFor('alternating-users', unique('tq'), ['verify: { query: "select * from no_such_table" }']);
    rotator = await startRotator(scenario.yaml, scenario.env);
  });
  afterAll(async () => {
    await rotator?.close();
    await scenario?.close();
  });

  it("a rolled-back rotation is found by RotatorOutcome='rolled-back', with its secret, trigger and strategy", async () => {
    const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, scenario.plan, 'cli:sa-test');
    const { status } = await followRotation(handle);
    expect(status.outcome).toBe('rolled-back');
    const { runId, typedSearchAttributes } = await handle.describe();
    expect({
      secret: typedSearchAttributes.get(SEARCH_ATTRIBUTES.secret),
      outcome: typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome),
      trigger: typedSearchAttributes.get(SEARCH_ATTRIBUTES.trigger),
      strategy: typedSearchAttributes.get(SEARCH_ATTRIBUTES.strategy),
    }).toEqual({ secret: scenario.secret, outcome: 'rolled-back', trigger: 'cli:sa-test', strategy: 'alternating-users' });
    const secret = `RotatorSecret = '${scenario.secret}'`;
    expect(await listedBy(rotator.client, `RotatorOutcome = 'rolled-back' AND ${secret}`, runId)).toBe(true);
    // …and not by another outcome: the running value it started with was replaced.
    expect(await listedBy(rotator.client, `RotatorOutcome = 'running' AND ${secret}`, runId, 0)).toBe(false);
    expect(
      await listedBy(rotator.client, `RotatorStrategy = 'alternating-users' AND RotatorTrigger = 'cli:sa-test'`, runId),
    ).toBe(true);
  }, 120_000);

  it('a namespace without them refuses the start with an error that names the attribute and how to create it', async () => {
    const connection = await connectTemporal({ address: testStack().temporal!.address });
    const namespace = unique('bare');
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1d') });
      const client = new Client({ connection, namespace });
      let err: unknown;
      // A new namespace reaches every frontend cache within seconds: until then it is not found.
      for (let i = 0; i < 120; i++) {
        err = await startRotation(client, unique('tq'), scenario.plan).then(
          () => null,
          (e: unknown) => e,
        );
        const said = `${(err as Error)?.message} ${((err as Error)?.cause as Error | undefined)?.message}`;
        if (!/namespace .* not found|not found.*namespace/i.test(said)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(`${String(err)} ${String((err as Error)?.cause)}`).toMatch(/search attribute Rotator/);
      expect(err).toBeInstanceOf(RotatorError);
      expect((err as RotatorError).message).toMatch(
        /has no search attribute Rotator\w+, which rotations carry; create them once: temporal operator search-attribute create --namespace/,
      );
    } finally {
      await connection.close();
    }
  }, 60_000);
});
