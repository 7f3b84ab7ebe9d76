// `rotator validate [FILE]`: check a config file (and, for secrets kept in Kubernetes, who else uses them); changes nothing.
import { Command } from 'commander';
import type { CliContext } from '../context';

export function validateCommand(ctx: CliContext): Command {
  return new Command('validate')
    .description('check a config file; changes nothing')
    .argument('[file]', 'config file (defaults to --config)')
    .option('--offline', 'check without the environment: unset ${VAR}s are listed, not refused (for CI without secrets)', false)
    .action(async (file: string | undefined, opts: { offline: boolean }) => {
      const path = file ?? ctx.globals().config;
      const literal = await literalSecrets(path);
      if (opts.offline) {
        const { readConfigFile, checkConfigOffline, parseConfig } = await import('../../config/load');
        const text = readConfigFile(path);
        const { unchecked, notes } = checkConfigOffline(text, process.env, path);
        // Readers' caches against grace_period need no store: refused offline too, when every field could be read.
        if (unchecked.length === 0)
          (await import('../../config/readers')).refuseShortGrace(parseConfig(text, process.env, path).secrets);
        const list = unchecked.map((u) => `  ${u.path}: from \${${u.variable}}, unset here: not checked`);
        const noted = notes.map((n) => `  note: secrets.${n.secret}: ${n.message}`);
        ctx.emit([`${path}: ok without its secrets`, ...list, ...noted, ...literal.lines].join('\n'), {
          ok: true,
          file: path,
          unchecked,
          notes,
          literalSecrets: literal.fields,
        });
        return;
      }
      const config = await ctx.config(path);
      const { refuseShortGrace } = await import('../../config/readers');
      refuseShortGrace(config.secrets);
      const { rotatableSecrets } = await import('../../config/plan');
      const { unlistedConsumers } = await import('../../client/consumer-check');
      const secrets = Object.keys(config.secrets);
      const { endpointWarnings, ENDPOINT_READ_MS } = await import('../../client/preflight');
      const { configNotes, configWarnings } = await import('../../config/warnings');
      const endpoints = await endpointWarnings(config);
      const warnings = [...configWarnings(config), ...(await unlistedConsumers(config)), ...endpoints.warnings];
      const notes = configNotes(config);
      const lines = [
        ...warnings.map((w) => `  warning: secrets.${w.secret}: ${w.message}`),
        ...notes.map((n) => `  note: secrets.${n.secret}: ${n.message}`),
      ];
      const skipped = endpoints.skipped;
      if (skipped.length > 0)
        lines.push(
          `  note: stored endpoints not compared for ${skipped.length} secret${skipped.length === 1 ? '' : 's'} ` +
            `(${skipped.join(', ')}): no store answer within ${ENDPOINT_READ_MS / 1000}s, or unreadable; ` +
            '`rotator plan <secret>` says why',
        );
      ctx.emit(
        [
          `${path}: ok (${secrets.length} secrets, ${rotatableSecrets(config).length} rotatable)`,
          ...lines,
          ...literal.lines,
        ].join('\n'),
        { ok: true, file: path, secrets, warnings, notes, endpointsNotCompared: skipped, literalSecrets: literal.fields },
      );
    });
}

/** The fields holding a secret written literally, and their warning lines (the field only, never the value). */
async function literalSecrets(path: string): Promise<{ fields: string[]; lines: string[] }> {
  const { readConfigFile } = await import('../../config/load');
  const { literalSecretFields, LITERAL_SECRET_WARNING } = await import('../../config/literal-secrets');
  const fields = literalSecretFields(readConfigFile(path));
  return { fields, lines: fields.map((f) => `  warning: ${f}: ${LITERAL_SECRET_WARNING}`) };
}
