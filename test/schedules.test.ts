// Schedules on the real Temporal dev server: sync keeps rotator's own in line with the config, at the right times.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, ScheduleNotFoundError, type WorkflowExecutionInfo } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { EXIT } from '../src/cli/main';
import { applyScheduleSync, listSchedules, MANAGED_NOTE, planScheduleSync, type SchedulePlan } from '../src/client/schedules';
import { connectTemporal, dataConverterFromEnv } from '../src/client/temporal';
import { parseConfig } from '../src/config/load';
import type { Config } from '../src/config/schema';
import { RotatorError } from '../src/kernel/errors';
import {
  SCHEDULED_ROTATION,
  SWEEP,
  SWEEP_SCHEDULE_ID,
  scheduledWorkflowIdFor,
  scheduleIdFor,
} from '../workflows/lifecycle-definitions';
import { cli } from './support/cli';
import { codecKeyEnv, configYaml, testCodecKeys, testEnv, unique } from './support/harness';
import { testStack } from './support/stack';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** How long visibility (schedule and workflow listings) may lag behind before a test gives up. */
const VISIBILITY_PATIENCE_MS = 15_000;

/** `rotation.schedule:` per secret, as flow YAML; null: a secret that is rotatable but has no schedule. */
type Schedules = Record<string, string | null>;

interface Sandbox {
  namespace: string;
  client: Client;
  text(schedules: Schedules, more?: string): string;
  config(schedules: Schedules, more?: string): Config;
  /** The config written to a file, for the CLI. */
  file(schedules: Schedules, more?: string): string;
}

