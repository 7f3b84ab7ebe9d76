// `rotator codec-server` entry point: settings and keys read once (fail fast), serve until SIGINT/SIGTERM.
import { AesGcmCodec, loadCodecKeys } from '../client/codec/aes-gcm-codec';
import { logger } from '../kernel/log';
import { startCodecServer } from './server';
import { codecServerSettings, PATH_ENCODED_TOKEN_CHARS, type CodecServerFlags } from './settings';

export async function runCodecServer(
  flags: CodecServerFlags,
  onListening: (line: string, details: { url: string; corsOrigins: string[] }) => void = () => undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const settings = codecServerSettings(flags, env);
  // The UI asks to decode whatever a history holds, search attributes and other SDKs' payloads included: an
  // unencrypted payload is handed back as it came, which shows nothing the caller did not send.
  const codec = new AesGcmCodec({ ...loadCodecKeys(env), allowPlaintext: true });
  if (PATH_ENCODED_TOKEN_CHARS.test(settings.token)) {
    logger.warn(
      'the token holds / % ? # or a backslash: percent-encode it (encodeURIComponent) in the UI’s codec endpoint path; ' +
        'a token from `openssl rand -hex 32` needs no encoding',
    );
  }
  const server = await startCodecServer({ ...settings, codec, log: logger });
  const cors = settings.corsOrigins.length ? settings.corsOrigins.join(', ') : 'none (no browser may call it)';
  logger.info({ url: server.url, corsOrigins: settings.corsOrigins }, 'codec server started');
  onListening(`codec server listening on ${server.url} (CORS origins: ${cors})`, {
    url: server.url,
    corsOrigins: settings.corsOrigins,
  });
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await server.close();
  logger.info('codec server stopped');
}
