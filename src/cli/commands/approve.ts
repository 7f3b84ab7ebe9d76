// `rotator approve SECRET [--by NAME] [--reason TEXT]`: let a rotation waiting at its approval gate go on.
import { Command, Option } from 'commander';
import { userInfo } from 'node:os';
import { RotatorError } from '../../kernel/errors';
import type { DecisionInput } from '../../../workflows/definitions';
import { checkDecision } from '../../../workflows/lib/decisions';
import { EXIT, ExitError, secretName, type CliContext } from '../context';

export function approveCommand(ctx: CliContext): Command {
  return decisionCommand(ctx, 'approve');
}

/** approve and reject: the same gate, the same options; a rejection needs its reason. */
export function decisionCommand(ctx: CliContext, decision: 'approve' | 'reject'): Command {
  const reason = new Option('--reason <text>', decision === 'reject' ? 'why (required)' : 'why (kept in the status and audit)');
  return new Command(decision)
    .description(
      decision === 'approve'
        ? 'approve a rotation waiting for approval: it runs now'
        : 'reject a rotation waiting for approval: it ends having changed nothing',
    )
    .argument('<secret>', 'secret name', secretName)
    .option('--by <name>', 'who decides (default: the OS user)')
    .addOption(decision === 'reject' ? reason.makeOptionMandatory() : reason)
    .action(async (secret: string, opts: { by?: string; reason?: string }) => {
      const input = checkedDecision({ by: opts.by ?? osUser(), reason: opts.reason }, decision === 'reject');
      const config = await ctx.config();
      const { requireRotatable } = await import('../../config/plan');
      requireRotatable(config, secret);
      const { decideRotation, hasWorkers } = await import('../../client/rotations');
      await ctx.withClient(config, async (client) => {
        // The workflow itself checks the decision, so without a worker it would wait for one.
        if (!(await hasWorkers(client, config.temporal.task_queue).catch(() => true)))
          throw new ExitError(
            EXIT.UNAVAILABLE,
            `no worker is polling task queue ${config.temporal.task_queue}, and the rotation must take the decision itself: start one (rotator worker)`,
          );
        const gate = await decideRotation(client, secret, decision, input);
        const { note, ...approval } = gate;
        const why = approval.reason ? ` (${approval.reason})` : '';
        ctx.emit(
          (decision === 'approve'
            ? `approved the rotation of ${secret} as ${approval.by}${why}; it runs now: rotator status ${secret}`
            : `rejected the rotation of ${secret} as ${approval.by}${why}; it ends having changed nothing`) +
            (note ? `\nnote: ${note}` : ''),
          { secret, approval, ...(note ? { note } : {}) },
        );
      });
    });
}

/**
 * The workflow's own check of who decides and why, made here first: bad input is refused naming the field before
 * Temporal is asked, and whether or not a rotation is running.
 */
export function checkedDecision(input: { by: string; reason?: string | undefined }, reasonRequired: boolean): DecisionInput {
  try {
    return checkDecision(input, reasonRequired);
  } catch (err) {
    const message = (err as Error).message;
    const at = message.indexOf(': ');
    throw new RotatorError('CONFIG_INVALID', message.slice(at + 2), message.slice(0, at));
  }
}

/** Who runs the command, for `--by`'s default; empty (refused by the workflow, naming --by) when the OS cannot say. */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
