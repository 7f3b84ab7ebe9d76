// Kill the real worker process (SIGKILL) before and after every step of an `http` target's rotation (the issued
// strategy through the example API-key service's hook), start a fresh worker, and check that the rotation still ends
// with the store and the service agreeing: a rotation that verifies ends succeeded, one whose verify the service
// refuses ends rolled back (the new key revoked, the old one stored and accepted).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { followRotation, startRotation } from '../src/client/rotations';
import type { Outcome } from '../workflows/definitions';
import { startApiKeyService, type ApiKeyService } from '../examples/api-key-service/service';
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
import { httpScenario } from './support/http-scenario';

/** In npm test, the steps that call the hook are killed (see killPointsToRun); `npm run chaos` kills every step. */
const OWN_STEPS = ['issueTargetCredential', 'verifyTargetCredential', 'withdrawTargetCredential'];
/** Trials at once: each is mostly waiting for the server to hand a dead worker's task on. */
const CONCURRENCY = 4;

type Path = 'verifies' | 'verify refused';

type Trial = KillTrial;

let harness: FaultHarness;
let service: ApiKeyService;
const signingKey = randomBytes(32).toString('base64url');
beforeAll(async () => {
  harness = await startFaultHarness();
  // One service for every trial: each has its own account, secret and task queue.
  service = await startApiKeyService({ signingKey });
});
afterAll(async () => {
  await harness?.close();
  await service?.close();
});

/** One rotation of a freshly seeded key with a worker process that kills itself at `killAt`. */
async function trial(path: Path, killAt: string | null): Promise<Trial> {
  const taskQueue = unique('tq');
  const scenario = await httpScenario(taskQueue, 1, { service, signingKey });
  const secret = scenario.secrets[0]!;
  if (path === 'verify refused') service.refuseVerifyOf.add(secret.account);
  const before = await secret.current();
  try {
    return await faultTrial(
      harness,
      { yaml: scenario.yaml, env: scenario.env, taskQueue },
      killAt,
      async () => (await startRotation(harness.client, taskQueue, secret.plan)).handle,
      async (handle, { killed, steps }) => {
        const { status } = await followRotation(handle);
        return { killAt, killed, outcome: status.outcome, problems: await secret.problems(status, before), steps };
      },
    );
  } finally {
    service.refuseVerifyOf.delete(secret.account);
    await scenario.close();
  }
}

function table(path: Path, trials: Trial[]): string {
  return killTable(`http (${path})`, trials);
}

describe('a worker process killed at any step of an http rotation', () => {
  const cases: Array<[Path, Outcome]> = [
    ['verifies', 'succeeded'],
    ['verify refused', 'rolled-back'],
  ];
  for (const [path, expected] of cases) {
    it(
      `${path}: every kill point before and after each step ends ${expected}, with store and service agreeing`,
      async () => {
        const started = Date.now();
        const clean = await trial(path, null);
        expect(clean).toMatchObject({ outcome: expected, problems: [] });
        const points = clean.steps.flatMap((s) => [killPointName({ ...s, when: 'before' }), killPointName(s)]);
        // A step that failed has no end in the trace: the refused verify is killed before it ran too.
        if (path === 'verify refused')
          points.splice(points.indexOf('before:rollbackStore#1'), 0, 'before:verifyTargetCredential#1');
        expect(points.length).toBeGreaterThan(6);

        const trials = await pool(killPointsToRun(points, OWN_STEPS), CONCURRENCY, (p) => trial(path, p));
        const report = table(path, trials);
        const out = resolve(__dirname, '../.rotator');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, `fault-injection-http-${path.replace(/ /g, '-')}.md`), report + '\n');
        process.stderr.write(`\n${report}\n${trials.length} kill points in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

        expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
        expect(trials.filter((t) => t.outcome !== expected || t.problems.length > 0)).toEqual([]);
      },
      15 * 60_000,
    );
  }
});
