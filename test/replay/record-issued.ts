// Rotations by strategy issued (an aws-iam target on moto), for a fixture set: one that succeeds (through the grace
// period, the suspend and the withdraw of the old key) and one rolled back after a failed verify.
// `tsx test/replay/record-issued.ts v<N>` records only these (into an existing set, on a private stack of its own);
// `npm run fixtures:record` records them with all the rest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { startLocalStack } from '../../src/stack/local-stack';
import { FIXTURES, historyToFixture } from './fixtures';

type Recorded = [name: string, history: temporal.api.history.v1.IHistory, secrets: string[]];

export async function recordIssued(): Promise<Recorded[]> {
  // Loaded here: the test helpers read the stack file on first use, which the caller has just written.
  const { DeleteAccessKeyCommand } = await import('@aws-sdk/client-iam');
  const { closedStatus, startRotation } = await import('../../src/client/rotations');
  const { untilPhase } = await import('../support/harness');
  const { iamAdmin, startIamHarness, storedKey } = await import('../support/iam');
  const iam = iamAdmin();
  const recorded: Recorded[] = [];
  const h = await startIamHarness(iam, 2, {
    target: ['verify_timeout: 1s'],
    rotation: ['grace_period: 1s', 'reconnect: { wait: 2s }'],
    codec: false,
  });
  try {
    const secretsOf = async (p: string) => [String((await storedKey(p))?.value.SecretAccessKey)];
    for (const [i, name, expect] of [
      [0, 'issued-succeeded', 'succeeded'],
      [1, 'issued-rolled-back', 'rolled-back'],
    ] as const) {
      const s = h.secrets[i]!;
      const secrets = await secretsOf(s.path);
      const { handle } = await startRotation(h.client, h.taskQueue, h.plan(s.name), 'cli:record');
      if (expect === 'rolled-back') {
        // The new key deleted behind rotator's back while consumers have their wait: verify fails, the rotation rolls back.
        await untilPhase(handle, 'reconnect');
        secrets.push(...(await secretsOf(s.path)));
        const id = String((await storedKey(s.path))?.value.AccessKeyId);
        await iam.send(new DeleteAccessKeyCommand({ UserName: s.user, AccessKeyId: id }));
      }
      const outcome = (await closedStatus(handle))?.status.outcome;
      if (outcome !== expect) throw new Error(`${name}: ended ${outcome}, expected ${expect}`);
      secrets.push(...(await secretsOf(s.path)));
      recorded.push([name, await handle.fetchHistory(), secrets]);
    }
  } finally {
    await h.close();
    iam.destroy();
  }
  return recorded;
}

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^v\d+$/.test(set)) throw new Error('name a fixture set: tsx test/replay/record-issued.ts v<N>');
  fs.mkdirSync(path.join(FIXTURES, set), { recursive: true });
  const stack = await startLocalStack({ services: ['temporal', 'vault', 'moto'] });
  const info = path.join(os.tmpdir(), `rotator-record-${process.pid}.json`);
  try {
    const { stop: _stop, ...stackInfo } = stack;
    fs.writeFileSync(info, JSON.stringify(stackInfo), { mode: 0o600 });
    process.env.ROTATOR_TEST_STACK = info;
    for (const [name, history, secrets] of await recordIssued()) {
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
