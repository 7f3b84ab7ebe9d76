// `rotator validate [FILE]`: check a config file; changes nothing.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function validateCommand(ctx: CliContext): Command {
  return new Command('validate')
    .description('check a config file; changes nothing')
    .argument('[file]', 'config file (defaults to --config)')
    .action(async (file?: string) => {
      const path = file ?? ctx.globals().config;
      const config = await ctx.config(path);
      const { rotatableSecrets } = await import('../../kernel/plan');
      const secrets = Object.keys(config.secrets);
      ctx.emit(`${path}: ok (${secrets.length} secrets, ${rotatableSecrets(config).length} rotatable)`, {
        ok: true,
        file: path,
        secrets,
      });
    });
}
