// `rotator worker`: run a worker, executing rotations from the task queue until SIGINT/SIGTERM.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function workerCommand(ctx: CliContext): Command {
  return new Command('worker')
    .description('run a worker: executes rotations from the task queue until SIGINT/SIGTERM')
    .action(async () => {
      const { runWorker } = await import('../../../workers/main');
      await runWorker(ctx.globals().config);
    });
}
