// The sweep on real servers: it rotates exactly the secrets past max_age, within its concurrency and rate caps, and
// stops retrying a secret whose rotation keeps failing, reporting it as needing a human.
import { followRotation, startRotation } from '../src/client/rotations';
import { standings } from '../src/client/standing';
import { SWEEP, type SweepReport } from '../workflows/lifecycle-definitions';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/cli';
import { adminQuery, codecKeyEnv, configYaml, seedAdmin, testCodecKeys, testEnv, unique } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';

const RATE = { starts: 2, perMs: 3_000 };

describe('the sweep', () => {
  let rotator: Rotator;
  let configFile: string;
  const keys = testCodecKeys();
  const saved = { ...process.env };
  const names = {
    fresh1: unique('fresh'),
    fresh2: unique('fresh'),
    old1: unique('old'),
    old2: unique('old'),
    broken: unique('broken'),
  };
  beforeAll(async () => {
    const taskQueue = unique('sweep');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const yaml =
      configYaml(
        taskQueue,
        [
          { name: names.fresh1, role: unique('app'), extra: 'max_age: 30d' },
          { name: names.fresh2, role: unique('app'), extra: 'max_age: 30d' },
          // Past max_age as soon as they exist (and before: no current version at all).
          { name: names.old1, role: unique('app'), extra: 'max_age: 1ms' },
          { name: names.old2, role: unique('app'), extra: 'max_age: 1ms' },
          // single-user on a login that does not exist: every rotation fails.
          { name: names.broken, role: unique('nobody'), strategy: 'single-user', extra: 'max_age: 1ms' },
        ],
        adminPath,
      ) + `sweep:\n  max_concurrent: 1\n  rate: { starts: ${RATE.starts}, per: ${RATE.perMs}ms }\n`;
    rotator = await startRotator(yaml, testEnv(), { keys });
    configFile = join(mkdtempSync(join(tmpdir(), 'sweep-')), 'rotator.yaml');
    writeFileSync(configFile, yaml, { mode: 0o600 });
    Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    // The fresh ones were rotated just now: well inside their 30 days.
    for (const name of [names.fresh1, names.fresh2]) {
      const { handle } = await startRotation(rotator.client, taskQueue, rotator.plan(name));
      expect((await followRotation(handle)).ok).toBe(true);
    }
  });
  afterAll(async () => {
    process.env = saved;
    await rotator?.close();
  });

  const sweep = async (): Promise<SweepReport> =>
    rotator.client.workflow.execute(SWEEP, {
      taskQueue: rotator.config.temporal.task_queue,
      workflowId: unique('sweep'),
      args: [],
    });

  /** Visibility is eventually consistent: wait (bounded) until it shows `n` failures of the broken secret in a row. */
  async function failuresVisible(n: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (
      (await standings(rotator.client, 3_600_000, { only: new Set([names.broken]) })).get(names.broken)?.consecutiveFailures !== n
    ) {
      if (Date.now() > deadline) throw new Error(`visibility never showed ${n} failures of ${names.broken}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('rotates exactly the overdue secrets, one at a time and at most two per window, and reports needs-human after three failures', async () => {
    const first = await sweep();
    const mine = (r: SweepReport) => r.started.filter((s) => Object.values(names).includes(s.secret));
    expect(
      mine(first)
        .map((s) => s.secret)
        .sort(),
    ).toEqual([names.old1, names.old2, names.broken].sort());
    expect(Object.fromEntries(mine(first).map((s) => [s.secret, s.outcome]))).toMatchObject({
      [names.old1]: 'succeeded',
      [names.old2]: 'succeeded',
    });
    expect(mine(first).find((s) => s.secret === names.broken)!.outcome).not.toBe('succeeded');
    // The caps, from the workflow's own clock: never two running, never more than `starts` in any `per`.
    expect(first.peakConcurrent).toBe(1);
    const at = first.started.map((s) => s.at);
    for (let i = RATE.starts; i < at.length; i++) expect(at[i]! - at[i - RATE.starts]!).toBeGreaterThanOrEqual(RATE.perMs);
    expect(first.notOk.find((r) => r.secret === names.fresh1)).toBeUndefined();

    await failuresVisible(1);
    expect(mine(await sweep()).map((s) => s.secret)).toContain(names.broken);
    await failuresVisible(2);
    expect(mine(await sweep()).map((s) => s.secret)).toContain(names.broken);
    await failuresVisible(3);

    const last = await sweep();
    expect(mine(last).map((s) => s.secret)).not.toContain(names.broken);
    expect(last.notOk.find((r) => r.secret === names.broken)).toMatchObject({ state: 'needs-human' });
    expect(last.counts['needs-human']).toBeGreaterThanOrEqual(1);

    // `rotator expiry` says the same, for every secret.
    const run = await cli('-c', configFile, '--json', 'expiry');
    expect(run.code).toBe(0);
    const states = Object.fromEntries(
      (JSON.parse(run.out) as { secrets: Array<{ secret: string; state: string }> }).secrets.map((r) => [r.secret, r.state]),
    );
    expect(states).toMatchObject({ [names.broken]: 'needs-human', [names.fresh1]: 'ok', [names.fresh2]: 'ok' });
    expect(['due', 'overdue']).toContain(states[names.old1]);
    const human = await cli('-c', configFile, 'expiry');
    expect(human.out).toMatch(new RegExp(`${names.broken}\\s.*needs-human`));
  }, 120_000);

  it('knows a login that expires on its own: rotator sets VALID UNTIL from valid_for, and expiry reports it due', async () => {
    const taskQueue = unique('validfor');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const name = unique('db');
    const role = unique('app');
    const yaml = configYaml(taskQueue, [{ name, role, extra: 'max_age: 30d' }], adminPath).replace(
      `role: ${role}`,
      `role: ${role}\n      valid_for: 1h`,
    );
    const own = await startRotator(yaml, testEnv(), { keys });
    try {
      const { handle } = await startRotation(own.client, taskQueue, own.plan(name));
      const { status } = await followRotation(handle);
      expect(status).toMatchObject({ outcome: 'succeeded', error: null });
      const [row] = await adminQuery('select rolvaliduntil from pg_roles where rolname = $1', [status.username]);
      const until = (row!.rolvaliduntil as Date).getTime();
      expect(until).toBeGreaterThan(Date.now() + 30 * 60_000);
      expect(until).toBeLessThanOrEqual(Date.now() + 3_600_000);

      const file = join(mkdtempSync(join(tmpdir(), 'validfor-')), 'rotator.yaml');
      writeFileSync(file, yaml, { mode: 0o600 });
      const run = await cli('-c', file, '--json', 'expiry');
      const [entry] = (
        JSON.parse(run.out) as { secrets: Array<{ state: string; expires: number; reasons: string[] }> }
      ).secrets.filter((r) => (r as unknown as { secret: string }).secret === name);
      // Within the sweep's due_within (1 day by default) of the login's own end, long before max_age.
      expect(entry).toMatchObject({ state: 'due', expires: until });
      expect(entry!.reasons.join(' ')).toContain('login valid until');
    } finally {
      await own.close();
    }
  }, 60_000);
});
