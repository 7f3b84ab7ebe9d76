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
      const { currentStatus, latestRun, QUERY_PATIENCE_MS } = await import('../../client/rotations');
      const { requireRotatable, workflowIdFor } = await import('../../kernel/plan');
      requireRotatable(config, secret);
      await ctx.withClient(config, async (client) => {
        const run = await latestRun(client, secret);
        if (!run) throw new ExitError(EXIT.NOT_FOUND, `${secret} has never been rotated`);
        const handle = client.workflow.getHandle(workflowIdFor(secret), run.runId, { followRuns: false });
        const status = await currentStatus(handle, run.status !== 'RUNNING').catch(() => null);
        if (status) return ctx.emit(formatStatus(status), status);
        const why =
          run.status === 'RUNNING'
            ? `no worker answered within ${QUERY_PATIENCE_MS / 1000} s; is one running? (rotator worker)`
            : 'it left no status';
        ctx.emit(`${formatRun(run)}\n  note: ${why}`, { ...run, note: why });
      });
    });
}
