// The sops store under the fault-injection harness (issue 25, must-show 4): a single-user rotation of a secret kept in
// a SOPS file in git, with the real worker process SIGKILLed before and after every step that touches the store; a
// fresh worker finishes it, and the file, the repository and the database must agree: one commit on the branch, the
// new value and the previous one in the file, every other key and comment as before, no pending ref left, no password
// in git in the clear.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { followRotation, startRotation } from '../src/client/rotations';
import { type FaultHarness, faultTrial, killTable, type KillTrial, pool, startFaultHarness } from './support/fault-harness';
import { killPointName } from './support/fault-injection';
import { unique } from './support/harness';
import { sopsScenario } from './support/sops-scenario';

/**
 * The steps that read or write the store (the target's own steps, applyCredential and verifyCredential, only read
 * the pending value here and are killed for PostgreSQL single-user in test/fault-injection.test.ts): every kill
 * point before and after the first run of each of them (the clean run shows each ran; a step may run again on a loaded
 * machine when a workflow task times out, which is the same step again).
 */
const STORE_STEPS = ['inspect', 'stageCredential', 'promote', 'discardPending'];
const CONCURRENCY = 4;
const POINTS = STORE_STEPS.flatMap((a) => [`before:${a}#1`, `after:${a}#1`]);

type Trial = KillTrial;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

async function trial(killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const s = await sopsScenario(taskQueue);
  const before = { commits: s.repo.commits().length, value: s.value() };
  try {
    return await faultTrial(
      harness,
      { yaml: s.yaml, env: s.env, taskQueue },
      killAt,
      async () => (await startRotation(harness.client, taskQueue, s.plan)).handle,
      async (handle, { killed, steps }) => {
        const { status } = await followRotation(handle);
        return { killAt, killed, outcome: status.outcome, problems: await s.problems(status, before), steps };
      },
    );
  } finally {
    s.repo.cleanup();
  }
}

function table(trials: Trial[]): string {
  return killTable('sops (single-user)', trials);
}

describe('a worker process killed at any step of a SOPS rotation', () => {
  it(
    'every kill point before and after each step ends succeeded, with the file, the repository and the database agreeing',
    async () => {
      // The clean run beside the kills, CONCURRENCY at a time: each mostly waits for the server to hand a dead
      // worker's task on (more at once starve PostgreSQL's connections on a loaded 2-core machine).
      const [clean, ...trials] = await pool([null, ...POINTS], CONCURRENCY, (p) => trial(p));
      expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
      expect(clean!.steps.map(killPointName)).toEqual(expect.arrayContaining(POINTS.filter((p) => p.startsWith('after:'))));

      const report = table(trials);
      const out = resolve(__dirname, '../.rotator');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'fault-injection-sops.md'), report + '\n');
      process.stderr.write(`\n${report}\n`);

      expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
      expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
    },
    10 * 60_000,
  );
});
