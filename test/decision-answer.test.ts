// `rotator approve` whose answer was lost: the approval had already been taken, so the command says so and exits 0,
// instead of "Workflow Update failed" (exit 5) for a rotation that is running on its approval. Real Temporal, OpenBao,
// PostgreSQL and worker.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { EXIT } from '../src/cli/main';
import { workflowIdFor } from '../workflows/definitions';
import { cli } from './support/cli';
import { codecKeyEnv, testCodecKeys, unique, untilPhase } from './support/harness';
import { scenarioFor } from './support/rotation-scenarios';
import { startRotator } from './support/rotator';

const keys = testCodecKeys();
const saved = { ...process.env };
afterAll(() => {
  process.env = saved;
});

it('an approval sent again after its answer was lost reports the approval the rotation shows; another person is still refused', async () => {
  // The grace period keeps the approved rotation running, as a lost answer finds it.
  const scenario = await scenarioFor('alternating-users', unique('tq'), [
    'approval: required',
    'approval_timeout: 1h',
    'grace_period: 10m',
  ]);
  Object.assign(process.env, scenario.env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
  const rotator = await startRotator(scenario.yaml, scenario.env, { keys });
  const config = join(mkdtempSync(join(tmpdir(), 'rotator-decision-')), 'rotator.yaml');
  writeFileSync(config, scenario.yaml, { mode: 0o600 });
  const handle: WorkflowHandle = rotator.client.workflow.getHandle(workflowIdFor(scenario.secret));
  try {
    expect(await cli('--config', config, 'rotate', scenario.secret)).toMatchObject({ code: EXIT.OK });
    await untilPhase(handle, 'approval');
    expect(await cli('--config', config, 'approve', scenario.secret, '--by', 'alice')).toMatchObject({ code: EXIT.OK });
    await untilPhase(handle, 'revoke');

    // The same decision again (what a person does after "Workflow Update failed"): it is the rotation's already.
    const again = await cli('--config', config, 'approve', scenario.secret, '--by', 'alice');
    expect(again.err).toBe('');
    expect(again.code).toBe(EXIT.OK);
    expect(again.out).toMatch(/^approved the rotation of \S+ as alice; it runs now/);
    expect(again.out).toMatch(/note: the rotation shows this decision \(it was taken before\); it is not taken twice/);

    // Someone else's decision is not this one: refused, naming who decided.
    const other = await cli('--config', config, 'approve', scenario.secret, '--by', 'bob');
    expect(other.code).not.toBe(EXIT.OK);
    expect(other.err).toMatch(/not waiting for approval: it was approved by alice/);
  } finally {
    await handle.terminate('test over').catch(() => undefined);
    await rotator.close();
    await scenario.close();
  }
}, 120_000);
