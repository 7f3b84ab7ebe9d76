// Rotations by strategy issued (an aws-iam target on moto), for a fixture set: one that succeeds (through the grace
// period, the suspend and the withdraw of the old key) and one rolled back after a failed verify.
// `tsx test/replay/record-issued.ts v<N>` records only these (into an existing set, on a private stack of its own);
// `npm run fixtures:record` records them with all the rest.
import { recorderMain, type Recorded } from './recorder';

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

if (require.main === module) recorderMain(__filename, ['temporal', 'vault', 'moto'], recordIssued);
