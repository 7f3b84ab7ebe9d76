// Rotations that take the lean-revoke branch, for a fixture set: alternating-users (the look for sessions local, the
// revoke regular, the release local) and dual-password (the password withdrawn, the release local), both through a
// grace period. `tsx test/replay/record-lean-revoke.ts v<N>` records them into that set on a private stack.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack } from '../../src/stack/local-stack';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

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

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^v\d+$/.test(set)) throw new Error('name a fixture set: tsx test/replay/record-lean-revoke.ts v<N>');
  fs.mkdirSync(path.join(FIXTURES, set), { recursive: true });
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres', 'redis'] });
  const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    for (const [name, history, secrets] of await recordLeanRevoke()) {
      const json = historyToFixture(history);
      if (secrets.some((p) => json.includes(p) || json.includes(Buffer.from(p).toString('base64'))))
        throw new Error(`${name}: the history holds a secret; not writing it`);
      const file = path.join(FIXTURES, set, `${name}.json`);
      fs.writeFileSync(file, json);
      process.stdout.write(`recorded ${path.relative(process.cwd(), file)}\n`);
    }
  } finally {
    fs.rmSync(info, { force: true });
    await stack.stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`record failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
