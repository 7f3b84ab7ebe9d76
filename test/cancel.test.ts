// `rotator cancel` end to end: real Temporal, OpenBao, PostgreSQL. A cancel names who cancelled, rolls a rotation
// back (the old credential still works), and is refused where nothing can be rolled back any more.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/main';
import { startRotation } from '../src/client/rotations';
import { cli } from './support/cli';
import { codecKeyEnv, testCodecKeys, unique, untilPhase } from './support/harness';
import { scenarioFor, type Scenario, type ScenarioStrategy } from './support/rotation-scenarios';
import { startRotator, type Rotator } from './support/rotator';

const keys = testCodecKeys();
const saved = { ...process.env };
const dir = mkdtempSync(join(tmpdir(), 'rotator-cancel-'));
const running: Array<{ rotator: Rotator; scenario: Scenario }> = [];

/** A seeded secret whose rotation holds an hour in reconnect (a consumer's wait), its worker, its config file. */
async function held(strategy: ScenarioStrategy): Promise<{ scenario: Scenario; rotator: Rotator; config: string }> {
  const scenario = await scenarioFor(strategy, unique('tq'), ['reconnect: { wait: 1h }']);
  Object.assign(process.env, scenario.env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
  const rotator = await startRotator(scenario.yaml, scenario.env, { keys });
  running.push({ rotator, scenario });
  const config = join(dir, `${scenario.secret}.yaml`);
  writeFileSync(config, scenario.yaml, { mode: 0o600 });
  return { scenario, rotator, config };
}

afterAll(async () => {
  for (const { rotator, scenario } of running) {
    await rotator.close();
    await scenario.close();
  }
  process.env = saved;
});

describe('rotator cancel', () => {
  for (const strategy of ['alternating-users', 'dual-password'] as const) {
    it(`${strategy}: rolls a rotation back mid-way, says who cancelled it, and the old credential still works`, async () => {
      const { scenario, rotator, config } = await held(strategy);
      const before = await scenario.current();
      const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, scenario.plan, 'cli:test');
      await untilPhase(handle, 'reconnect'); // published, waiting for consumers: a change to undo
      expect((await scenario.current()).version).toBe(before.version + 1);

      const run = await cli('--config', config, 'cancel', scenario.secret, '--by', 'erin', '--reason', 'wrong window', '--wait');
      expect(run).toMatchObject({ code: EXIT.OK });
      expect(run.out).toMatch(/: rolled-back/);
      expect(run.out).toMatch(/cancelled {2}by erin at .*: wrong window/);
      expect(run.out).toMatch(/note: cancelled by erin: wrong window/);

      const shown = await cli('--config', config, '--json', 'status', scenario.secret);
      const ended = JSON.parse(shown.out);
      expect(ended).toMatchObject({
        outcome: 'rolled-back',
        cancel: { by: 'erin', reason: 'wrong window' },
        error: { code: 'CANCELLED', message: 'cancelled by erin: wrong window' },
      });
      expect(ended.notes).toContain('cancelled by erin: wrong window');
      expect(await scenario.problems(ended, before)).toEqual([]);
      expect(await scenario.logsIn(before.value)).toBe(true);
    }, 120_000);
  }

  it('refuses to cancel a rotation past its commit point, and names why; it goes on', async () => {
    // single-user publishes and commits before it reconnects: cancelling in reconnect could not roll anything back.
    const { scenario, rotator, config } = await held('single-user');
    const { handle } = await startRotation(rotator.client, rotator.config.temporal.task_queue, scenario.plan);
    await untilPhase(handle, 'reconnect');
    const run = await cli('--config', config, '--json', 'cancel', scenario.secret, '--by', 'erin');
    expect(run.code).toBe(EXIT.BAD_INPUT);
    expect(JSON.parse(run.out)).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT', message: expect.stringMatching(/past its commit point/) },
    });
    expect(await untilPhase(handle, 'reconnect')).toMatchObject({ outcome: 'running', cancel: null });
    await handle.terminate('test over: the rotation would wait an hour');
  }, 120_000);

  it('says so when there is no rotation to cancel', async () => {
    const { scenario, config } = await held('alternating-users');
    const run = await cli('--config', config, 'cancel', scenario.secret);
    // The code and the message together: a failure shows what the CLI said.
    expect({ code: run.code, err: run.err }).toEqual({
      code: EXIT.NOT_FOUND,
      err: expect.stringMatching(/no rotation of .* is running/),
    });
  }, 60_000);
});
