// `rotator codec-server`'s settings from its flags and environment, checked once at start-up; bad ones name the flag.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { RotatorError } from '../kernel/errors';

export const DEFAULT_CODEC_ADDRESS = '127.0.0.1:8888';
/** Shorter tokens are refused: the token is all that stands between the network and every decoded payload. */
export const MIN_TOKEN_LENGTH = 16;
/**
 * Characters a token may hold but that must be percent-encoded (encodeURIComponent) where the token is the path
 * segment of the UI's codec endpoint: the server percent-decodes that segment, so such a token works there encoded,
 * and as it is in `Authorization: Bearer`. (A browser reads a backslash in an http path as `/`.) A hex token needs none.
 */
export const PATH_ENCODED_TOKEN_CHARS = /[/%?#\\]/;

export interface CodecServerFlags {
  address?: string;
  corsOrigin?: string[];
  tlsCert?: string;
  tlsKey?: string;
}

export interface CodecServerSettings {
  host: string;
  port: number;
  /** Exact origins (`scheme://host[:port]`) whose pages may call the server; none means no browser may. */
  corsOrigins: string[];
  token: string;
  tls?: { cert: Buffer; key: Buffer };
}

function parseAddress(value: string, field: string): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RotatorError('CONFIG_INVALID', `expected host:port (got "${value}")`, field);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** An origin exactly as a browser sends it in the Origin header: no path, no trailing slash, no default port. */
function parseOrigin(value: string, field: string): string {
  const trimmed = value.trim();
  let origin: string | undefined;
  try {
    const url = new URL(trimmed);
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.origin === trimmed) origin = url.origin;
  } catch {
    origin = undefined;
  }
  if (!origin) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `expected an origin like http://localhost:8233 (scheme, host and port only) (got "${trimmed}")`,
      field,
    );
  }
  return origin;
}

function readFor(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RotatorError('CONFIG_INVALID', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, field);
  }
}

/** The operator token from ROTATOR_CODEC_TOKEN or the file ROTATOR_CODEC_TOKEN_FILE; errors never show it. */
export function readCodecToken(env: NodeJS.ProcessEnv): string {
  const direct = env.ROTATOR_CODEC_TOKEN?.trim();
  const file = env.ROTATOR_CODEC_TOKEN_FILE?.trim();
  if (direct && file) {
    throw new RotatorError(
      'CONFIG_INVALID',
      'set ROTATOR_CODEC_TOKEN or ROTATOR_CODEC_TOKEN_FILE, not both',
      'ROTATOR_CODEC_TOKEN',
    );
  }
  const field = file ? 'ROTATOR_CODEC_TOKEN_FILE' : 'ROTATOR_CODEC_TOKEN';
  const token = file ? readFor(file, field).toString('utf8').trim() : direct;
  if (!token) {
    throw new RotatorError(
      'CONFIG_INVALID',
      'the codec server needs an operator token: set ROTATOR_CODEC_TOKEN_FILE (a file holding it) or ROTATOR_CODEC_TOKEN; ' +
        'generate one with: openssl rand -hex 32',
      field,
    );
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `the token must be at least ${MIN_TOKEN_LENGTH} characters without whitespace (openssl rand -hex 32); ` +
        'in the UI’s codec endpoint path, / % ? # \\ in a token must be percent-encoded',
      field,
    );
  }
  return token;
}

/**
 * Checks what was read as PEM before a server is made of it: OpenSSL's own errors name no flag. The messages name
 * the file and OpenSSL's code, never a byte of what the file holds.
 */
function checkTls(cert: { file: string; pem: Buffer; field: string }, key: { file: string; pem: Buffer; field: string }): void {
  const code = (err: unknown) => (err as NodeJS.ErrnoException).code ?? 'error';
  try {
    new X509Certificate(cert.pem);
  } catch (err) {
    throw new RotatorError('CONFIG_INVALID', `${cert.file} holds no PEM certificate (${code(err)})`, cert.field);
  }
  try {
    createPrivateKey(key.pem);
  } catch (err) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `${key.file} holds no PEM private key, or one that is encrypted (${code(err)})`,
      key.field,
    );
  }
  try {
    createSecureContext({ cert: cert.pem, key: key.pem });
  } catch (err) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `${key.file} cannot serve the certificate in ${cert.file}: is it the certificate's key? (${code(err)})`,
      key.field,
    );
  }
}

/** Flags win over the environment (ROTATOR_CODEC_ADDRESS, ROTATOR_CODEC_CORS_ORIGINS, ROTATOR_CODEC_TLS_CERT/_KEY). */
export function codecServerSettings(flags: CodecServerFlags, env: NodeJS.ProcessEnv = process.env): CodecServerSettings {
  const address = flags.address
    ? parseAddress(flags.address, '--address')
    : parseAddress(env.ROTATOR_CODEC_ADDRESS?.trim() || DEFAULT_CODEC_ADDRESS, 'ROTATOR_CODEC_ADDRESS');
  const corsOrigins = flags.corsOrigin?.length
    ? flags.corsOrigin.map((o) => parseOrigin(o, '--cors-origin'))
    : (env.ROTATOR_CODEC_CORS_ORIGINS ?? '')
        .split(',')
        .filter((o) => o.trim() !== '')
        .map((o) => parseOrigin(o, 'ROTATOR_CODEC_CORS_ORIGINS'));
  const certFile = flags.tlsCert ?? env.ROTATOR_CODEC_TLS_CERT?.trim();
  const keyFile = flags.tlsKey ?? env.ROTATOR_CODEC_TLS_KEY?.trim();
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new RotatorError(
      'CONFIG_INVALID',
      'give both a certificate and its key, or neither',
      certFile ? '--tls-key' : '--tls-cert',
    );
  }
  let tls: CodecServerSettings['tls'];
  if (certFile && keyFile) {
    const certField = flags.tlsCert ? '--tls-cert' : 'ROTATOR_CODEC_TLS_CERT';
    const keyField = flags.tlsKey ? '--tls-key' : 'ROTATOR_CODEC_TLS_KEY';
    tls = { cert: readFor(certFile, certField), key: readFor(keyFile, keyField) };
    checkTls({ file: certFile, pem: tls.cert, field: certField }, { file: keyFile, pem: tls.key, field: keyField });
  }
  return { ...address, corsOrigins: [...new Set(corsOrigins)], token: readCodecToken(env), ...(tls ? { tls } : {}) };
}
