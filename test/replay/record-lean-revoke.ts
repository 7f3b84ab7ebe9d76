// Rotations that take the lean-revoke branch, for a fixture set: alternating-users (the look for sessions local, the
// revoke regular, the release local) and dual-password (the password withdrawn, the release local), both through a
// grace period. `tsx test/replay/record-lean-revoke.ts v<N>` records them into that set on a private stack.
import { recorderMain, type Recorded } from './recorder';

export async function recordLeanRevoke(): Promise<Recorded[]> {
  // Loaded here: the test helpers read the stack file on first use, which the caller has just written.
  const { scenarioFor } = await import('../support/rotation-scenarios');
  const { startRotator } = await import('../support/rotator');
  const { unique } = await import('../support/harness');
  const { followRotation, startRotation } = await import('../../src/client/rotations');
  const recorded: Recorded[] = [];
  for (const strategy of ['alternating-users', 'dual-password'] as const) {
    const scenario = await scenarioFor(strategy, unique('tq'), ['grace_period: 1s']);
    const rotator = await startRotator(scenario.yaml, scenario.env, { codec: false });
    try {
      const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, scenario.plan);
      const { status } = await followRotation(handle);
      if (status.outcome !== 'succeeded') throw new Error(`${strategy}: ended ${status.outcome}, expected succeeded`);
      // test/patches.unit.test.ts finds the lean-revoke marker in these, as the register says.
      recorded.push([`lean-revoke-${strategy}-succeeded`, await handle.fetchHistory(), await scenario.passwords()]);
    } finally {
      await rotator.close();
      await scenario.close();
    }
  }
  return recorded;
}

if (require.main === module) recorderMain(__filename, ['temporal', 'vault', 'postgres', 'redis'], recordLeanRevoke);
