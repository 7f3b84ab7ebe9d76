// The Temporal remote codec endpoint (POST …/decode, …/encode) for the Web UI and the CLI: CORS for the configured
// UI origins only, the operator token checked before a byte of the body is read, and never a payload logged.
//
// The token arrives as `Authorization: Bearer <token>` (the Temporal CLI's --codec-auth, scripts) or, because the UI
// sends no header of its own choosing (it forwards only an OIDC login's access token, and only to https), as the
// path segment before the operation: the operator sets the UI's codec endpoint, in their own browser, to
// `https://codec.example:8888/<token>` and the UI calls `https://codec.example:8888/<token>/decode`. The segment is
// percent-decoded, so a token holding / % ? # (or a backslash) works there percent-encoded (encodeURIComponent); a
// hex token (openssl rand -hex 32) needs no encoding.
//
// A request with `Expect: 100-continue` is invited to send its body only once it passed every check a body is not
// needed for (route, origin, token, content type and length); otherwise it gets its refusal and no 100 Continue.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { RotatorError } from '../kernel/errors';
import type { Logger } from '../kernel/log';
import { hasBody, isJson, readBody, send, type Reply } from '../kernel/http-io';
import { printable } from '../kernel/printable';
import { parsePayloadsJson, payloadsBody, PayloadsJsonError } from './payloads-json';

export interface CodecServerOptions {
  /** Decodes and encodes; for the UI, one that passes unencrypted payloads through (there is nothing to hide there). */
  codec: PayloadCodec;
  /** The operator token: requests must carry `Authorization: Bearer <token>`. */
  token: string;
  /** Exact origins allowed to call from a browser (the Temporal UI's, e.g. http://localhost:8233). */
  corsOrigins: ReadonlyArray<string>;
  host: string;
  port: number;
  /** PEM certificate and key: serve https, as anywhere beyond localhost (the token travels with every request). */
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Most payloads in one request. */
  maxPayloads?: number;
}

export interface CodecServer {
  /** http(s)://host:port, what `--ui-codec-endpoint` and `temporal --codec-endpoint` take. */
  url: string;
  address: { host: string; port: number };
  /** Stops accepting, closes idle connections, resolves once the requests in flight were answered. */
  close(): Promise<void>;
}

/** Temporal refuses payloads over 2 MiB by default; a UI page of history decodes in batches well below this. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_PAYLOADS = 1000;
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
/** What the UI sends (Authorization-Extras carries an OIDC id token when it has one; it is ignored). */
const ALLOWED_HEADERS = 'Content-Type, Authorization, X-Namespace, Authorization-Extras';
const PREFLIGHT_MAX_AGE_S = '600';

type Operation = 'decode' | 'encode';

