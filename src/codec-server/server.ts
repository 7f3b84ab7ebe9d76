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
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RotatorError } from '../kernel/errors';
import {
  answerFailures,
  createHttpApp,
  inviteBodyWhenRead,
  isCompressed,
  jsonBody,
  listen,
  MAX_CONNECTIONS,
  requestLog,
  sameSecret,
  sendJson,
  type HttpApp,
  type RequestRecord,
} from '../kernel/http-server';
import type { Logger } from '../kernel/log';
import { shown as printableShown } from '../kernel/printable';
import { payloadsBody, payloadsSchema, toPayloads } from './payloads-json';

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
/** What the UI sends (Authorization-Extras carries an OIDC id token when it has one; it is ignored). */
const ALLOWED_HEADERS = 'Content-Type, Authorization, X-Namespace, Authorization-Extras';
const PREFLIGHT_MAX_AGE_S = '600';

type Operation = 'decode' | 'encode';

/** What a log line may show of a request's field: printable, and shorter than the listener's by default. */
const shown = (value: string | undefined, max = 64) => printableShown(value, max);

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

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const { codec, corsOrigins, log, host, port, tls } = options;
  if (options.token.length === 0) throw new RotatorError('CONFIG_INVALID', 'the codec server needs a token', 'token');
  const origins = new Set(corsOrigins);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxPayloads = options.maxPayloads ?? DEFAULT_MAX_PAYLOADS;

  let app: HttpApp;
  try {
    // Without routeExpectContinue Node answers 100 Continue itself, before the token was looked at.
    app = createHttpApp({
      bodyLimit: maxBody,
      tls,
      maxConnections: MAX_CONNECTIONS,
      routeExpectContinue: true,
      // The same checks: a path that is not percent-encoding holds no token; with the right header it is refused as bad.
      onBadUrl: async (request, reply) => {
        logWhenSent(request, reply);
        reply.header('Cache-Control', 'no-store').header('Connection', 'close');
        return (await precheck(request, reply)) ?? refuse(reply, 400, 'the path is not valid percent-encoding');
      },
    });
  } catch (err) {
    // OpenSSL's message names no option; its code says what is wrong, without a byte of the PEM.
    throw new RotatorError(
      'CONFIG_INVALID',
      `the TLS certificate or key cannot be used (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      'tls',
    );
  }

  // Each request's log line (no path in it: it may hold the token, or a mistyped one) and its CORS headers.
  const { of, logWhenSent } = requestLog(app, {
    start: (request): RequestRecord & { cors: Record<string, string> } => {
      const origin = request.headers.origin;
      const path = request.url.split('?')[0];
      const last = path.slice(path.lastIndexOf('/') + 1);
      return {
        fields: {
          method: shown(request.method, 16),
          operation: last === 'decode' || last === 'encode' ? last : path === '/healthz' ? 'healthz' : 'unknown',
          origin: shown(origin),
          namespace: shown(request.headers['x-namespace'] as string | undefined),
        },
        // Only an allowed origin gets CORS headers, on every answer (a 401 the page can read says why it failed).
        cors:
          origin !== undefined && origins.has(origin)
            ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
            : { Vary: 'Origin' },
      };
    },
    line: (_request, status, { fields, reason }) => {
      const line = { ...fields, status, ...(reason ? { reason } : {}) };
      if (status >= 500) log.error(line, 'codec request');
      else if (status >= 400) log.warn(line, 'codec request');
      else log.info(line, 'codec request');
    },
    aborted: (_request, { fields }) => log.warn({ ...fields, reason: 'aborted' }, 'codec request'),
  });
  const finish = (reply: FastifyReply, status: number, body: object | string, headers?: Record<string, string>) => {
    const all = { ...of(reply.request).cors, ...headers };
    if (typeof body === 'string') return reply.code(status).headers(all).send(body);
    return sendJson(reply, status, body, all);
  };
  const refuse = (reply: FastifyReply, status: number, error: string, headers?: Record<string, string>) => {
    of(reply.request).reason = error;
    return finish(reply, status, { error }, headers);
  };

  // Everything a body is not needed for, in this order, before a byte of it is read (or invited with 100 Continue).
  async function precheck(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const { fields } = of(request);
    const path = request.url.split('?')[0];
    const method = request.method;
    const origin = request.headers.origin;
    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) return finish(reply, 200, 'ok\n');
    // The protocol: only the last path segment says which operation, so the server can sit under any prefix.
    const operation = fields.operation as Operation | 'healthz' | 'unknown';
    if (operation !== 'decode' && operation !== 'encode')
      return refuse(reply, 404, 'no such endpoint: POST …/decode or …/encode');
    // A page from any other origin is refused outright, preflight or not; tools without an Origin header go on.
    if (origin !== undefined && !origins.has(origin)) return refuse(reply, 403, 'origin not allowed');
    if (method === 'OPTIONS') {
      return finish(reply, 204, '', {
        Allow: 'POST, OPTIONS',
        ...(origin !== undefined
          ? {
              'Access-Control-Allow-Methods': 'POST, OPTIONS',
              'Access-Control-Allow-Headers': ALLOWED_HEADERS,
              'Access-Control-Max-Age': PREFLIGHT_MAX_AGE_S,
            }
          : {}),
      });
    }
    if (method !== 'POST') return refuse(reply, 405, 'only POST', { Allow: 'POST, OPTIONS' });
    // Authenticated before the body is looked at: a request without the token costs no reading and no parsing.
    const presented = presentedToken(request.headers.authorization, path);
    fields.auth = presented.via;
    if (!(sameSecret(presented.token, options.token) && presented.token.length > 0)) {
      return refuse(reply, 401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer realm="rotator-codec"' });
    }
    if (isCompressed(request)) return refuse(reply, 415, 'compressed bodies are not accepted');
    return undefined;
  }
  app.addHook('onRequest', async (request, reply) => {
    const refused = await precheck(request, reply);
    if (refused) return refused;
    // fastify checks the content type and the announced length next, then reads: only then is the body invited.
    inviteBodyWhenRead(request, reply);
  });
  answerFailures(app, {
    tooLarge: (reply) => refuse(reply, 413, `at most ${maxBody} bytes`),
    mediaType: (reply) => refuse(reply, 415, 'expected Content-Type: application/json'),
    invalid: (reply, field, message) => refuse(reply, 400, `${field || '(body)'}: ${message}`),
    refused: (reply, failure) => refuse(reply, failure.status, failure.message, failure.headers),
    internal: (reply, err) => {
      log.error({ error: err instanceof Error ? err.name : typeof err }, 'codec request failed unexpectedly');
      return finish(reply, 500, { error: 'internal error' }, { Connection: 'close' });
    },
  });

  jsonBody(app, '(body): not valid JSON');
  app.route({
    method: 'POST',
    url: '/*',
    schema: { body: payloadsSchema(maxPayloads) },
    handler: async (request, reply) => {
      const operation = of(request).fields.operation as Operation;
      const payloads = toPayloads(request.body);
      of(request).fields.payloads = payloads.length;
      const out: Payload[] = [];
      // One at a time, so a refusal names the payload; the codec's messages name key ids, never bytes.
      for (const [i, payload] of payloads.entries()) {
        try {
          out.push(...(await codec[operation]([payload])));
        } catch (err) {
          return refuse(reply, 400, `payloads[${i}]: ${shown(err instanceof Error ? err.message : 'codec failed', 300)}`);
        }
      }
      return finish(reply, 200, payloadsBody(out));
    },
  });

  const bound = await listen(
    app,
    host,
    port,
    (err) => new RotatorError('CONFIG_INVALID', `cannot listen on ${host}:${port} (${err.code ?? err.name})`, '--address'),
  );
  app.server.on('error', (err: NodeJS.ErrnoException) => log.error({ error: err.code ?? err.name }, 'codec server error'));
  const shownHost = bound.host.includes(':') ? `[${bound.host}]` : bound.host;

  return {
    url: `http${tls ? 's' : ''}://${shownHost}:${bound.port}`,
    address: bound,
    close: () => app.close(),
  };
}
