// `rotator get URI [--reveal]`: what a `secret://` URI resolves to (provider, path, version, keys, source); the value
// itself only with --reveal.
//
// The config is loaded here rather than through ctx.config(), which would hand its secret values to the CLI's
// scrubber: a value the config itself holds (an env provider's `default:`, `on_missing.default_value`) or one a store
// shares with it (an admin password also given as ${PG_PASSWORD}) would then print as [REDACTED] under --reveal.
// Everything but the revealed value is scrubbed of those values here instead, errors included.
import { Command } from 'commander';
import type { ProviderRegistry } from '../../../activities/registry';
import type { ResolvedSecret } from '../../client/resolve';
import type { Config } from '../../config/schema';
import { RotatorError } from '../../kernel/errors';
import { redact } from '../../kernel/redact';
import { parseSecretUri, type SecretUri } from '../../kernel/uri';
import type { CliContext } from '../context';

/** A bare secret name stands for the whole secret. */
const BARE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function getCommand(ctx: CliContext): Command {
  return (
    new Command('get')
      .description('resolve a secret:// URI: provider, path, version, keys, source; the value only with --reveal')
      // Parsed in the action, not by commander, whose message would quote the argument (a default may be a credential).
      .argument('<uri>', 'secret://name or secret://name/key, optionally ?version=N and/or &default=value (or a bare name)')
      .option('--reveal', 'print the value too', false)
      .action(async (arg: string, opts: { reveal: boolean }) => {
        const ref = parseSecretUri(BARE_NAME.test(arg) ? `secret://${arg}` : arg);
        const { loadConfig, sensitiveValues } = await import('../../config/load');
        const config = loadConfig(ctx.globals().config);
        const secrets = sensitiveValues(config);
        try {
          await getSecret(ctx, config, ref, opts.reveal, secrets);
        } catch (err) {
          if (err instanceof Error) err.message = redact(err.message, secrets);
          throw err;
        }
      })
  );
}

async function getSecret(
  ctx: CliContext,
  config: Config,
  ref: SecretUri,
  reveal: boolean,
  secrets: ReadonlyArray<string>,
): Promise<void> {
  const { resolveSecret } = await import('../../client/resolve');
  const { ProviderRegistry } = await import('../../../activities/registry');
  const providers = new ProviderRegistry(config.providers);
  try {
    // on_missing: warn is said on stderr (and in the JSON document), not by the logger: its line on stdout would
    // break the one document --json promises.
    const warnings: string[] = [];
    const log = { warn: (_fields: Record<string, unknown>, message: string) => void warnings.push(message) };
    const resolved = await resolveSecret(config, providers, ref, { log });
    for (const w of warnings) ctx.io.err(`warning: ${redact(`${resolved.secret}: ${w}`, secrets)}`);
    const publishedAt = ref.version === undefined ? await publishedAtOf(providers, resolved) : null;
    const meta = {
      secret: resolved.secret,
      ...(resolved.key !== undefined ? { key: resolved.key } : {}),
      provider: { name: resolved.location.provider, type: resolved.location.type },
      path: resolved.location.path,
      version: resolved.version,
      keys: resolved.fields,
      source: resolved.source,
      publishedAt: publishedAt === null ? null : new Date(publishedAt).toISOString(),
      ...(warnings.length > 0 ? { warnings } : {}),
    };
    // The metadata is scrubbed as every command's output is; the value, asked for, is not.
    const shown = JSON.parse(redact(JSON.stringify(meta), secrets)) as typeof meta;
    const value = typeof resolved.value === 'string' ? resolved.value : JSON.stringify(resolved.value);
    const lines = [
      `${shown.secret}${shown.key !== undefined ? ` key ${shown.key}` : ''}`,
      `  provider   ${shown.provider.name} (${shown.provider.type})`,
      `  path       ${shown.path}`,
      `  version    ${shown.version ?? '-'}`,
      `  keys       ${shown.keys.join(', ') || '-'}`,
      `  source     ${shown.source}`,
      `  published  ${shown.publishedAt ?? '-'}`,
      ...(reveal ? [`  value      ${value}`] : []),
    ];
    ctx.emit(lines.join('\n'), reveal ? { ...shown, value: resolved.value } : shown);
  } finally {
    await providers.close();
  }
}

/**
 * When the current version was written, if the store says; for a default nobody wrote it. Metadata only: a store
 * that fails to say shows '-' rather than failing a value already read.
 */
async function publishedAtOf(providers: ProviderRegistry, resolved: ResolvedSecret): Promise<number | null> {
  if (resolved.source === 'default') return null;
  try {
    const store = await providers.store(resolved.location.provider);
    return (await store.publishedAt?.(resolved.location.path)) ?? null;
  } catch (err) {
    if (err instanceof RotatorError) return null;
    throw err;
  }
}
