// `rotator codec-server`: the Temporal UI's remote codec endpoint (/decode, /encode) for operators holding the token.
import { Command } from 'commander';
import type { CliContext } from '../context';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function codecServerCommand(ctx: CliContext): Command {
  return new Command('codec-server')
    .description(
      'serve the Temporal UI remote codec (POST /decode, /encode) for callers with the operator token ' +
        '(ROTATOR_CODEC_TOKEN or ROTATOR_CODEC_TOKEN_FILE), until SIGINT/SIGTERM',
    )
    .option('--address <host:port>', 'where to listen (env ROTATOR_CODEC_ADDRESS, default 127.0.0.1:8888)')
    .option(
      '--cors-origin <origin>',
      'a browser origin allowed to call, e.g. http://localhost:8233; repeatable (env ROTATOR_CODEC_CORS_ORIGINS, comma-separated)',
      collect,
    )
    .option('--tls-cert <file>', 'PEM certificate: serve https (env ROTATOR_CODEC_TLS_CERT)')
    .addHelpText(
      'after',
      [
        '',
        'The token is checked before a request body is read. Callers present it one of two ways:',
        '  Temporal CLI:  TEMPORAL_CODEC_ENDPOINT=<url> TEMPORAL_CODEC_AUTH="Bearer <token>" temporal workflow show …',
        "  Temporal UI:   the UI sends no header of its own, so each operator sets, in their own browser, the UI's",
        '                 Codec Server endpoint to <url>/<token> ("use my browser setting"); the cluster-wide',
        '                 --ui-codec-endpoint <url> (no token) then shows everyone else only encrypted payloads.',
        "Allow the UI's origin with --cors-origin (e.g. http://localhost:8233). Outside localhost, serve https",
        '(--tls-cert/--tls-key) and keep proxies from logging request paths.',
      ].join('\n'),
    )
    .option('--tls-key <file>', 'PEM private key for --tls-cert (env ROTATOR_CODEC_TLS_KEY)')
    .action(async (options: { address?: string; corsOrigin?: string[]; tlsCert?: string; tlsKey?: string }) => {
      const { runCodecServer } = await import('../../codec-server/main');
      await runCodecServer(options, (line, details) =>
        ctx.emit(line, { listening: details.url, corsOrigins: details.corsOrigins }),
      );
    });
}
