// The approval gate end to end, through the CLI a person uses: real Temporal, real OpenBao, real PostgreSQL. A
// rotation with `approval: required` changes nothing until approved, runs once approved (the approver kept in its
// status), ends `rejected` or `expired` with nothing changed otherwise.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { EXIT } from '../src/cli/main';
import { closedStatus, followRotation } from '../src/client/rotations';
import { standings, type Standing } from '../src/client/standing';
import { workflowIdFor } from '../workflows/definitions';
import { cli } from './support/cli';
import { adminQuery, codecKeyEnv, testCodecKeys, unique, untilPhase } from './support/harness';
import { scenarioFor, type Scenario } from './support/rotation-scenarios';
import { startRotator, type Rotator } from './support/rotator';

const keys = testCodecKeys();
const saved = { ...process.env };
const dir = mkdtempSync(join(tmpdir(), 'rotator-approval-'));
const running: Array<{ rotator: Rotator; scenario: Scenario }> = [];

/** A seeded secret whose rotation needs approval, its worker, and its config written where the CLI reads it. */
async function gated(timeout: string): Promise<{ scenario: Scenario; rotator: Rotator; config: string }> {
  const scenario = await scenarioFor('alternating-users', unique('tq'), ['approval: required', `approval_timeout: ${timeout}`]);
  Object.assign(process.env, scenario.env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
  const rotator = await startRotator(scenario.yaml, scenario.env, { keys });
  running.push({ rotator, scenario });
  const config = join(dir, `${scenario.secret}.yaml`);
  writeFileSync(config, scenario.yaml, { mode: 0o600 });
  return { scenario, rotator, config };
}

/** Whether the login the rotation would create (`<role>_b`) exists in PostgreSQL at all. */
async function nextLoginExists(scenario: Scenario): Promise<boolean> {
  const rows = await adminQuery('select 1 from pg_roles where rolname = $1', [`${scenario.plan.login}_b`]);
  return rows.length > 0;
}

/** The secret's standing once visibility lists its closed rotation (visibility lags the close a little). */
async function standingOnceVisible(rotator: Rotator, secret: string): Promise<Standing> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = (await standings(rotator.client, 3_600_000, { only: new Set([secret]) })).get(secret);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`visibility never listed the closed rotation of ${secret}`);
    await new Promise((r) => setTimeout(r, 100)); // polling the server, not waiting for an event of ours
  }
}

afterAll(async () => {
  for (const { rotator, scenario } of running) {
    await rotator.close();
    await scenario.close();
  }
  process.env = saved;
});

describe('the approval settings', () => {
  it('are refused naming the field when wrong: an unknown mode, a timeout under a second', async () => {
    const scenario = await scenarioFor('alternating-users', unique('tq'));
    Object.assign(process.env, scenario.env);
    for (const [line, field, message] of [
      ['approval: maybe', 'approval', /expected one of|Invalid option/i],
      ['approval_timeout: 500ms', 'approval_timeout', /at least 1s/],
    ] as const) {
      const file = join(dir, `bad-${field}.yaml`);
      writeFileSync(file, scenario.yaml.replace('strategy: alternating-users', `strategy: alternating-users\n      ${line}`), {
        mode: 0o600,
      });
      const run = await cli('--json', 'validate', file);
      expect(run.code).toBe(EXIT.BAD_INPUT);
      const { error } = JSON.parse(run.out) as { error: { field: string; message: string } };
      expect(error.field).toBe(`secrets.${scenario.secret}.rotation.${field}`);
      expect(error.message).toMatch(message);
    }
  });
});

