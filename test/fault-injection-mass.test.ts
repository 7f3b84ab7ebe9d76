// Issue 24, item 3 under the kill harness: a mass rotation of 4 secrets under a write budget of 10/s, with the real
// worker process SIGKILLed at the mass run's own step (massPlan) and at store writes of its rotations; a fresh
// worker finishes the run. After each: every secret succeeded, each published exactly one version (no rotation ran
// twice), the store never saw more than the budget in any second, and the run's counts agree with the store.
// npm test kills a few points; ROTATOR_KILL_POINTS=all (npm run chaos) kills before and after every step of a run.
import { startMassRotation } from '../src/client/mass-rotations';
import { selectSecrets } from '../src/config/mass';
import { parseConfig } from '../src/config/load';
import type { Outcome } from '../workflows/definitions';
import type { MassResult } from '../workflows/mass-definitions';
import { faultTrial, killTable, pool, startFaultHarness, type FaultHarness, type KillTrial } from './support/fault-harness';
import { killPointName } from './support/fault-injection';
import { massScenario, writeLoad } from './support/mass-scenario';
import { testStack } from './support/stack';

jest.setTimeout(600_000);

const COUNT = 4;
const BUDGET = 10;
const CONCURRENCY = 3;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(killAt: string | null): Promise<KillTrial> {
  const s = await massScenario(testStack(), { count: COUNT, budget: BUDGET, maxConcurrent: 2 });
  const t0 = Date.now();
  try {
    return await faultTrial(
      harness,
      { yaml: s.yaml, env: s.env, taskQueue: s.taskQueue },
      killAt,
      async () => {
        const selection = selectSecrets(parseConfig(s.yaml, s.env).secrets, null);
        const started = await startMassRotation(harness.client, s.taskQueue, selection, {
          fresh: false,
          maxConcurrent: 2,
          requestedBy: 'fault-injection',
        });
        return started.handle;
      },
      async (handle, { killed, steps }) => {
        const problems: string[] = [];
        const result = (await handle.result().catch((err: Error) => {
          problems.push(`the run failed: ${err.message}`);
          return null;
        })) as MassResult | null;
        const versions = await s.versions();
        const notOne = Object.entries(versions).filter(([, v]) => v !== 1);
        if (notOne.length) problems.push(`versions not 1: ${notOne.map(([n, v]) => `${n}=${v}`).join(', ')}`);
        if (result && result.counts.succeeded !== COUNT) problems.push(`counts ${JSON.stringify(result.counts)}`);
        const load = writeLoad(s.proxy.log, t0);
        if (load.maxInAnySecond > BUDGET) problems.push(`${load.maxInAnySecond} writes in one second (budget ${BUDGET})`);
        const outcome: Outcome = result && result.counts.succeeded === COUNT ? 'succeeded' : 'failed';
        return { killAt, killed, outcome, problems, steps };
      },
    );
  } finally {
    await s.close();
  }
}

describe('a mass rotation with its worker process killed', () => {
  it('a clean run, and kills at the run’s own step and at store writes: every secret rotated once, budget kept', async () => {
    const clean = await trial(null);
    expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
    const names = clean.steps.map(killPointName);
    expect(names).toContain('after:massPlan#1');
    const all = clean.steps.flatMap((s) => [killPointName({ ...s, when: 'before' }), killPointName(s)]);
    // npm test: the run's own step at its first and a later secret, and a store write in the middle of the run.
    const promote = clean.steps.find((s) => /promote/i.test(s.activity) && s.n === 2);
    const sampled = [
      'before:massPlan#1',
      'after:massPlan#3',
      ...(promote ? [killPointName({ ...promote, when: 'before' })] : []),
    ];
    const points = process.env.ROTATOR_KILL_POINTS === 'all' ? all : sampled;
    const trials = await pool(points, CONCURRENCY, (p) => trial(p));
    process.stderr.write(`\n${killTable(`mass (${COUNT} secrets, budget ${BUDGET}/s)`, [clean, ...trials])}\n`);
    expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
    expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
  });
});
