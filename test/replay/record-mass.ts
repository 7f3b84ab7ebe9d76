// The mass rotation's recordings for a fixture set: a run of 3 secrets under a write budget (massRotation) and the
// budget that paced its writes (writeBudget; leases since v8, write-budget-grants before). Run alone: `tsx test/replay/record-mass.ts v<N>` (its own stack).
import { startMassRotation } from '../../src/client/mass-rotations';
import { selectSecrets } from '../../src/config/mass';
import { writeBudgetIdFor } from '../../workflows/mass-definitions';
import { recorderMain, type Recorded } from './recorder';

export async function recordMass(): Promise<Recorded[]> {
  const { massScenario } = await import('../support/mass-scenario');
  const { startRotator } = await import('../support/rotator');
  const { testStack } = await import('../support/stack');
  const s = await massScenario(testStack(), { count: 3, budget: 10 });
  const rotator = await startRotator(s.yaml, s.env, { codec: false });
  try {
    const selection = selectSecrets(rotator.config.secrets, null);
    const { handle } = await startMassRotation(rotator.client, s.taskQueue, selection, {
      fresh: false,
      maxConcurrent: 2,
      requestedBy: 'fixtures',
    });
    const result = await handle.result();
    if (result.counts.succeeded !== 3) throw new Error(`mass run ended ${JSON.stringify(result.counts)}`);
    const budget = rotator.client.workflow.getHandle(writeBudgetIdFor(s.taskQueue, 'kv'));
    return [
      ['mass-rotation-succeeded', await handle.fetchHistory(), []],
      ['write-budget-leases', await budget.fetchHistory(), []],
    ];
  } finally {
    await rotator.close();
    await s.close();
  }
}

if (require.main === module) recorderMain(__filename, ['temporal', 'vault', 'postgres'], recordMass);
