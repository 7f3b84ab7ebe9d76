// `rotator worker`: run a worker, executing rotations from the task queue until SIGINT/SIGTERM.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function workerCommand(ctx: CliContext): Command {
  return new Command('worker')
    .description('run a worker: executes rotations from the task queue until SIGINT/SIGTERM')
    .option('--audit <sink>', 'write the audit trail, one JSON line per phase change: stdout or file:PATH (env ROTATOR_AUDIT)')
    .option('--metrics-address <host:port>', 'serve Prometheus /metrics on this address (env ROTATOR_METRICS_ADDRESS)')
    .action(async (opts: { audit?: string; metricsAddress?: string }) => {
      const { runWorker } = await import('../../../workers/main');
      await runWorker(ctx.globals().config, {
        ...(opts.audit ? { audit: opts.audit } : {}),
        ...(opts.metricsAddress ? { metricsAddress: opts.metricsAddress } : {}),
      });
    });
}
