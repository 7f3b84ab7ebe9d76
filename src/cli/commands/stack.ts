// `rotator stack`: the embedded local stack for trying a config without Docker; prints its environment, stays up.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function stackCommand(ctx: CliContext): Command {
  return new Command('stack')
    .description(
      'start the embedded local stack (Temporal dev server, OpenBao, PostgreSQL) for examples/rotator.yaml; prints the environment to use, stays up until SIGINT/SIGTERM',
    )
    .action(async () => {
      const { startLocalStack } = await import('../../stack/local-stack');
      const { prepareExampleStack, EXAMPLE_ADMIN_PATH } = await import('../../stack/example');
      const stack = await startLocalStack({ services: ['temporal', 'vault', 'postgres'] });
      try {
        const env = await prepareExampleStack(stack);
        const json = ctx.globals().json;
        ctx.emit(
          [
            '# rotator local stack is up; in another shell:',
            ...Object.entries(env).map(([k, v]) => `export ${k}=${v}`),
            `# the PostgreSQL admin credential is stored in OpenBao at ${EXAMPLE_ADMIN_PATH} (see examples/rotator.yaml)`,
            '# then: rotator --config examples/rotator.yaml worker   and   rotator --config examples/rotator.yaml rotate orders_db --wait',
            '# Ctrl-C stops the stack and removes its data.',
          ].join('\n'),
          { ok: true, env, dir: stack.dir },
        );
        if (!json) ctx.io.err(`rotator: stack data in ${stack.dir}`);
        // The stack's processes are unref'd (tests must be able to exit past them): this timer keeps us up instead.
        const keepAlive = setInterval(() => undefined, 1 << 30);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve).once('SIGTERM', resolve);
        }).finally(() => clearInterval(keepAlive));
      } finally {
        await stack.stop();
      }
    });
}
