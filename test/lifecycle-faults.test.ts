// The sweep and the scheduled rotation under the fault-injection harness: the worker process is SIGKILLed before and
// after each of their own steps (assess, start a missing lease keeper, plan each rotation; read the setup), a fresh
// worker takes over, and every due secret is still rotated exactly once, the others not at all; the sweep's dynamic
// secret has exactly one keeper, which publishes a credential that logs in.
import { workflowIdFor } from '../workflows/definitions';
import {
  keeperIdFor,
  keeperStatusQuery,
  SCHEDULED_ROTATION,
  scheduledWorkflowIdFor,
  SWEEP,
  type ScheduledRotationResult,
  type SweepReport,
} from '../workflows/lifecycle-definitions';
import { dynamicSecretLines } from './support/dynamic-config';
import { pool, startFaultHarness, type FaultHarness } from './support/fault-harness';
import { killPointName, readTrace, stepsOf } from './support/fault-injection';
import { canLogin, configYaml, readStore, seedAdmin, testEnv, unique, vaultClient } from './support/harness';
import type { Scenario } from './support/rotation-scenarios';
import { startRotator, type Rotator } from './support/rotator';
import { pgLogin, pgRole } from './support/vault-roles';

const CONCURRENCY = 3;
/** The sweep's own steps; a kill inside a rotation it started is the rotation harness's business (fault-injection.test.ts). */
const OWN_STEPS = /^(assessSecrets|planFor|ensureKeeper|scheduledSetup)#/;
/** The sweep's dynamic secret: leases long enough that its keeper neither renews nor re-issues within a trial. */
const KEPT_TTL = { default_ttl: '120s', max_ttl: '240s' };

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
  // The sweep finds its keeper missing and starts it (ensureKeeper).
  const kept = kind === 'sweep' ? { name: unique('kept'), role: await pgRole(KEPT_TTL), engine: 'postgresql' as const } : null;
  const yaml = configYaml(
    taskQueue,
    [
      ...due.map((name) => ({ name, role: unique('app'), extra: 'max_age: 1ms\nschedule: { every: 1h }' })),
      { name: idle, role: unique('app') }, // no max_age, no schedule: nothing makes it due
    ],
    adminPath,
  ).replace('\nsecrets:\n', `\nsecrets:\n${kept ? dynamicSecretLines(kept, 'vault').join('\n') + '\n' : ''}`);
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
    if ('problems' in result && result.problems.length > 0) problems.push(`sweep report: ${result.problems.join('; ')}`);
    if (kept) problems.push(...(await keeperProblems(kept.name)));
    return { killAt, killed, problems, steps: stepsOf(readTrace(traceFile)).map(killPointName) };
  } finally {
    if (kept)
      await harness.client.workflow
        .getHandle(keeperIdFor(kept.name))
        .terminate('trial over')
        .catch(() => undefined);
    await faulty.kill();
    await fresh?.close();
  }
}

/** Exactly one keeper of `secret` runs (none ended or was started twice), and what it published logs in. */
async function keeperProblems(secret: string): Promise<string[]> {
  const handle = harness.client.workflow.getHandle(keeperIdFor(secret));
  const described = await handle.describe().catch(() => null);
  if (described?.status.name !== 'RUNNING') return [`${secret}'s keeper is ${described?.status.name ?? 'not there'}`];
  let state = await handle.query(keeperStatusQuery);
  for (const deadline = Date.now() + 30_000; !state.current && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
    state = await handle.query(keeperStatusQuery);
  }
  if (!state.current)
    return [`${secret}'s keeper published nothing (${state.phase}${state.lastError ? `: ${state.lastError}` : ''})`];
  // Every run of the chain before the running one continued as new (read after the wait above, so visibility has
  // caught up with the trial's runs): none was terminated, failed or ended otherwise.
  const ended: string[] = [];
  const query = `WorkflowId = '${keeperIdFor(secret)}' AND ExecutionStatus != 'ContinuedAsNew' AND ExecutionStatus != 'Running'`;
  for await (const run of harness.client.workflow.list({ query })) ended.push(run.status.name);
  if (ended.length > 0) return [`${secret}'s keeper runs that ended: ${ended.join(', ')}`];
  const stored = (await vaultClient().read(`secret/data/dynamic/${secret}`)) as { data: { data: Record<string, string> } };
  const { username, password } = stored.data.data;
  if (stored.data.data.lease_id !== state.current.leaseId) return [`${secret}: the store's lease is not the keeper's`];
  const login = await pgLogin(String(username), String(password));
  return login === 'ok' ? [] : [`${secret}: the published credential does not log in (${login})`];
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
        expect(points.length).toBeGreaterThanOrEqual(kind === 'sweep' ? 8 : 2);
        if (kind === 'sweep') expect(points).toEqual(expect.arrayContaining(['before:ensureKeeper#1', 'after:ensureKeeper#1']));
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
