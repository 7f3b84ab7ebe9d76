// The key rotation's recordings for a fixture set: a transit key rotation that succeeds (rotate, rewrap, grace,
// raise, verify) and one that fails before the raise (a configured path is missing) and so undoes nothing.
import type { temporal } from '@temporalio/proto';
import { startKeyRotation } from '../../src/client/key-rotations';
import { planKeyRotation } from '../../src/config/keys';
import { startRotator } from '../support/rotator';
import { transitScenario } from '../support/transit-scenario';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordTransit(): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  for (const [name, options] of [
    ['transit-succeeded', { graceMs: 1_000 }],
    ['transit-failed-before-raise', { missingPath: true }],
  ] as const) {
    const s = await transitScenario(50, options);
    const rotator = await startRotator(s.yaml, s.env, { codec: false });
    try {
      const { handle } = await startKeyRotation(
        rotator.client,
        rotator.config.temporal.task_queue,
        planKeyRotation(rotator.config, s.secret),
      );
      await handle.result().catch(() => undefined);
      // Neither a plaintext nor a ciphertext may be in history: the recorder refuses a history holding one.
      const values = [...s.plaintexts.flatMap((p) => Object.values(p)), ...s.original.flatMap((o) => Object.values(o))];
      recorded.push([name, await handle.fetchHistory(), values]);
    } finally {
      await rotator.close();
    }
  }
  return recorded;
}
