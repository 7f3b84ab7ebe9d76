// `rotator cancel SECRET [--by NAME] [--reason TEXT] [--wait]`: stop a running rotation and roll back what it changed.
import { Command } from 'commander';
import { EXIT, ExitError, secretName, type CliContext } from '../context';
import { checkedDecision, osUser } from './approve';
import { formatWithGate } from './status';

export function cancelCommand(ctx: CliContext): Command {
  return new Command('cancel')
    .description('cancel a running rotation: it rolls back what it changed (refused past its commit point)')
    .argument('<secret>', 'secret name', secretName)
    .option('--by <name>', 'who cancels (default: the OS user)')
    .option('--reason <text>', 'why (kept in the status and audit)')
    .option('--wait', 'wait until the rotation has rolled back, and show how it ended', false)
    .action(async (secret: string, opts: { by?: string; reason?: string; wait: boolean }) => {
      const input = checkedDecision({ by: opts.by ?? osUser(), reason: opts.reason }, false);
      const config = await ctx.config();
      const { requireRotatable } = await import('../../config/plan');
      requireRotatable(config, secret);
      const { cancelRotation, closedStatus, hasWorkers } = await import('../../client/rotations');
      await ctx.withClient(config, async (client) => {
        // The workflow checks the cancel and runs the rollback itself: without a worker it would wait for one.
        if (!(await hasWorkers(client, config.temporal.task_queue).catch(() => true)))
          throw new ExitError(
            EXIT.UNAVAILABLE,
            `no worker is polling task queue ${config.temporal.task_queue}, and the rotation must roll itself back: start one (rotator worker)`,
          );
        const { cancel, handle } = await cancelRotation(client, secret, input);
        if (!opts.wait) {
          ctx.emit(
            `cancelled the rotation of ${secret} as ${cancel.by}; it rolls back what it changed: rotator status ${secret}`,
            { secret, cancel },
          );
          return;
        }
        const ended = await closedStatus(handle);
        if (!ended) throw new ExitError(EXIT.ROTATION_FAILED, `the rotation of ${secret} ended without a status`);
        ctx.emit(formatWithGate(ended.status), ended.status);
        // Rolled back (or stopped before any change) is what a cancel asks for; anything else needs a look.
        if (!['rolled-back', 'cancelled'].includes(ended.status.outcome)) throw new ExitError(EXIT.ROTATION_FAILED, '');
      });
    });
}