describe('a rotation that needs approval', () => {
  it('waits at the gate with the target untouched, then runs once approved and names the approver', async () => {
    const { scenario, rotator, config } = await gated('1h');
    const before = await scenario.current();
    const started = await cli('--config', config, 'rotate', scenario.secret);
    expect(started).toMatchObject({ code: EXIT.OK });
    expect(started.out).toMatch(/waits for approval \(rotator approve/);

    const handle: WorkflowHandle = rotator.client.workflow.getHandle(workflowIdFor(scenario.secret));
    const waiting = await untilPhase(handle, 'approval');
    expect(waiting).toMatchObject({ outcome: 'running', approval: { decision: 'pending', by: null } });
    // Nothing has changed: the same version, the old credential still the one that works, no second login made.
    expect((await scenario.current()).version).toBe(before.version);
    expect(await scenario.logsIn(before.value)).toBe(true);
    expect(await nextLoginExists(scenario)).toBe(false);
    const status = await cli('--config', config, 'status', scenario.secret);
    expect(status.out).toMatch(/running \(phase approval\)/);
    expect(status.out).toMatch(/approval {3}waiting until .*rotator approve/);

    const approved = await cli('--config', config, 'approve', scenario.secret, '--by', 'alice', '--reason', 'CHG-42');
    expect(approved).toMatchObject({ code: EXIT.OK });
    expect(approved.out).toMatch(/approved the rotation of .* as alice \(CHG-42\)/);

    const ended = await followRotation(handle);
    expect(ended.ok).toBe(true);
    expect(ended.status).toMatchObject({
      outcome: 'succeeded',
      approval: { decision: 'approved', by: 'alice', reason: 'CHG-42' },
    });
    expect(await scenario.problems(ended.status, before)).toEqual([]);
    expect((await cli('--config', config, 'status', scenario.secret)).out).toMatch(/approved by alice at .*: CHG-42/);
    // Once it has ended there is no gate to decide at.
    const late = await cli('--config', config, 'approve', scenario.secret);
    expect(late.code).toBe(EXIT.NOT_FOUND);
  }, 120_000);

  it('refuses a name or reason a terminal or a line reader would misread, before reading a config or asking Temporal', async () => {
    const cases: Array<[string[], string]> = [
      [['approve', 'orders_db', '--by', 'eve\u009b2J'], 'by'], // C1: an 8-bit terminal escape
      [['reject', 'orders_db', '--by', 'bob', '--reason', 'ok\u2028{"kind":"forged"}'], 'reason'], // a line separator
      [['cancel', 'orders_db', '--by', '\u202eevil'], 'by'], // a bidi override
      [['approve', 'orders_db', '--by', '   '], 'by'],
    ];
    for (const [args, field] of cases) {
      const run = await cli('--config', join(dir, 'no-such-config.yaml'), '--json', ...args);
      expect({ args, code: run.code }).toEqual({ args, code: EXIT.BAD_INPUT });
      expect(JSON.parse(run.out)).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', field } });
    }
  });

  it('ends rejected with nothing changed; a rejection without a reason is refused', async () => {
    const { scenario, rotator, config } = await gated('1h');
    const before = await scenario.current();
    expect((await cli('--config', config, 'rotate', scenario.secret)).code).toBe(EXIT.OK);
    const handle: WorkflowHandle = rotator.client.workflow.getHandle(workflowIdFor(scenario.secret));
    await untilPhase(handle, 'approval');

    const noReason = await cli('--config', config, 'reject', scenario.secret, '--by', 'bob');
    expect(noReason.code).toBe(EXIT.BAD_INPUT);
    const blank = await cli('--config', config, '--json', 'approve', scenario.secret, '--by', ' ');
    expect(blank.code).toBe(EXIT.BAD_INPUT);
    expect(JSON.parse(blank.out)).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', field: 'by' } });
    expect((await untilPhase(handle, 'approval')).approval?.decision).toBe('pending'); // still waiting

    const rejected = await cli('--config', config, 'reject', scenario.secret, '--by', 'bob', '--reason', 'sale freeze');
    expect(rejected).toMatchObject({ code: EXIT.OK });
    const ended = await closedStatus(handle);
    expect(ended).toMatchObject({
      ok: false,
      status: { outcome: 'rejected', error: null, approval: { decision: 'rejected', by: 'bob', reason: 'sale freeze' } },
    });
    expect((await handle.describe()).status.name).toBe('COMPLETED'); // a decision, not a failure
    expect(await scenario.current()).toEqual(before);
    expect(await scenario.logsIn(before.value)).toBe(true);
    expect(await nextLoginExists(scenario)).toBe(false);
    expect((await cli('--config', config, 'status', scenario.secret)).out).toMatch(
      /rejected by bob at .*: sale freeze; nothing was changed/,
    );
    // What the sweep and `rotator expiry` read: not a rotation (its outcome says rejected), and not a failure either.
    const standing = await standingOnceVisible(rotator, scenario.secret);
    expect(standing).toMatchObject({ lastOutcome: 'rejected', consecutiveFailures: 0 });
  }, 120_000);

  it('ends expired, cleanly and with nothing changed, when nobody answers within approval_timeout', async () => {
    const { scenario, rotator, config } = await gated('2s');
    const before = await scenario.current();
    const run = await cli('--config', config, 'rotate', scenario.secret, '--wait');
    expect(run.code).toBe(EXIT.ROTATION_FAILED); // it did not rotate
    expect(run.out).toMatch(/: expired/);
    expect(run.out).toMatch(/approval {3}expired at .*nobody approved it in time; nothing was changed/);
    const handle = rotator.client.workflow.getHandle(workflowIdFor(scenario.secret));
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    expect((await closedStatus(handle))?.status).toMatchObject({
      outcome: 'expired',
      error: null,
      approval: { decision: 'expired' },
    });
    expect(await scenario.current()).toEqual(before);
    expect(await nextLoginExists(scenario)).toBe(false);
  }, 120_000);
});
