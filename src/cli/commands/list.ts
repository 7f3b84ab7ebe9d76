// `rotator list`: the rotatable secrets of the config and the latest rotation of each.
import { Command } from 'commander';
import type { CliContext } from '../context';
import { formatRun } from '../format';

export function listCommand(ctx: CliContext): Command {
  return new Command('list').description('rotatable secrets and their latest rotation').action(async () => {
    const config = await ctx.config();
    const { latestRun } = await import('../../client/rotations');
    const { rotatableSecrets } = await import('../../config/plan');
    await ctx.withClient(config, async (client) => {
      const rows = [];
      for (const secret of rotatableSecrets(config)) {
        const run = await latestRun(client, secret);
        rows.push({ secret, strategy: config.secrets[secret].rotation?.strategy, last: run });
      }
      ctx.emit(
        rows
          .map((r) => `${r.secret.padEnd(24)} ${String(r.strategy).padEnd(18)} ${r.last ? formatRun(r.last) : 'never rotated'}`)
          .join('\n'),
        rows,
      );
    });
  });
}
