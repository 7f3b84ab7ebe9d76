// Rotations through the approval gate and the cancel update, for a fixture set: approved, expired, rejected, and a
// rotation cancelled by a person mid-way (rolled back). `tsx test/replay/record-approval.ts v<N>` records only these
// (into an existing set, on a private stack of its own); `npm run fixtures:record` records them with all the rest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack } from '../../src/stack/local-stack';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordApproval(): Promise<Recorded[]> {
  // Loaded here: the test helpers read the stack file on first use, which the caller has just written.
  const { closedStatus, decideRotation, cancelRotation, startRotation } = await import('../../src/client/rotations');
  const { unique, untilPhase } = await import('../support/harness');
  const { scenarioFor } = await import('../support/rotation-scenarios');
  const { startRotator } = await import('../support/rotator');
  const recorded: Recorded[] = [];
  const runs = [
    { name: 'approval-approved', rotation: ['approval: required'], act: 'approve', expect: 'succeeded' },
    { name: 'approval-rejected', rotation: ['approval: required'], act: 'reject', expect: 'rejected' },
    { name: 'approval-expired', rotation: ['approval: required', 'approval_timeout: 1s'], act: null, expect: 'expired' },
    { name: 'cancel-by-update', rotation: ['reconnect: { wait: 1h }'], act: 'cancel', expect: 'rolled-back' },
  ] as const;
  for (const r of runs) {
    const scenario = await scenarioFor('alternating-users', unique('record'), [...r.rotation]);
    const rotator = await startRotator(scenario.yaml, scenario.env, { codec: false });
    try {
      const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, scenario.plan, 'cli:record');
      if (r.act === 'approve' || r.act === 'reject') {
        await untilPhase(handle, 'approval');
        await decideRotation(rotator.client, scenario.secret, r.act, { by: 'recorder', reason: 'fixture' });
      } else if (r.act === 'cancel') {
        await untilPhase(handle, 'reconnect');
        await cancelRotation(rotator.client, scenario.secret, { by: 'recorder', reason: 'fixture' });
      }
      const outcome = (await closedStatus(handle))?.status.outcome;
      if (outcome !== r.expect) throw new Error(`${r.name}: ended ${outcome}, expected ${r.expect}`);
      recorded.push([r.name, await handle.fetchHistory(), await scenario.passwords()]);
    } finally {
      await rotator.close();
      await scenario.close();
    }
  }
  return recorded;
}

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^v\d+$/.test(set) || !fs.existsSync(path.join(FIXTURES, set)))
    throw new Error('name an existing fixture set: tsx test/replay/record-approval.ts v<N>');
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres'] });
  const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    for (const [name, history, secrets] of await recordApproval()) {
      const json = historyToFixture(history);
      if (secrets.some((p) => json.includes(p) || json.includes(Buffer.from(p).toString('base64'))))
        throw new Error(`${name}: the history holds a password; not writing it`);
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
