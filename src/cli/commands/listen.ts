// `rotator listen`: receive provider events and signed webhooks (`triggers:`) and start rotations, until SIGINT/SIGTERM.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function listenCommand(ctx: CliContext): Command {
  return new Command('listen')
    .description('receive provider events and signed webhooks (triggers:) and start rotations, until SIGINT/SIGTERM')
    .option('--metrics-address <host:port>', 'serve Prometheus /metrics on this address (env ROTATOR_METRICS_ADDRESS)')
    .action(async (opts: { metricsAddress?: string }) => {
      const { runListener } = await import('../../listener/main');
      await runListener(ctx.globals().config, (line) => ctx.emit(line, { listening: line }), {
        ...(opts.metricsAddress ? { metricsAddress: opts.metricsAddress } : {}),
      });
    });
}