/** What a log line may show of a request's field: printable and bounded. */
function shown(value: string | undefined, max = 64): string | undefined {
  return value === undefined ? undefined : printable(value, max);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The token a request presents: the Authorization header's if it has one, else the path segment before the operation. */
function presentedToken(header: string | undefined, path: string): { via: 'header' | 'path'; token: string } {
  if (header !== undefined) return { via: 'header', token: /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '' };
  const segments = path.split('/');
  const segment = segments.length >= 3 ? segments[segments.length - 2] : '';
  try {
    return { via: 'path', token: decodeURIComponent(segment) };
  } catch {
    return { via: 'path', token: '' };
  }
}

/** Compares fixed-length digests, so neither the token's bytes nor its length leak through timing. */
function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected) && given.length > 0;
}

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const { codec, corsOrigins, log, host, port, tls } = options;
  if (options.token.length === 0) throw new RotatorError('CONFIG_INVALID', 'the codec server needs a token', 'token');
  const expected = digest(options.token);
  const origins = new Set(corsOrigins);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxPayloads = options.maxPayloads ?? DEFAULT_MAX_PAYLOADS;

  const serverOptions = { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS };
  const listener = (req: IncomingMessage, res: ServerResponse, expectsContinue = false) => {
    handle(req, res, expectsContinue).catch((err: unknown) => {
      log.error({ error: err instanceof Error ? err.name : typeof err }, 'codec request failed unexpectedly');
      if (!res.headersSent) send(req, res, { status: 500, body: { error: 'internal error' } }, true);
      else res.destroy();
    });
  };
  let server: Server;
  try {
    server = tls
      ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key }, (req, res) => listener(req, res))
      : createHttpServer(serverOptions, (req, res) => listener(req, res));
  } catch (err) {
    // OpenSSL's message names no option; its code says what is wrong, without a byte of the PEM.
    throw new RotatorError(
      'CONFIG_INVALID',
      `the TLS certificate or key cannot be used (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      'tls',
    );
  }
  // Without this listener Node answers 100 Continue itself, before the token was looked at.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => listener(req, res, true));

  async function handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? '';
    const origin = req.headers.origin;
    // The protocol: only the last path segment says which operation, so the server can sit under any prefix.
    const last = path.slice(path.lastIndexOf('/') + 1);
    const operation: Operation | undefined = last === 'decode' || last === 'encode' ? last : undefined;
    // No path in the log: it may hold the token (or a mistyped one).
    const fields: Record<string, unknown> = {
      method: shown(method, 16),
      operation: operation ?? (path === '/healthz' ? 'healthz' : 'unknown'),
      origin: shown(origin),
      namespace: shown(req.headers['x-namespace'] as string | undefined),
    };
    let bodyRead = false;
    // Only an allowed origin gets CORS headers, on every answer (a 401 the page can read says why it failed).
    const cors: Record<string, string> =
      origin !== undefined && origins.has(origin)
        ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
        : { Vary: 'Origin' };
    const finish = (reply: Reply, reason?: string) => {
      const line = { ...fields, status: reply.status, ...(reason ? { reason } : {}) };
      if (reply.status >= 500) log.error(line, 'codec request');
      else if (reply.status >= 400) log.warn(line, 'codec request');
      else log.info(line, 'codec request');
      send(req, res, { ...reply, headers: { ...cors, ...reply.headers } }, !bodyRead && hasBody(req));
    };
    const refuse = (status: number, error: string, headers?: Record<string, string>) =>
      finish({ status, body: { error }, headers }, error);

    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) return finish({ status: 200, body: 'ok\n' });
    if (!operation) return refuse(404, 'no such endpoint: POST …/decode or …/encode');
    // A page from any other origin is refused outright, preflight or not; tools without an Origin header go on.
    if (origin !== undefined && !origins.has(origin)) return refuse(403, 'origin not allowed');
    if (method === 'OPTIONS') {
      return finish({
        status: 204,
        body: '',
        headers: {
          Allow: 'POST, OPTIONS',
          ...(origin !== undefined
            ? {
                'Access-Control-Allow-Methods': 'POST, OPTIONS',
                'Access-Control-Allow-Headers': ALLOWED_HEADERS,
                'Access-Control-Max-Age': PREFLIGHT_MAX_AGE_S,
              }
            : {}),
        },
      });
    }
    if (method !== 'POST') return refuse(405, 'only POST', { Allow: 'POST, OPTIONS' });
    // Authenticated before the body is looked at: a request without the token costs no parsing at all.
    const presented = presentedToken(req.headers.authorization, path);
    fields.auth = presented.via;
    if (!tokenMatches(presented.token, expected)) {
      return refuse(401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer realm="rotator-codec"' });
    }
    if (!isJson(req.headers['content-type'])) return refuse(415, 'expected Content-Type: application/json');
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return refuse(415, 'compressed bodies are not accepted');
    const announced = req.headers['content-length'];
    if (announced !== undefined && Number(announced) > maxBody) return refuse(413, `at most ${maxBody} bytes`);
    if (expectsContinue) res.writeContinue();
    const body = await readBody(req, maxBody);
    if (body === 'too large') return refuse(413, `at most ${maxBody} bytes`);
    if (body === 'aborted') {
      log.warn({ ...fields, reason: 'aborted' }, 'codec request');
      return;
    }
    bodyRead = true;

    let payloads: Payload[];
    try {
      payloads = parsePayloadsJson(body, maxPayloads);
    } catch (err) {
      if (err instanceof PayloadsJsonError) return refuse(400, err.message);
      throw err;
    }
    fields.payloads = payloads.length;
    const out: Payload[] = [];
    // One at a time, so a refusal names the payload; the codec's messages name key ids, never bytes.
    for (const [i, payload] of payloads.entries()) {
      try {
        out.push(...(await codec[operation]([payload])));
      } catch (err) {
        return refuse(400, `payloads[${i}]: ${shown(err instanceof Error ? err.message : 'codec failed', 300)}`);
      }
    }
    finish({ status: 200, body: payloadsBody(out) });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new RotatorError('CONFIG_INVALID', `cannot listen on ${host}:${port} (${err.code ?? err.name})`, '--address'));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err: NodeJS.ErrnoException) => log.error({ error: err.code ?? err.name }, 'codec server error'));
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;

  return {
    url: `${tls ? 'https' : 'http'}://${shownHost}:${bound.port}`,
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
