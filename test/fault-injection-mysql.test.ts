// Kill the real worker process (SIGKILL) before and after every step of a MySQL rotation on the stack's MariaDB,
// start a fresh worker, and check that the rotation still ends in a state the store and the database agree on: for
// alternating-users (logins granted a role) and single-user. (MariaDB has no dual password: no row for it.)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { followRotation, startRotation } from '../src/client/rotations';
import {
  type FaultHarness,
  faultTrial,
  killPointsToRun,
  killTable,
  type KillTrial,
  pool,
  startFaultHarness,
} from './support/fault-harness';
import { killPointName } from './support/fault-injection';
import { unique } from './support/harness';
import { mysqlScenario, type MysqlStrategy } from './support/mysql-scenario';

const STRATEGIES: MysqlStrategy[] = ['alternating-users', 'single-user'];
/** In npm test, the steps that run SQL on MariaDB are killed (see killPointsToRun); `npm run chaos` kills every step. */
const OWN_STEPS = ['applyCredential', 'verifyCredential', 'waitForDrain', 'revokeLogin', 'disableLogin', 'restorePassword'];
/** Trials at once: each is mostly waiting for the server to hand a dead worker's task on. */
const CONCURRENCY = 6;

type Trial = KillTrial;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(strategy: MysqlStrategy, killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const scenario = await mysqlScenario(strategy, taskQueue);
  const before = await scenario.current();
  try {
    return await faultTrial(
      harness,
      { yaml: scenario.yaml, env: scenario.env, taskQueue },
      killAt,
      async () => (await startRotation(harness.client, taskQueue, scenario.plan)).handle,
      async (handle, { killed, steps }) => {
        const { status } = await followRotation(handle);
        return { killAt, killed, outcome: status.outcome, problems: await scenario.problems(status, before), steps };
      },
    );
  } finally {
    await scenario.close();
  }
}

function table(strategy: string, trials: Trial[]): string {
  return killTable(`mysql ${strategy}`, trials);
}

describe('a worker process killed at any step of a MySQL rotation', () => {
  for (const strategy of STRATEGIES) {
    it(
      `${strategy}: every kill point before and after each step ends succeeded, with store and MariaDB agreeing`,
      async () => {
        const clean = await trial(strategy, null);
        expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
        const points = clean.steps.flatMap((s) => [killPointName({ ...s, when: 'before' }), killPointName(s)]);
        expect(points.length).toBeGreaterThan(10);

        const trials = await pool(killPointsToRun(points, OWN_STEPS), CONCURRENCY, (p) => trial(strategy, p));
        const report = table(strategy, trials);
        const out = resolve(__dirname, '../.rotator');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, `fault-injection-mysql-${strategy}.md`), report + '\n');
        process.stderr.write(`\n${report}\n`);

        expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
        expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
      },
      15 * 60_000,
    );
  }
});