describe('rotator schedule', () => {
  const saved = { ...process.env };
  const taskQueue = unique('schedules');
  const namespaces: string[] = [];
  let connection: Connection;
  let dir: string;

  beforeAll(async () => {
    Object.assign(process.env, testEnv(), { ROTATOR_CODEC_KEY: codecKeyEnv(testCodecKeys()) });
    connection = await connectTemporal({ address: testStack().temporal!.address });
    dir = mkdtempSync(join(tmpdir(), 'rotator-schedules-'));
  });

  afterAll(async () => {
    for (const namespace of namespaces) {
      // Raw calls: a listing through a client decodes memos, and one test leaves a plaintext one behind.
      const { schedules } = await connection.workflowService.listSchedules({ namespace, maximumPageSize: 1000 });
      for (const { scheduleId } of schedules) await connection.workflowService.deleteSchedule({ namespace, scheduleId });
      const client = new Client({ connection, namespace, dataConverter: dataConverterFromEnv() });
      for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Running"' }))
        await client.workflow.getHandle(wf.workflowId, wf.runId).terminate('test cleanup');
    }
    await connection?.close();
    process.env = saved;
  });

  /**
   * A namespace of its own for each test: sync manages every rotator Schedule in its namespace, so tests sharing one
   * would delete each other's (and those of any other test file running at the same time).
   */
  async function sandbox(): Promise<Sandbox> {
    const namespace = unique('schedules').replace('_', '-');
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1d') });
    namespaces.push(namespace);
    const client = new Client({ connection, namespace, dataConverter: dataConverterFromEnv() });
    const text = (schedules: Schedules, more = '') =>
      configYaml(
        taskQueue,
        Object.entries(schedules).map(([name, schedule]) => ({
          name,
          role: name,
          ...(schedule ? { extra: `schedule: ${schedule}` } : {}),
        })),
        'test/pg-admin',
      ).replace('temporal:\n', `temporal:\n  namespace: ${namespace}\n`) + more;
    return {
      namespace,
      client,
      text,
      config: (schedules, more) => parseConfig(text(schedules, more), testEnv()),
      file(schedules, more) {
        const file = join(dir, `${unique('rotator')}.yaml`);
        writeFileSync(file, text(schedules, more), { mode: 0o600 });
        return file;
      },
    };
  }

  const secret = (prefix: string) => unique(prefix);
  const sorted = (...ids: string[]) => [...ids].sort();
  const describeSchedule = (client: Client, id: string) => client.schedule.getHandle(id).describe();

  async function sync(client: Client, config: Config): Promise<SchedulePlan> {
    return applyScheduleSync(client, config, await planScheduleSync(client, config));
  }

  const nothingToDo = (plan: SchedulePlan) => plan.create.length + plan.update.length + plan.delete.length === 0;

  /**
   * The plan once the schedule listing has caught up with what was applied (it is eventually consistent): when
   * `ready` says so, by default when nothing is left to do; the last plan made if the bound is hit first.
   */
  async function settledPlan(client: Client, config: Config, ready = nothingToDo): Promise<SchedulePlan> {
    const deadline = Date.now() + VISIBILITY_PATIENCE_MS;
    for (;;) {
      const plan = await planScheduleSync(client, config);
      if (ready(plan) || Date.now() > deadline) return plan;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** rotator's Schedules once the listing (eventually consistent: a deleted one still shows a moment) is empty. */
  async function listedOnceEmpty(client: Client): Promise<Awaited<ReturnType<typeof listSchedules>>> {
    const deadline = Date.now() + VISIBILITY_PATIENCE_MS;
    for (;;) {
      const listed = await listSchedules(client);
      if (listed.length === 0 || Date.now() > deadline) return listed;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Workflows matching `query`, once the listing shows at least `count` (or the bound is hit). */
  async function workflowsOnceListed(client: Client, query: string, count: number): Promise<WorkflowExecutionInfo[]> {
    const deadline = Date.now() + VISIBILITY_PATIENCE_MS;
    for (;;) {
      const found: WorkflowExecutionInfo[] = [];
      for await (const wf of client.workflow.list({ query })) found.push(wf);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("creates one Schedule per scheduled secret and the sweep's, and a second sync changes nothing", async () => {
    const { client, config } = await sandbox();
    const [a, b, plain] = [secret('a'), secret('b'), secret('plain')];
    const cfg = config({ [a]: '{ every: 1h }', [b]: '{ every: 2h, jitter: 5m }', [plain]: null }, 'sweep: { every: 30m }\n');
    const ids = sorted(scheduleIdFor(a), scheduleIdFor(b), SWEEP_SCHEDULE_ID);

    const plan = await planScheduleSync(client, cfg);
    expect(plan).toEqual({ create: ids, update: [], delete: [], unchanged: [] });
    expect(await applyScheduleSync(client, cfg, plan)).toEqual(plan);

    const rotation = await describeSchedule(client, scheduleIdFor(a));
    expect(rotation.memo).toEqual({ managedBy: 'rotator' });
    expect(rotation.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: SCHEDULED_ROTATION,
      workflowId: scheduledWorkflowIdFor(a),
      taskQueue,
      args: [{ secret: a, trigger: 'schedule' }],
      workflowTaskTimeout: 3000,
    });
    expect(rotation.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 10 * MINUTE });
    expect(rotation.state).toMatchObject({ paused: false, note: MANAGED_NOTE });
    expect(rotation.spec.intervals).toEqual([{ every: HOUR }]);
    const sweep = await describeSchedule(client, SWEEP_SCHEDULE_ID);
    expect(sweep.action).toMatchObject({ workflowType: SWEEP, workflowId: 'sweep', taskQueue, args: [] });
    expect(sweep.spec.intervals).toEqual([{ every: 30 * MINUTE }]);
    await expect(describeSchedule(client, scheduleIdFor(plain))).rejects.toBeInstanceOf(ScheduleNotFoundError);

    const second = await settledPlan(client, cfg);
    expect(second).toEqual({ create: [], update: [], delete: [], unchanged: ids });
    const before = await Promise.all(ids.map((id) => describeSchedule(client, id)));
    expect(await sync(client, cfg)).toEqual(second);
    const after = await Promise.all(ids.map((id) => describeSchedule(client, id)));
    expect(after.map((d) => d.info.lastUpdatedAt)).toEqual(before.map((d) => d.info.lastUpdatedAt));
  });

  it('updates exactly the Schedule whose every: changed, and deletes the Schedule of a secret taken out of the config', async () => {
    const { client, config } = await sandbox();
    const [a, b] = [secret('a'), secret('b')];
    const original = config({ [a]: '{ every: 1h }', [b]: '{ every: 1h }' });
    await sync(client, original);
    await settledPlan(client, original);
    const untouched = await describeSchedule(client, scheduleIdFor(a));

    const changed = config({ [a]: '{ every: 1h }', [b]: '{ every: 2h }' });
    const plan = await planScheduleSync(client, changed);
    expect(plan).toEqual({
      create: [],
      update: [{ id: scheduleIdFor(b), changed: ['spec'] }],
      delete: [],
      unchanged: [scheduleIdFor(a)],
    });
    expect(await applyScheduleSync(client, changed, plan)).toEqual(plan);
    expect((await describeSchedule(client, scheduleIdFor(b))).spec.intervals).toEqual([{ every: 2 * HOUR }]);
    expect((await describeSchedule(client, scheduleIdFor(a))).info.lastUpdatedAt).toEqual(untouched.info.lastUpdatedAt);

    await settledPlan(client, changed);
    const without = config({ [b]: '{ every: 2h }' });
    const removal = await planScheduleSync(client, without);
    expect(removal).toEqual({ create: [], update: [], delete: [scheduleIdFor(a)], unchanged: [scheduleIdFor(b)] });
    await applyScheduleSync(client, without, removal);
    await expect(describeSchedule(client, scheduleIdFor(a))).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect((await settledPlan(client, without)).delete).toEqual([]);
  });

  it('leaves Schedules it did not create alone, even under the rotator/ prefix, and refuses to take over one with its id', async () => {
    const { client, namespace, config } = await sandbox();
    const [mine, taken, bare] = [secret('mine'), secret('taken'), secret('bare')];
    const action = { type: 'startWorkflow', workflowType: 'someoneElses', taskQueue: 'elsewhere', args: [] } as const;
    const spec = { intervals: [{ every: 3 * HOUR }] };
    // No memo, under rotator's own id for `taken`, and one with a plaintext memo that rotator's codec cannot read.
    await client.schedule.create({ scheduleId: scheduleIdFor(bare), spec, action });
    await client.schedule.create({ scheduleId: scheduleIdFor(taken), spec, action });
    const plainClient = new Client({ connection, namespace });
    const otherId = `rotator/elsewhere-${unique('x')}`;
    await plainClient.schedule.create({ scheduleId: otherId, spec, action, memo: { managedBy: 'someone-else' } });
    const foreign = [scheduleIdFor(bare), scheduleIdFor(taken), otherId];
    const raw = () =>
      Promise.all(
        foreign.map(async (scheduleId) => {
          const { schedule, memo, conflictToken } = await connection.workflowService.describeSchedule({ namespace, scheduleId });
          return { schedule, memo, conflictToken };
        }),
      );
    const before = await raw();

    const cfg = config({ [mine]: '{ every: 1h }', [taken]: '{ every: 1h }' });
    const plan = await planScheduleSync(client, cfg);
    expect(plan).toEqual({ create: sorted(scheduleIdFor(mine), scheduleIdFor(taken)), update: [], delete: [], unchanged: [] });
    const failure = await applyScheduleSync(client, cfg, plan).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(RotatorError);
    expect(failure).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(scheduleIdFor(taken)) });
    expect((await describeSchedule(client, scheduleIdFor(mine))).memo).toEqual({ managedBy: 'rotator' });

    const emptied = config({ [mine]: null });
    const cleanup = await settledPlan(client, emptied, (p) => p.delete.length > 0);
    expect(cleanup).toEqual({ create: [], update: [], delete: [scheduleIdFor(mine)], unchanged: [] });
    await applyScheduleSync(client, emptied, cleanup);
    expect((await listedOnceEmpty(client)).map((r) => r.scheduleId)).toEqual([]);
    // As they were, conflict token included: no sync wrote to them.
    expect(await raw()).toEqual(before);
  });

  it('sync --dry-run prints the diff and changes nothing', async () => {
    const { client, config, file } = await sandbox();
    const [a, b] = [secret('a'), secret('b')];
    const first = file({ [a]: '{ every: 1h }', [b]: '{ every: 1h }' });

    const empty = await cli('--config', first, 'schedule', 'list');
    expect(empty).toMatchObject({ code: EXIT.OK, out: 'no rotator schedules (rotator schedule sync creates them)' });
    const dry = await cli('--config', first, 'schedule', 'sync', '--dry-run');
    expect(dry.code).toBe(EXIT.OK);
    expect(dry.out.split('\n')).toEqual([
      ...sorted(`+ ${scheduleIdFor(a)}`, `+ ${scheduleIdFor(b)}`),
      'dry run: 2 to create, 0 to update, 0 to delete, 0 unchanged; nothing changed',
    ]);
    expect(await listedOnceEmpty(client)).toEqual([]);

    const real = await cli('--config', first, 'schedule', 'sync');
    expect(real.out.split('\n').at(-1)).toBe('synced: 2 created, 0 updated, 0 deleted, 0 unchanged');
    await settledPlan(client, config({ [a]: '{ every: 1h }', [b]: '{ every: 1h }' }));
    const before = await listSchedules(client);

    const second = file({ [a]: '{ every: 2h }' });
    const diff = await cli('--config', second, 'schedule', 'sync', '--dry-run');
    expect(diff.out.split('\n')).toEqual([
      `~ ${scheduleIdFor(a)} (spec)`,
      `- ${scheduleIdFor(b)}`,
      'dry run: 0 to create, 1 to update, 1 to delete, 0 unchanged; nothing changed',
    ]);
    const json = await cli('--config', second, '--json', 'schedule', 'sync', '--dry-run');
    expect(JSON.parse(json.out)).toEqual({
      create: [],
      update: [{ id: scheduleIdFor(a), changed: ['spec'] }],
      delete: [scheduleIdFor(b)],
      unchanged: [],
      dryRun: true,
    });
    expect(await listSchedules(client)).toEqual(before);
    expect((await describeSchedule(client, scheduleIdFor(a))).spec.intervals).toEqual([{ every: HOUR }]);
  });

  it('runs every: 1h on the hour, counted from the epoch, and jitter: 10m puts each run within 10 minutes after it', async () => {
    const { client, config } = await sandbox();
    const [a, b] = [secret('a'), secret('b')];
    await sync(client, config({ [a]: '{ every: 1h }', [b]: '{ every: 1h, jitter: 10m }' }));

    const exact = (await describeSchedule(client, scheduleIdFor(a))).info.nextActionTimes.map((t) => t.getTime());
    expect(exact.length).toBeGreaterThan(1);
    expect(exact[0]).toBeGreaterThan(Date.now());
    for (const t of exact) expect(t % HOUR).toBe(0);
    for (let i = 1; i < exact.length; i++) expect(exact[i] - exact[i - 1]).toBe(HOUR);

    // The server (1.32) puts the jitter into nextActionTimes; each is its own draw, the same for a given schedule and hour.
    const jittered = (await describeSchedule(client, scheduleIdFor(b))).info.nextActionTimes.map((t) => t.getTime());
    const boundaries = jittered.map((t) => Math.floor(t / HOUR) * HOUR);
    for (const [i, t] of jittered.entries()) {
      expect(t - boundaries[i]).toBeGreaterThanOrEqual(0);
      expect(t - boundaries[i]).toBeLessThan(10 * MINUTE);
    }
    for (let i = 1; i < boundaries.length; i++) expect(boundaries[i] - boundaries[i - 1]).toBe(HOUR);
    expect(jittered.some((t) => t % HOUR !== 0)).toBe(true);
  });

  it('starts exactly the runs due when backfilled over three past hours, each scheduled on the hour', async () => {
    const { client, config } = await sandbox();
    const [a, skipping] = [secret('a'), secret('skip')];
    await sync(client, config({ [a]: '{ every: 1h }', [skipping]: '{ every: 1h }' }));
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    // Half-hour edges, so whether the range's ends are inclusive does not matter: three hours lie inside.
    const range = { start: new Date(hour - 3.5 * HOUR), end: new Date(hour - 0.5 * HOUR) };
    const due = [3, 2, 1].map((n) => new Date(hour - n * HOUR));

    // No worker runs here, so each started run stays open: ALLOW_ALL lets the three start side by side.
    await client.schedule.getHandle(scheduleIdFor(a)).backfill({ ...range, overlap: 'ALLOW_ALL' });
    const query = `TemporalScheduledById = '${scheduleIdFor(a)}'`;
    const runs = await workflowsOnceListed(client, query, due.length);
    const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
    expect(runs.map((r) => r.workflowId).sort()).toEqual(due.map((d) => `${scheduledWorkflowIdFor(a)}-${iso(d)}`));
    expect(runs.map((r) => (r.searchAttributes.TemporalScheduledStartTime as Date[])[0].getTime()).sort()).toEqual(
      due.map((d) => d.getTime()),
    );
    expect(runs.every((r) => r.type === SCHEDULED_ROTATION && r.taskQueue === taskQueue)).toBe(true);

    // The Schedule's own SKIP policy: the first run is still going when the next two are due, so they are skipped.
    const handle = client.schedule.getHandle(scheduleIdFor(skipping));
    await handle.backfill(range);
    const deadline = Date.now() + VISIBILITY_PATIENCE_MS;
    let info = (await handle.describe()).info;
    while (info.numActionsTaken + info.numActionsSkippedOverlap < due.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      info = (await handle.describe()).info;
    }
    expect({ taken: info.numActionsTaken, skipped: info.numActionsSkippedOverlap }).toEqual({ taken: 1, skipped: 2 });
    expect(info.recentActions.map((r) => r.scheduledAt)).toEqual([due[0]]);
  });

  it('creates a paused Schedule for paused: true, refuses to trigger it, and pauses and resumes through the CLI', async () => {
    const { client, config, file } = await sandbox();
    const [held, live] = [secret('held'), secret('live')];
    const schedules = { [held]: '{ every: 1h, paused: true }', [live]: '{ every: 1h }' };
    const cfgFile = file(schedules);
    expect((await cli('--config', cfgFile, 'schedule', 'sync')).code).toBe(EXIT.OK);
    expect((await describeSchedule(client, scheduleIdFor(held))).state).toMatchObject({ paused: true, note: MANAGED_NOTE });

    // Temporal would start a run of a paused Schedule; rotator does not.
    const refused = await cli('--config', cfgFile, 'schedule', 'trigger', held);
    expect(refused.code).toBe(EXIT.BAD_INPUT);
    expect(refused.err).toContain(`the schedule of ${held} is paused`);
    expect((await describeSchedule(client, scheduleIdFor(held))).info.recentActions).toEqual([]);

    const note = 'database migration until Friday';
    expect((await cli('--config', cfgFile, 'schedule', 'pause', live, '--note', note)).code).toBe(EXIT.OK);
    expect((await describeSchedule(client, scheduleIdFor(live))).state).toMatchObject({ paused: true, note });
    // The config did not change, so sync leaves the pause set by hand alone.
    expect(await settledPlan(client, config(schedules))).toMatchObject({
      update: [],
      unchanged: sorted(scheduleIdFor(held), scheduleIdFor(live)),
    });
    expect((await cli('--config', cfgFile, 'schedule', 'sync')).out).toBe('synced: 0 created, 0 updated, 0 deleted, 2 unchanged');
    expect((await describeSchedule(client, scheduleIdFor(live))).state).toMatchObject({ paused: true, note });

    expect((await cli('--config', cfgFile, 'schedule', 'resume', live)).code).toBe(EXIT.OK);
    expect((await describeSchedule(client, scheduleIdFor(live))).state).toMatchObject({ paused: false, note: MANAGED_NOTE });
    const triggered = await cli('--config', cfgFile, 'schedule', 'trigger', live);
    expect(triggered).toMatchObject({ code: EXIT.OK, out: `triggered ${scheduleIdFor(live)}` });
    const [run] = await workflowsOnceListed(client, `TemporalScheduledById = '${scheduleIdFor(live)}'`, 1);
    expect(run.workflowId.startsWith(`${scheduledWorkflowIdFor(live)}-`)).toBe(true);
    const again = await cli('--config', cfgFile, 'schedule', 'trigger', live);
    expect(again).toMatchObject({
      code: EXIT.ALREADY_RUNNING,
      out: `a scheduled run of ${live} is still going (workflow ${run.workflowId}); nothing was triggered`,
    });

    const listed = JSON.parse((await cli('--config', cfgFile, '--json', 'schedule', 'list')).out);
    expect(listed).toMatchObject([
      { secret: held, spec: 'every 1h', paused: true, lastAction: null },
      { secret: live, spec: 'every 1h', paused: false, lastAction: { workflowId: run.workflowId } },
    ]);
    const missing = await cli('--config', cfgFile, 'schedule', 'trigger', secret('nope'));
    expect(missing.code).toBe(EXIT.NOT_FOUND);
  });

  it('applies a change to paused: from the config, and keeps a pause set by hand when only the spec changes', async () => {
    const { client, config } = await sandbox();
    const [held, busy] = [secret('held'), secret('busy')];
    const original = config({ [held]: '{ every: 1h, paused: true }', [busy]: '{ every: 1h }' });
    await sync(client, original);
    await settledPlan(client, original);
    await client.schedule.getHandle(scheduleIdFor(busy)).pause('paused by hand');

    const changed = config({ [held]: '{ every: 1h }', [busy]: '{ every: 4h }' });
    const plan = await planScheduleSync(client, changed);
    expect(plan.update).toEqual([
      { id: scheduleIdFor(busy), changed: ['spec'] },
      { id: scheduleIdFor(held), changed: ['paused'] },
    ]);
    await applyScheduleSync(client, changed, plan);
    expect((await describeSchedule(client, scheduleIdFor(held))).state).toMatchObject({ paused: false, note: MANAGED_NOTE });
    const busySchedule = await describeSchedule(client, scheduleIdFor(busy));
    expect(busySchedule.spec.intervals).toEqual([{ every: 4 * HOUR }]);
    expect(busySchedule.state).toMatchObject({ paused: true, note: 'paused by hand' });
  });

  it("gives a cron schedule with a window the window's time zone", async () => {
    const { client, config } = await sandbox();
    const weekly = secret('weekly');
    const window = '{ start: "02:00", end: "05:00", time_zone: Europe/Berlin }';
    await sync(client, config({ [weekly]: `{ cron: "0 3 * * 1", window: ${window} }` }));

    const { spec, info } = await describeSchedule(client, scheduleIdFor(weekly));
    expect(spec.timezone).toBe('Europe/Berlin');
    const berlin = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Berlin',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
    expect(new Set(info.nextActionTimes.map((t) => berlin.format(t)))).toEqual(new Set(['Mon 03:00']));
    expect((await listSchedules(client)).map((r) => r.spec)).toEqual(['0 3 * * 1, in Europe/Berlin']);
  });
});
