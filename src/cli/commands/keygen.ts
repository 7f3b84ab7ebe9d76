// `rotator keygen [FILE]`: create a payload encryption key file (0600); prints its path, never the key.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function keygenCommand(ctx: CliContext): Command {
  return new Command('keygen')
    .description('create a payload encryption key file (mode 0600) if it does not exist; prints its path, never the key')
    .argument('[file]', 'key file', '.rotator/codec.key')
    .action(async (file: string) => {
      const { ensureLocalKeyFile } = await import('../../client/codec/aes-gcm-codec');
      const path = ensureLocalKeyFile(file);
      ctx.emit(`key file ${path}; use it with ROTATOR_CODEC_KEY_FILE=${path}`, { file: path });
    });
}
