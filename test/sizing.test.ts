// docs/sizing.md's per-run counts, held against real histories on the dev server: a steady-state rotation (its
// numbers must match the doc's table exactly, so the doc cannot rot), a sweep that starts one rotation, and a lease
// keeper's renewals (each a run of its own). Prints the table it measured.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { followRotation, startRotation } from '../src/client/rotations';
import { workflowIdFor } from '../workflows/definitions';
import { KEEP_LEASE, keeperIdFor, keeperStatusQuery, SWEEP } from '../workflows/lifecycle-definitions';
import { costOf, costOfRun, costTable, type HistoryCost } from './bench/history-cost';
import { dynamicYaml } from './support/dynamic-config';
import { configYaml, seedAdmin, startHarness, testEnv, unique, type Harness } from './support/harness';
import { startRotator } from './support/rotator';
import { pgRole } from './support/vault-roles';

const DOC = path.resolve(__dirname, '../docs/sizing.md');

/** The doc's row for `run`: `| run | events | state transitions | workflow tasks | activities | actions |`. */
function documented(run: string): Pick<HistoryCost, 'events' | 'stateTransitions' | 'workflowTasks' | 'activities' | 'actions'> {
  const row = fs
    .readFileSync(DOC, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`| ${run} |`));
  if (!row) throw new Error(`docs/sizing.md has no row "| ${run} |"`);
  const [events, stateTransitions, workflowTasks, activities, actions] = row
    .split('|')
    .slice(2, 7)
    .map((c) => Number(c.trim()));
  return { events, stateTransitions, workflowTasks, activities, actions };
}

const measured: Array<[string, HistoryCost]> = [];
afterAll(() => process.stderr.write(`\n${costTable(measured)}\n`));

describe('what a rotation costs the cluster, counted from its history', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ strategy: 'alternating-users' }]);
  });
  afterAll(() => h?.close());

  it('a steady-state rotation (alternating-users, defaults) costs what docs/sizing.md says', async () => {
    const { name } = h.secrets[0];
    // The first rotation has nothing to revoke; the second is what every later one costs. A loaded machine can add a
    // workflow task (a timeout, a heartbeat of slow local activities): the doc counts an undisturbed one, so try again.
    let cost: HistoryCost | null = null;
    for (let i = 0; i < 5 && !(i >= 2 && cost?.disturbances === 0); i++) {
      const { handle } = await startRotation(h.client, h.taskQueue, h.plan(name));
      expect((await followRotation(handle)).status.outcome).toBe('succeeded');
      if (i >= 1) cost = await costOfRun(h.client, workflowIdFor(name));
    }
    if (!cost || cost.disturbances > 0) throw new Error('no undisturbed rotation in four tries: the machine is too loaded');
    measured.push(['rotation (steady state)', cost]);
    const { events, stateTransitions, workflowTasks, activities, actions } = cost;
    expect({ events, stateTransitions, workflowTasks, activities, actions }).toEqual(documented('one rotation'));
  });
});

describe('what the sweep and a lease keeper cost the cluster', () => {
  it('a sweep that finds one secret due: its own history, and the rotation it starts as a child', async () => {
    const taskQueue = unique('tq');
    const adminPath = `test/${unique('pg_admin')}`;
    await seedAdmin(adminPath);
    const due = unique('db');
    const yaml = configYaml(
      taskQueue,
      [
        { name: due, role: unique('app'), extra: 'max_age: 1ms\nschedule: { every: 1h }' },
        { name: unique('db'), role: unique('app'), extra: 'max_age: 30d\nschedule: { every: 30d }' },
      ],
      adminPath,
    );
    const rotator = await startRotator(yaml, testEnv());
    try {
      const handle = await rotator.client.workflow.start(SWEEP, { taskQueue, workflowId: unique('sweep'), args: [] });
      await handle.result();
      const sweep = await costOfRun(rotator.client, handle.workflowId);
      measured.push(['sweep (2 assessed, 1 due)', sweep]);
      // The child is the sweep's one rotation: a start from the sweep, then a rotation like any other.
      const child = await costOfRun(rotator.client, workflowIdFor(due));
      measured.push(['  its rotation (first, child)', child]);
      expect(sweep.activities).toBeGreaterThanOrEqual(1);
      expect(child.workflowTasks).toBeGreaterThanOrEqual(1);
    } finally {
      await rotator.close();
    }
  });

  it('a lease keeper: the cost of each renewal, a run of its own (run-per-cycle)', async () => {
    const role = await pgRole({ default_ttl: '4s', max_ttl: '1h' });
    const name = unique('dyn');
    const dyn = dynamicYaml(unique('tq'), [
      { name, role, engine: 'postgresql', lease: ['increment_seconds: 4', 'min_renewal_seconds: 1', 'renew_at: 0.5'] },
    ]);
    const keeper = await startRotator(dyn.yaml, dyn.env);
    try {
      const handle = await keeper.client.workflow.start(KEEP_LEASE, {
        taskQueue: keeper.config.temporal.task_queue,
        workflowId: keeperIdFor(name),
        args: [{ secret: name }],
      });
      // Six renewals: a loaded machine can add a workflow task to some of them (a disturbed run), and the doc counts
      // an undisturbed one.
      const deadline = Date.now() + 90_000;
      while (((await handle.query(keeperStatusQuery).catch(() => null))?.renewed ?? 0) < 6) {
        if (Date.now() > deadline) throw new Error('the keeper did not renew 6 times within 90 s');
        await new Promise((r) => setTimeout(r, 500));
      }
      await handle.terminate('measured');
      // The chain's ended runs: the first issues (an activity), each after it renews (max_ttl is an hour away).
      const runs: HistoryCost[] = [];
      for (let runId: string | undefined = handle.firstExecutionRunId; runId;) {
        const events: temporal.api.history.v1.IHistoryEvent[] =
          (await keeper.client.workflow.getHandle(handle.workflowId, runId).fetchHistory()).events ?? [];
        const next: string | undefined =
          events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
        if (next) {
          const { workflowExecutionInfo: info } = await keeper.client.workflowService.describeWorkflowExecution({
            namespace: keeper.client.options.namespace,
            execution: { workflowId: handle.workflowId, runId },
          });
          runs.push({
            ...costOf(events),
            stateTransitions: Number(info?.stateTransitionCount),
            historyBytes: Number(info?.historySizeBytes),
          });
        }
        runId = next;
      }
      const renewals = runs.slice(1).filter((r) => r.activities === 0 && r.disturbances === 0);
      if (renewals.length === 0) throw new Error('no undisturbed renewal run in six: the machine is too loaded');
      const mean = (k: keyof HistoryCost) => Math.round((renewals.reduce((a, r) => a + r[k], 0) / renewals.length) * 10) / 10;
      const cost = Object.fromEntries(
        Object.keys(renewals[0]!).map((k) => [k, mean(k as keyof HistoryCost)]),
      ) as unknown as HistoryCost;
      measured.push([`lease renewal (mean of ${renewals.length} runs)`, cost]);
      // Each renewal is one short run: what a keeper evicted from the cache replays when it wakes. It sleeps once until
      // the renewal is due, or not at all when its run started late, past that (CI under load once: 0 timers).
      for (const r of renewals) expect({ timers: r.timers <= 1, events: r.events <= 25 }).toEqual({ timers: true, events: true });
    } finally {
      await keeper.close();
    }
  });
});
