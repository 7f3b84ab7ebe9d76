// Rotations through the approval gate and the cancel update, for a fixture set: approved, expired, rejected, and a
// rotation cancelled by a person mid-way (rolled back). `tsx test/replay/record-approval.ts v<N>` records only these
// (into an existing set, on a private stack of its own); `npm run fixtures:record` records them with all the rest.
import { recorderMain, type Recorded } from './recorder';

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

if (require.main === module) recorderMain(__filename, ['temporal', 'vault', 'postgres'], recordApproval);
