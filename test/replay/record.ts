// npm run fixtures:record -- <set> — real rotations on a private stack, their histories saved as a new fixture set.
// Codec off on purpose: the fixtures are checked in, and history carries references only (test/history.test.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { startLocalStack } from '../../src/stack/local-stack';
import { FIXTURES, historyToFixture } from './fixtures';
import { writeFixtures } from './recorder';
import type { PhaseName, RotationStatus } from '../../workflows/definitions';
import { statusQuery } from '../../workflows/definitions';

interface Recording {
  name: string;
  strategy: 'alternating-users' | 'single-user' | 'dual-password';
  rotation: string[];
  expect: RotationStatus['outcome'];
  /** Cancel the rotation once it reaches this phase. */
  cancelAt?: PhaseName;
}

const FAILING_VERIFY = {
  'alternating-users': 'verify: { query: "select * from no_such_table" }',
  'single-user': 'verify: { query: "select * from no_such_table" }',
  'dual-password': 'verify: { query: "NOSUCHCOMMAND" }',
};

const RECORDINGS: Recording[] = (['alternating-users', 'single-user', 'dual-password'] as const).flatMap((strategy) => [
  { name: `${strategy}-succeeded`, strategy, rotation: ['grace_period: 1s'], expect: 'succeeded' as const },
  { name: `${strategy}-rolled-back`, strategy, rotation: [FAILING_VERIFY[strategy]], expect: 'rolled-back' as const },
  {
    name: `${strategy}-cancelled`,
    strategy,
    // single-user goes on past a cancel, through its reconnect wait: a short one.
    rotation: [strategy === 'single-user' ? 'reconnect: { wait: 3s }' : 'reconnect: { wait: 1h }'],
    // single-user is committed before it reconnects: past that point a cancel no longer interrupts it.
    expect: strategy === 'single-user' ? ('succeeded' as const) : ('rolled-back' as const),
    cancelAt: 'reconnect' as const,
  },
]);

async function main(): Promise<void> {
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres', 'redis', 'kubernetes', 'moto'] });
  const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    // Loaded after the stack file exists: the test helpers read it on first use.
    const { scenarioFor } = await import('../support/rotation-scenarios');
    const { startRotator } = await import('../support/rotator');
    const { unique, untilPhase } = await import('../support/harness');
    const { startRotation } = await import('../../src/client/rotations');
    const set = process.argv[2];
    if (!set || !/^v\d+$/.test(set)) throw new Error('name the new fixture set: npm run fixtures:record -- v<N>');
    const into = path.join(FIXTURES, set);
    fs.mkdirSync(into, { recursive: true });
    for (const r of RECORDINGS) {
      const scenario = await scenarioFor(r.strategy, unique('tq'), r.rotation);
      const rotator = await startRotator(scenario.yaml, scenario.env, { codec: false });
      try {
        const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, scenario.plan);
        if (r.cancelAt) {
          await untilPhase(handle, r.cancelAt);
          await handle.cancel();
        }
        const status = await handle.result().catch(async (err: unknown) => {
          if (!(err instanceof WorkflowFailedError)) throw err;
          return handle.query(statusQuery);
        });
        if (status.outcome !== r.expect) throw new Error(`${r.name}: ended ${status.outcome}, expected ${r.expect}`);
        const file = path.join(into, `${r.name}.json`);
        const json = historyToFixture(await handle.fetchHistory());
        const passwords = await scenario.passwords();
        const leaked = passwords.filter((p) => json.includes(p) || json.includes(Buffer.from(p).toString('base64')));
        if (leaked.length > 0) throw new Error(`${r.name}: the history holds a password; not writing it`);
        fs.writeFileSync(file, json.endsWith('\n') ? json : json + '\n');
        process.stdout.write(`recorded ${path.relative(process.cwd(), file)} (${status.outcome})\n`);
      } finally {
        await rotator.close();
        await scenario.close();
      }
    }
    const { recordApproval } = await import('./record-approval');
    const { recordLifecycle } = await import('./record-lifecycle');
    const { recordRollout } = await import('./record-rollout');
    const { recordTrigger } = await import('./record-trigger');
    const { recordTransit } = await import('./record-transit');
    const { recordIssued } = await import('./record-issued');
    const { recordCoalesce } = await import('./record-coalesce');
    const { recordMass } = await import('./record-mass');
    const more = [
      ...(await recordLifecycle()),
      ...(await recordRollout()),
      ...(await recordTrigger()),
      ...(await recordApproval()),
      ...(await recordTransit()),
      ...(await recordIssued()),
      ...(await recordCoalesce()),
      ...(await recordMass()),
    ];
    writeFixtures(into, more);
  } finally {
    fs.rmSync(info, { force: true });
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`record failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
