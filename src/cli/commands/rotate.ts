// `rotator rotate SECRET [--wait]`: start a rotation, or attach to the one running; --wait follows it phase by phase.
import { Command } from 'commander';
import { userInfo } from 'node:os';
import { EXIT, ExitError, secretName, type CliContext } from '../context';
import { formatPhase, formatStatus } from '../format';

export function rotateCommand(ctx: CliContext): Command {
  return new Command('rotate')
    .description('start a rotation (one at a time per secret)')
    .argument('<secret>', 'secret name', secretName)
    .option('--wait', 'follow the rotation until it ends, showing each phase', false)
    .action(async (secret: string, opts: { wait: boolean }) => {
      const { io, emit } = ctx;
      const json = ctx.globals().json;
      const config = await ctx.config();
      const { planRotation } = await import('../../kernel/plan');
      const plan = planRotation(config, secret);
      const { followRotation, hasWorkers, startRotation } = await import('../../client/rotations');
      await ctx.withClient(config, async (client) => {
        const { handle, started } = await startRotation(client, config.temporal.task_queue, plan, `cli:${userInfo().username}`);
        if (!started) {
          const msg = `a rotation of ${secret} is already running (workflow ${handle.workflowId})${opts.wait ? '; following it' : '; use --wait to follow it'}`;
          if (!opts.wait) {
            emit(msg, { secret, started: false, workflowId: handle.workflowId });
            throw new ExitError(EXIT.ALREADY_RUNNING, '');
          }
          if (!json) io.err(msg);
        }
        if (!(await hasWorkers(client, config.temporal.task_queue).catch(() => true))) {
          io.err(
            `rotator: no worker is polling task queue ${config.temporal.task_queue}; the rotation waits until one runs (rotator worker)`,
          );
        }
        if (!opts.wait) {
          const runId = (await handle.describe()).runId;
          emit(`started rotation of ${secret} (workflow ${handle.workflowId}, run ${runId})`, {
            secret,
            started,
            workflowId: handle.workflowId,
            runId,
          });
          return;
        }
        const seen = new Set<string>();
        const { status, ok } = await followRotation(handle, (s) => {
          if (json) return;
          for (const p of s.phases) {
            const key = `${p.name}:${p.startedAt}:${p.endedAt !== null}`;
            if (!seen.has(key) && p.endedAt !== null) {
              seen.add(key);
              io.out(formatPhase(p));
            }
          }
        });
        emit(formatStatus(status, false), status);
        if (!ok) throw new ExitError(EXIT.ROTATION_FAILED, '');
      });
    });
}
