// `rotator history SECRET [-n N]`: past rotations of a secret, newest first.
import { Command, InvalidArgumentError } from 'commander';
import { secretName, type CliContext } from '../context';
import { formatRun } from '../format';

function positiveInteger(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function historyCommand(ctx: CliContext): Command {
  return new Command('history')
    .description('past rotations of a secret, newest first')
    .argument('<secret>', 'secret name', secretName)
    .option('-n, --limit <n>', 'how many', positiveInteger, 20)
    .action(async (secret: string, opts: { limit: number }) => {
      const config = await ctx.config();
      const { rotationHistory } = await import('../../client/rotations');
      const { requireRotatable } = await import('../../config/plan');
      requireRotatable(config, secret);
      await ctx.withClient(config, async (client) => {
        const runs = await rotationHistory(client, secret, opts.limit);
        ctx.emit(runs.length ? runs.map(formatRun).join('\n') : `${secret} has never been rotated`, runs);
      });
    });
}
