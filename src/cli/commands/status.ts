// `rotator status SECRET`: phase, timings and outcome of the latest rotation of a secret.
import { Command } from 'commander';
import { EXIT, ExitError, secretName, type CliContext } from '../context';
import { formatRun, formatStatus } from '../format';

export function statusCommand(ctx: CliContext): Command {
  return new Command('status')
    .description('phase, timings and outcome of the latest rotation of a secret')
    .argument('<secret>', 'secret name', secretName)
    .action(async (secret: string) => {
      const config = await ctx.config();
      const { latestRun, queryStatus } = await import('../../client/rotations');
      const { requireSecret, workflowIdFor } = await import('../../kernel/plan');
      requireSecret(config, secret);
      await ctx.withClient(config, async (client) => {
        const run = await latestRun(client, secret);
        if (!run) throw new ExitError(EXIT.NOT_FOUND, `${secret} has never been rotated`);
        const status = await queryStatus(client.workflow.getHandle(workflowIdFor(secret), run.runId)).catch(() => null);
        ctx.emit(status ? formatStatus(status) : formatRun(run), status ?? run);
      });
    });
}
