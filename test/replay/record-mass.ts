// The mass rotation's recordings for a fixture set: a run of 3 secrets under a write budget (massRotation) and the
// budget that paced its writes (writeBudget). Run alone: `tsx test/replay/record-mass.ts v<N>` (its own stack).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startMassRotation } from '../../src/client/mass-rotations';
import { selectSecrets } from '../../src/config/mass';
import { startLocalStack } from '../../src/stack/local-stack';
import { writeBudgetIdFor } from '../../workflows/mass-definitions';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

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
      ['write-budget-grants', await budget.fetchHistory(), []],
    ];
  } finally {
    await rotator.close();
    await s.close();
  }
}

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^v\d+$/.test(set)) throw new Error('name the fixture set: tsx test/replay/record-mass.ts v<N>');
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres'] });
  const info = path.join(os.tmpdir(), `rotator-record-mass-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    fs.mkdirSync(path.join(FIXTURES, set), { recursive: true });
    for (const [name, history] of await recordMass()) {
      const file = path.join(FIXTURES, set, `${name}.json`);
      fs.writeFileSync(file, historyToFixture(history));
      process.stdout.write(`recorded ${path.relative(process.cwd(), file)}\n`);
    }
  } finally {
    fs.rmSync(info, { force: true });
    await stack.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
