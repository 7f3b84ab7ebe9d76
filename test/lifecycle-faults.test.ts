// The sweep and the scheduled rotation under the fault-injection harness: the worker process is SIGKILLed before and
// after each of their own steps (assess, plan each rotation; read the setup), a fresh worker takes over, and every
// due secret is still rotated exactly once, the others not at all.
import { workflowIdFor } from '../workflows/definitions';
import {
  SCHEDULED_ROTATION,
  scheduledWorkflowIdFor,
  SWEEP,
  type ScheduledRotationResult,
  type SweepReport,
} from '../workflows/lifecycle-definitions';
import { pool, startFaultHarness, type FaultHarness } from './support/fault-harness';
import { killPointName, readTrace, stepsOf } from './support/fault-injection';
import { canLogin, configYaml, readStore, seedAdmin, testEnv, unique } from './support/harness';
import type { Scenario } from './support/rotation-scenarios';
import { startRotator, type Rotator } from './support/rotator';

const CONCURRENCY = 3;
/** The sweep's own steps; a kill inside a rotation it started is the rotation harness's business (fault-injection.test.ts). */
const OWN_STEPS = /^(assessSecrets|planFor|ensureKeeper|scheduledSetup)#/;

let harness: FaultHarness;
beforeAll(async () => {
  harness = await startFaultHarness();
});
afterAll(() => harness?.close());

interface Trial {
  killAt: string | null;
  killed: boolean;
  problems: string[];
  steps: string[];
}

async function runsOf(secret: string): Promise<number> {
  let n = 0;
  for await (const _ of harness.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(secret)}'` })) n++;
  return n;
}

type Kind = 'sweep' | 'scheduled';

async function trial(kind: Kind, killAt: string | null): Promise<Trial> {
  const taskQueue = unique('sweepfault');
  const adminPath = `test/${unique('pg_admin')}`;
  await seedAdmin(adminPath);
  const due = kind === 'sweep' ? [unique('due'), unique('due')] : [unique('due')];
  const idle = unique('idle');
  const yaml = configYaml(
    taskQueue,
    [
      ...due.map((name) => ({ name, role: unique('app'), extra: 'max_age: 1ms\nschedule: { every: 1h }' })),
      { name: idle, role: unique('app') }, // no max_age, no schedule: nothing makes it due
    ],
    adminPath,
  );
  const env = testEnv();
  const { worker: faulty, traceFile } = harness.worker({ yaml, env } as unknown as Scenario, taskQueue, killAt ? { killAt } : {});
  let fresh: Rotator | undefined;
  try {
    const handle =
      kind === 'sweep'
        ? await harness.client.workflow.start(SWEEP, {
            taskQueue,
            workflowId: unique('sweep'),
            args: [],
            workflowTaskTimeout: '3s',
          })
        : await harness.client.workflow.start(SCHEDULED_ROTATION, {
            taskQueue,
            workflowId: `${scheduledWorkflowIdFor(due[0]!)}-${unique('t')}`,
            args: [{ secret: due[0]! }],
            workflowTaskTimeout: '3s',
          });
    const ended = handle.result().then(
      () => 'ended' as const,
      () => 'ended' as const,
    );
    const first = await Promise.race([faulty.exited.then(() => 'exited' as const), ended]);
    const killed = readTrace(traceFile).some((e) => e.event === 'kill');
    if (first === 'exited') fresh = await startRotator(yaml, env, { keys: harness.keys });
    const result = (await handle.result()) as SweepReport | ScheduledRotationResult;
    const problems: string[] = [];
    const started = (
      'started' in result
        ? result.started.map((s) => `${s.secret}:${s.outcome}`)
        : result.attempts.map((a) => `${result.secret}:${a.outcome}`)
    ).sort();
    const expected = due.map((s) => `${s}:succeeded`).sort();
    if (JSON.stringify(started) !== JSON.stringify(expected)) problems.push(`started ${started.join(', ')}`);
    // Visibility lags a little behind the runs: wait (bounded) for the count to settle.
    for (const secret of due) {
      const deadline = Date.now() + 10_000;
      let n = 0;
      while ((n = await runsOf(secret)) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (n !== 1) problems.push(`${secret} rotated ${n} times`);
      const current = await readStore(`test/${secret}`);
      const value = current?.data as { username?: string; password?: string } | undefined;
      if (!value?.username || !(await canLogin(value.username, String(value.password))))
        problems.push(`${secret}: the published credential does not log in`);
    }
    if ((await runsOf(idle)) !== 0) problems.push(`${idle} was rotated though nothing made it due`);
    return { killAt, killed, problems, steps: stepsOf(readTrace(traceFile)).map(killPointName) };
  } finally {
    await faulty.kill();
    await fresh?.close();
  }
}

describe('a lifecycle workflow whose worker process is killed', () => {
  for (const [kind, what] of [
    ['sweep', 'a sweep'],
    ['scheduled', 'a scheduled rotation'],
  ] as const) {
    it(
      `${what}, killed before or after any of its steps, still rotates each due secret exactly once, and nothing else`,
      async () => {
        const clean = await trial(kind, null);
        expect(clean.problems).toEqual([]);
        const own = clean.steps.filter((s) => OWN_STEPS.test(s.replace(/^after:/, '')));
        const points = own.flatMap((p) => [p.replace(/^after:/, 'before:'), p]);
        expect(points.length).toBeGreaterThanOrEqual(kind === 'sweep' ? 6 : 2);
        const trials = await pool(points, CONCURRENCY, (p) => trial(kind, p));
        const report = trials.map(
          (t) => `| ${kind} | ${t.killAt} | ${t.killed ? 'killed' : 'NOT REACHED'} | ${t.problems.join('; ') || 'all hold'} |`,
        );
        process.stderr.write(`\n| workflow | kill point | worker | checks |\n|---|---|---|---|\n${report.join('\n')}\n`);
        expect(trials.filter((t) => !t.killed).map((t) => t.killAt)).toEqual([]);
        expect(trials.filter((t) => t.problems.length > 0)).toEqual([]);
      },
      10 * 60_000,
    );
  }
});
