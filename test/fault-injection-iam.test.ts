// Kill the real worker process (SIGKILL) before and after every step of an issued rotation of an IAM user's key
// (aws-iam on moto, keys in Vault), start a fresh worker, and check the end state: the store's key is the user's
// only key, Active, and signs as the user; the old key is gone after a success and the only one after a rollback; no
// key is left behind (an orphan from a step run twice) and no pending value.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { IAMClient } from '@aws-sdk/client-iam';
import { followRotation, startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import type { Outcome } from '../workflows/definitions';
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
import { readStore, unique } from './support/harness';
import { callerOf, iamAdmin, iamScenario, keysOf, storedKey, type Key } from './support/iam';

/** In npm test, the steps that call IAM or STS are killed (see killPointsToRun); `npm run chaos` kills every step. */
const OWN_STEPS = ['issueTargetCredential', 'verifyTargetCredential', 'suspendTargetCredential', 'withdrawTargetCredential'];
/** Trials at once: each is mostly waiting for the server to hand a dead worker's task on. */
const CONCURRENCY = 6;

type Trial = KillTrial;

let harness: FaultHarness;
let iam: IAMClient;
beforeAll(async () => {
  harness = await startFaultHarness();
  iam = iamAdmin();
});
afterAll(async () => {
  await harness?.close();
  iam?.destroy();
});

const keyOf = (value: Record<string, unknown> | undefined): Key => ({
  AccessKeyId: String(value?.AccessKeyId),
  SecretAccessKey: String(value?.SecretAccessKey),
});

/** What must hold once the rotation ended, whichever way: a list of what does not (empty: all holds). */
async function problems(user: string, path: string, old: Key, outcome: Outcome): Promise<string[]> {
  const found: string[] = [];
  const now = keyOf((await storedKey(path))?.value);
  const keys = await keysOf(iam, user);
  const listed = keys.map((k) => `${k.AccessKeyId} ${k.Status}`).join(', ');
  if (keys.length !== 1) found.push(`user has ${keys.length} keys (${listed}), expected 1`);
  if (keys[0]?.AccessKeyId !== now.AccessKeyId || keys[0]?.Status !== 'Active')
    found.push(`the stored key ${now.AccessKeyId} is not the user's one Active key (${listed})`);
  if (!(await callerOf(now))?.endsWith(`:user/${user}`)) found.push('the stored key does not sign as the user');
  if (outcome === 'succeeded' && now.AccessKeyId === old.AccessKeyId) found.push('succeeded but the store holds the old key');
  if (outcome === 'rolled-back' && now.AccessKeyId !== old.AccessKeyId) found.push('rolled back but the store holds a new key');
  if (await readStore(`rotator-pending/${path}`)) found.push('a pending value is left');
  return found;
}

/** One rotation of a fresh user's key with a worker process that kills itself at `killAt`; a fresh worker finishes it. */
async function trial(killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const scenario = await iamScenario(iam, 1, { taskQueue, rotation: ['grace_period: 0s'] });
  const { name, user, path } = scenario.secrets[0]!;
  const plan = planRotation(parseConfig(scenario.yaml, scenario.env), name);
  const old = keyOf((await storedKey(path))?.value);
  return faultTrial(
    harness,
    { yaml: scenario.yaml, env: scenario.env, taskQueue },
    killAt,
    async () => (await startRotation(harness.client, taskQueue, plan)).handle,
    async (handle, { killed, steps }) => {
      const { status } = await followRotation(handle);
      return { killAt, killed, outcome: status.outcome, problems: await problems(user, path, old, status.outcome), steps };
    },
  );
}

function table(trials: Trial[]): string {
  return killTable('issued (aws-iam)', trials);
}

describe('a worker process killed at any step of an issued rotation (aws-iam on moto)', () => {
  it(
    'every kill point before and after each step ends succeeded, the user holding only the stored key',
    async () => {
      const clean = await trial(null);
      expect(clean).toMatchObject({ outcome: 'succeeded', problems: [] });
      const points = clean.steps.flatMap((s) => [killPointName({ ...s, when: 'before' }), killPointName(s)]);
      expect(points.length).toBeGreaterThanOrEqual(12);

      // A kill in a regular activity (revoke's steps) waits out its 30 s start-to-close timeout before the server retries.
      const trials = await pool(killPointsToRun(points, OWN_STEPS), CONCURRENCY, async (p) => {
        const t = await trial(p);
        process.stderr.write(`${p}: ${t.outcome}${t.problems.length ? ` (${t.problems.join('; ')})` : ''}\n`);
        return t;
      });
      const report = table([clean, ...trials]);
      const out = resolve(__dirname, '../.rotator');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'fault-injection-iam.md'), report + '\n');
      process.stderr.write(`\n${report}\n`);

      expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
      expect(trials.filter((t) => t.outcome !== 'succeeded' || t.problems.length > 0)).toEqual([]);
    },
    15 * 60_000,
  );
});
