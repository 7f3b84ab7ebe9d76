// `rotator schedule`: keep the Temporal Schedules in line with the config, list them, pause, resume or trigger one.
import { Command } from 'commander';
import type { SchedulePlan } from '../../client/schedules';
import { EXIT, ExitError, secretName, type CliContext } from '../context';

const TARGET = 'secret name, or sweep for the sweep';

export function scheduleCommand(ctx: CliContext): Command {
  // Subcommands made with .command() copy these two settings from their parent, and main.ts sets them too late.
  const schedule = new Command('schedule')
    .description('the Temporal Schedules that start scheduled rotations and the sweep')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s.trimEnd()), writeErr: (s) => ctx.io.err(s.trimEnd()) });

  schedule
    .command('sync')
    .description('create, update and delete Schedules to match the config; touches no Schedule rotator did not create')
    .option('--dry-run', 'print what would change, change nothing', false)
    .action(async (opts: { dryRun: boolean }) => {
      const config = await ctx.config();
      const { applyScheduleSync, planScheduleSync } = await import('../../client/schedules');
      await ctx.withClient(config, async (client) => {
        const plan = await planScheduleSync(client, config);
        if (opts.dryRun)
          return ctx.emit(report(formatPlan(plan), `dry run: ${counts(plan)}; nothing changed`), { ...plan, dryRun: true });
        const done = await applyScheduleSync(client, config, plan);
        // Dynamic secrets have a keeper instead of a Schedule: sync starts those that are not running.
        const { ensureKeepers } = await import('../../client/lease-keepers');
        const keepers = await ensureKeepers(client, config);
        const keeperLines = keepers.started.map((s) => `+ keeper of ${s}`);
        ctx.emit(
          report(
            [...formatPlan(done), ...keeperLines],
            `synced: ${counts(done, true)}${keepers.started.length + keepers.running.length > 0 ? `; keepers started: ${keepers.started.length}` : ''}${paced(keepers.lastStartsAt)}`,
          ),
          {
            ...done,
            keepers,
            dryRun: false,
          },
        );
      });
    });

  schedule
    .command('list')
    .description("rotator's Schedules: what they run, when next, the last run")
    .action(async () => {
      const config = await ctx.config();
      const { listSchedules } = await import('../../client/schedules');
      await ctx.withClient(config, async (client) => {
        const rows = await listSchedules(client);
        const lines = rows.map((r) => {
          const next = r.paused ? 'paused' : `next ${r.nextActionTimes[0]?.toISOString() ?? '(none)'}`;
          const last = r.lastAction ? `last ${r.lastAction.scheduledAt.toISOString()} (${r.lastAction.workflowId})` : 'never run';
          return `${r.secret.padEnd(24)} ${r.spec.padEnd(28)} ${next}  ${last}${r.note ? `\n${''.padEnd(25)}note: ${r.note}` : ''}`;
        });
        ctx.emit(lines.join('\n') || 'no rotator schedules (rotator schedule sync creates them)', rows);
      });
    });

  schedule
    .command('pause')
    .description('stop a Schedule from starting runs until resumed (sync leaves the pause alone)')
    .argument('<secret>', TARGET, secretName)
    .option('--note <text>', 'why, for whoever looks next')
    .action(async (secret: string, opts: { note?: string }) => {
      const config = await ctx.config();
      const { pauseSchedule } = await import('../../client/schedules');
      await ctx.withClient(config, (client) => pauseSchedule(client, secret, opts.note));
      ctx.emit(`paused the schedule of ${secret}`, { secret, paused: true });
    });

  schedule
    .command('resume')
    .description('let a paused Schedule start runs again')
    .argument('<secret>', TARGET, secretName)
    .option('--note <text>', 'replaces the pause note')
    .action(async (secret: string, opts: { note?: string }) => {
      const config = await ctx.config();
      const { resumeSchedule } = await import('../../client/schedules');
      await ctx.withClient(config, (client) => resumeSchedule(client, secret, opts.note));
      ctx.emit(`resumed the schedule of ${secret}`, { secret, paused: false });
    });

  schedule
    .command('trigger')
    .description('start the scheduled run now (refused while paused, or while a run is going)')
    .argument('<secret>', TARGET, secretName)
    .action(async (secret: string) => {
      const config = await ctx.config();
      const { triggerSchedule } = await import('../../client/schedules');
      const { scheduleId, alreadyRunning } = await ctx.withClient(config, (client) => triggerSchedule(client, secret));
      if (alreadyRunning) {
        const msg = `a scheduled run of ${secret} is still going (workflow ${alreadyRunning}); nothing was triggered`;
        ctx.emit(msg, { ok: false, secret, scheduleId, triggered: false, error: { code: 'ALREADY_RUNNING', message: msg } });
        throw new ExitError(EXIT.ALREADY_RUNNING, '');
      }
      ctx.emit(`triggered ${scheduleId}`, { secret, scheduleId, triggered: true });
    });

  return schedule;
}

function formatPlan(plan: SchedulePlan): string[] {
  return [
    ...plan.create.map((id) => `+ ${id}`),
    ...plan.update.map((u) => `~ ${u.id} (${u.changed.join(', ')})`),
    ...plan.delete.map((id) => `- ${id}`),
  ];
}

const report = (diff: string[], summary: string) => [...diff, summary].join('\n');

function counts(plan: SchedulePlan, done = false): string {
  const [c, u, d] = done ? ['created', 'updated', 'deleted'] : ['to create', 'to update', 'to delete'];
  return `${plan.create.length} ${c}, ${plan.update.length} ${u}, ${plan.delete.length} ${d}, ${plan.unchanged.length} unchanged`;
}

/** When the last keeper started begins, if later than now (keepers.rate spaces their first tasks). */
function paced(lastStartsAt: string | null): string {
  return lastStartsAt && Date.parse(lastStartsAt) > Date.now()
    ? ` (paced by keepers.rate: the last begins at ${lastStartsAt})`
    : '';
}
