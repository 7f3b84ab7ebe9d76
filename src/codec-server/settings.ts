// `rotator codec-server`'s settings from its flags and environment, checked once at start-up; bad ones name the flag.
import { readFileSync } from 'node:fs';
import { RotatorError } from '../kernel/errors';

export const DEFAULT_CODEC_ADDRESS = '127.0.0.1:8888';
/** Shorter tokens are refused: the token is all that stands between the network and every decoded payload. */
export const MIN_TOKEN_LENGTH = 16;

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
      `the token must be at least ${MIN_TOKEN_LENGTH} characters without whitespace (openssl rand -hex 32)`,
      field,
    );
  }
  return token;
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
  const tls = certFile && keyFile ? { cert: readFor(certFile, '--tls-cert'), key: readFor(keyFile, '--tls-key') } : undefined;
  return { ...address, corsOrigins: [...new Set(corsOrigins)], token: readCodecToken(env), ...(tls ? { tls } : {}) };
}
