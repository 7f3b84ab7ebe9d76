// `rotator adopt SECRET [--from-stdin | --from-env VAR]`: take over a credential that already exists, without rotating
// it: its current value goes into the store with rotator's metadata once it has logged in; the target is not changed.
import { Command, InvalidArgumentError } from 'commander';
import { secretName, type CliContext } from '../context';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function adoptCommand(ctx: CliContext): Command {
  return new Command('adopt')
    .description('take over an existing credential without rotating it: check it logs in, record it with rotator’s metadata')
    .argument('<secret>', 'secret name', secretName)
    .option('--from-stdin', 'read the current value from stdin: the password, or a JSON object of the value’s fields', false)
    .option('--from-env <var>', 'read the current value from this environment variable (same forms as stdin)', (v: string) => {
      if (!ENV_NAME.test(v)) throw new InvalidArgumentError('expected an environment variable name');
      return v;
    })
    .addHelpText(
      'after',
      '\nWithout --from-stdin or --from-env, the value the store already holds is adopted. The value is never taken\n' +
        'from an argument (other users of the machine can read those).',
    )
    .action(async (secret: string, opts: { fromStdin: boolean; fromEnv?: string }) => {
      const { RotatorError } = await import('../../kernel/errors');
      if (opts.fromStdin && opts.fromEnv)
        throw new RotatorError('CONFIG_INVALID', 'give --from-stdin or --from-env, not both', '--from-env');
      const config = await ctx.config();
      const { adoptSecret } = await import('../../client/adopt');
      let source: import('../../client/adopt').AdoptSource = { kind: 'store' };
      if (opts.fromEnv !== undefined) {
        const text = process.env[opts.fromEnv];
        if (text === undefined) throw new RotatorError('CONFIG_INVALID', 'is not set', `env ${opts.fromEnv}`);
        source = { kind: 'input', from: `env ${opts.fromEnv}`, text };
      } else if (opts.fromStdin) {
        source = { kind: 'input', from: 'stdin', text: await readStdin() };
      }
      const a = await adoptSecret(config, secret, source);
      ctx.emit(
        [
          `adopted ${a.secret}: version ${a.version} at ${a.provider}:${a.path} (from ${a.source})`,
          `  ✓ verify   ${a.username} logged in at ${a.verifiedAt.endpoint} (${a.verifiedAt.from})`,
          `  ✓ publish  version ${a.version}${a.previousVersion ? ` (replacing ${a.previousVersion}, the same value)` : ''}, with rotator's metadata (adoption ${a.adoptionId})`,
          '  target unchanged: the next `rotator rotate` replaces this credential',
        ].join('\n'),
        { ok: true, ...a },
      );
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
