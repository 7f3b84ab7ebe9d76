// `rotator stack`: the embedded local stack for trying a config without Docker; prints its environment, stays up.
import { join } from 'node:path';
import { Command } from 'commander';
import type { CliContext } from '../context';

export function stackCommand(ctx: CliContext): Command {
  return new Command('stack')
    .description(
      'start the embedded local stack (Temporal dev server, OpenBao, PostgreSQL) for examples/rotator.yaml; prints the environment to use, stays up until SIGINT/SIGTERM',
    )
    .option(
      '--cluster',
      'a real Temporal server instead of the dev server: frontend, history, matching and worker as separate processes on PostgreSQL persistence and SQL visibility (docs/temporal-cluster.md)',
    )
    .action(async (opts: { cluster?: boolean }) => {
      const { startLocalStack } = await import('../../stack/local-stack');
      const { prepareExampleStack, EXAMPLE_ADMIN_PATH } = await import('../../stack/example');
      const stack = await startLocalStack({ services: opts.cluster ? ['vault', 'postgres'] : ['temporal', 'vault', 'postgres'] });
      let cluster: import('../../stack/temporal-cluster').TemporalCluster | undefined;
      try {
        if (opts.cluster) {
          const { startTemporalCluster } = await import('../../stack/temporal-cluster');
          cluster = await startTemporalCluster({ postgres: stack.postgres!, dir: join(stack.dir, 'temporal-cluster') });
          stack.temporal = { address: cluster.address, namespace: cluster.namespace };
          if (!ctx.globals().json)
            ctx.io.err(`rotator: Temporal ${cluster.address}: frontend, history, matching, worker (logs in ${cluster.dir})`);
        }
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
        await cluster?.close();
        await stack.stop();
      }
    });
}
