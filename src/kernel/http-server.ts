// rotator's HTTP servers (the listener's webhooks, the codec server, the metrics endpoint, the reader library's
// webhook receiver (src/reader/webhook-receiver.ts)) on fastify, made one way: no fastify logger (each server logs its
// own line, never a header, the query or a body), request and header timeouts, a body limit, JSON bodies only, read as raw bytes so that a
// signature is checked over them before anything parses them, zod schemas through the type provider, and answers
// that never echo the request.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { printable } from './printable';

/** A whole request, body included, must arrive within this: a slow sender holds a socket no longer. */
export const REQUEST_TIMEOUT_MS = 30_000;
export const HEADERS_TIMEOUT_MS = 10_000;
/** Connections one server holds at once (Node refuses the next one): a flood of idle sockets exhausts no file limit. */
export const MAX_CONNECTIONS = 256;

export type HttpApp = ReturnType<typeof createHttpApp>;

export interface HttpAppOptions {
  /** Largest request body, in bytes (a route may set its own). */
  bodyLimit: number;
  /** PEM certificate and key: serve https. */
  tls?: { cert: Buffer; key: Buffer };
  maxConnections?: number;
  /** On close, end every connection at once rather than wait for the requests in flight (a library's listener). */
  closeAllConnections?: boolean;
  /**
   * Requests with `Expect: 100-continue` are routed like any other instead of Node answering 100 Continue before a
   * header was looked at; the body is invited (`inviteBody`) only when fastify starts to read it, that is after every
   * check that needs no body (route, hooks, content type, announced length) passed.
   */
  routeExpectContinue?: boolean;
  /**
   * A path that is not valid percent-encoding (`/%zz`): no route and no hook sees it, and fastify's own answer would
   * quote the path (which may hold a token). By default a bare 404; the server's own answer must log itself.
   */
  onBadUrl?: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** `application/json`, with at most a UTF-8 charset among its parameters (as fastify normalises the header). */
export const JSON_CONTENT_TYPE = /^application\/json(?:; (?:charset="utf-8"|(?!charset=)[^=;]+="[^"]*"))*$/i;

/** Makes the server (not listening yet); throws what `https.createServer` throws for a certificate it cannot use. */
export function createHttpApp(options: HttpAppOptions) {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    forceCloseConnections: options.closeAllConnections ? true : 'idle',
    // HEAD is answered where a route says so, not by a GET route's twin.
    exposeHeadRoutes: false,
    frameworkErrors: (err, request, reply: FastifyReply) => {
      const badUrl = err.code === 'FST_ERR_BAD_URL';
      const answer = async () => {
        if (badUrl && options.onBadUrl) return options.onBadUrl(request, reply);
        return reply
          .code(badUrl ? 404 : 500)
          .header('Cache-Control', 'no-store')
          .send(badUrl ? 'not found\n' : 'internal error\n');
      };
      answer().catch(() => reply.raw.destroy());
    },
    serverFactory: (handler) => {
      const timeouts = { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS };
      const server = options.tls
        ? // fastify treats both alike; the type parameter is the plain server's.
          (createHttpsServer({ ...timeouts, cert: options.tls.cert, key: options.tls.key }, handler) as unknown as Server)
        : createHttpServer(timeouts, handler);
      if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
      return server;
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  if (options.routeExpectContinue) app.server.on('checkContinue', (req, res) => app.routing(req, res));
  // Only JSON, kept as raw bytes: a route's parser (jsonBody) authenticates them before they are parsed.
  app.removeAllContentTypeParsers();
  app.addHook('onSend', async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    reply.header('X-Content-Type-Options', 'nosniff');
    // A body left unread: the connection closes, so what the sender still sends is not read.
    if (request.body === undefined && hasBody(request.raw)) reply.header('Connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.getHeader('Connection') === 'close') request.raw.destroy();
  });
  return app;
}

/** A header's one value (a repeated header counts as none). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A presented secret (token, key) against the expected one, in constant time: compared through their SHA-256
 * digests, equal-length buffers whatever was sent, so neither the bytes nor the length leak through timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Answers 405 (`Allow: GET, HEAD`) to any other method on a GET-only `url`; `seen` runs first (e.g. to mark the log line). */
export function getOnly(app: { route: FastifyInstance['route'] }, url: string, seen?: (request: FastifyRequest) => void): void {
  app.route({
    method: ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'],
    url,
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      seen?.(request);
      return reply.code(405).header('Allow', 'GET, HEAD').send('method not allowed\n');
    },
    handler: async () => undefined,
  });
}

/** Whether the sender announced a body. */
export function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** The refusal a route's checks raise (in a hook, or a body parser); the server's error handler answers it. */
export class HttpRefusal extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** For the log line only. */
    readonly reason?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** The requests whose body went through a route's `verify` (set by jsonBody's parser, read by its preValidation hook). */
const verifiedBodies = new WeakSet<FastifyRequest>();

/**
 * Parses JSON bodies for the routes registered after it (in its scope): `verify` first looks at the raw bytes (an
 * HMAC) and may refuse them, then JSON.parse; the route's zod schema validates what it returns.
 *
 * A request that announces no body (no Content-Length nor Transfer-Encoding, or no Content-Type) never reaches a
 * content-type parser: with `verify`, a preValidation hook then verifies the empty body it has, so a route whose
 * verify checks a signature refuses made-up signature headers as it would over any other body.
 */
export function jsonBody(
  app: { addContentTypeParser: FastifyInstance['addContentTypeParser']; addHook: FastifyInstance['addHook'] },
  notJson: string,
  verify?: (request: FastifyRequest, raw: Buffer) => Promise<void> | void,
  options: { anyContentType?: boolean } = {},
): void {
  app.addContentTypeParser(
    options.anyContentType ? '*' : JSON_CONTENT_TYPE,
    { parseAs: 'buffer' },
    async (request: FastifyRequest, raw: Buffer | string) => {
      const bytes = typeof raw === 'string' ? Buffer.from(raw) : raw;
      await verify?.(request, bytes);
      verifiedBodies.add(request);
      try {
        return JSON.parse(bytes.toString('utf8')) as unknown;
      } catch {
        // JSON.parse's own message would quote the body.
        throw new HttpRefusal(400, notJson, 'invalid body');
      }
    },
  );
  if (!verify) return;
  app.addHook('preValidation', async (request: FastifyRequest) => {
    if (!verifiedBodies.has(request)) await verify(request, Buffer.alloc(0));
  });
}

/** The answer to a request whose body was not read before its refusal: Content-Length announced beyond the limit. */
export function announcedTooLarge(request: FastifyRequest, limit: number): boolean {
  const announced = request.headers['content-length'];
  return announced !== undefined && Number(announced) > limit;
}

/** A compressed body is refused (its size and bytes would not be what the limit and the signature cover). */
export function isCompressed(request: FastifyRequest): boolean {
  const encoding = request.headers['content-encoding'];
  return encoding !== undefined && encoding.toLowerCase() !== 'identity';
}

/** What went wrong, as the servers word it: fastify's and the zod type provider's errors, and HttpRefusal. */
export type Failure =
  | { status: 413; kind: 'too large' }
  | { status: 415; kind: 'media type' }
  /** `field` is '' for the body itself. */
  | { status: 400; kind: 'invalid'; field: string; message: string }
  | { status: number; kind: 'refused'; message: string; reason?: string; headers?: Record<string, string> }
  | { status: 500; kind: 'internal' };

/** How much of a field's path an answer or a log line shows. */
const MAX_FIELD_PATH = 120;

export function failureOf(err: unknown, request: FastifyRequest): Failure {
  if (err instanceof HttpRefusal) {
    return { status: err.statusCode, kind: 'refused', message: err.message, reason: err.reason, headers: err.headers };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issue = err.validation[0];
    return {
      status: 400,
      kind: 'invalid',
      // A record's key is the sender's text: bounded and printable, for every server's answer and log line.
      field: printable(fieldPath(issue.instancePath, request.body), MAX_FIELD_PATH),
      message: issue.message ?? 'invalid',
    };
  }
  const code = (err as { code?: unknown }).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, kind: 'too large' };
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { status: 415, kind: 'media type' };
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return { status: 400, kind: 'invalid', field: '', message: 'not as long as Content-Length says' };
  }
  return { status: 500, kind: 'internal' };
}

/** What a server answers for each kind of Failure (the error handler every server sets, through answerFailures). */
export interface FailureAnswers {
  tooLarge(reply: FastifyReply): FastifyReply;
  mediaType(reply: FastifyReply): FastifyReply;
  /** `field` is '' for the body itself. */
  invalid(reply: FastifyReply, field: string, message: string): FastifyReply;
  refused(reply: FastifyReply, failure: Extract<Failure, { kind: 'refused' }>): FastifyReply;
  /** Anything else: `err` is for a log line (its name or code), never for the answer. */
  internal(reply: FastifyReply, err: unknown): FastifyReply;
}

/** Sets the server's error handler: the thrown error as a Failure, answered as `answers` words it. */
export function answerFailures(app: { setErrorHandler: HttpApp['setErrorHandler'] }, answers: FailureAnswers): void {
  app.setErrorHandler(async (err, request, reply) => {
    const failure = failureOf(err, request);
    switch (failure.kind) {
      case 'too large':
        return answers.tooLarge(reply);
      case 'media type':
        return answers.mediaType(reply);
      case 'invalid':
        return answers.invalid(reply, failure.field, failure.message);
      case 'refused':
        return answers.refused(reply, failure);
      default:
        return answers.internal(reply, err);
    }
  });
}

/** What a server keeps of a request for its log line (names and ids, bounded), and why it was refused. */
export interface RequestRecord {
  fields: Record<string, unknown>;
  reason?: string;
  answered?: boolean;
}

/**
 * Each request's record, made by `start` when first asked for; `line` logs it once the request was answered, and
 * `aborted` when the sender went away before an answer (a refused request whose socket was closed is not that).
 * `logWhenSent` is for an answer no hook sees (a bad URL's).
 */
export function requestLog<R extends RequestRecord>(
  app: Pick<HttpApp, 'addHook'>,
  options: {
    start: (request: FastifyRequest) => R;
    line: (request: FastifyRequest, status: number, record: R) => void;
    aborted: (request: FastifyRequest, record: R) => void;
  },
): { of: (request: FastifyRequest) => R; logWhenSent: (request: FastifyRequest, reply: FastifyReply) => void } {
  const records = new WeakMap<FastifyRequest, R>();
  const of = (request: FastifyRequest): R => {
    let found = records.get(request);
    if (!found) records.set(request, (found = options.start(request)));
    return found;
  };
  app.addHook('onSend', async (request: FastifyRequest) => {
    of(request).answered = true;
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) =>
    options.line(request, reply.statusCode, of(request)),
  );
  app.addHook('onRequestAbort', async (request: FastifyRequest) => {
    if (!of(request).answered) options.aborted(request, of(request));
  });
  return {
    of,
    logWhenSent: (request, reply) => {
      reply.raw.once('finish', () => options.line(request, reply.statusCode, of(request)));
    },
  };
}

/**
 * `message.attributes.secretId`, `[0].data.Id`, `payloads[1].metadata.encoding`, or '' for the body itself: the
 * validation error's pointer, with an index written as one where the body holds an array.
 */
function fieldPath(pointer: string, body: unknown): string {
  let node: unknown = body;
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    if (part === '') continue;
    if (Array.isArray(node)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
  }
  return out;
}

/** JSON with exactly `application/json` (fastify would add a charset to the type of an object it serialises). */
export function sendJson(reply: FastifyReply, status: number, body: object, headers: Record<string, string> = {}): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type('application/json')
    .send(Buffer.from(JSON.stringify(body)));
}

/**
 * Invites the body of a request sent with `Expect: 100-continue` once something reads it: fastify does so only after
 * the content type and the announced length passed, and never once the request was answered.
 */
export function inviteBodyWhenRead(request: FastifyRequest, reply: FastifyReply): void {
  if (!/100-continue/i.test(request.headers.expect ?? '')) return;
  request.raw.once('resume', () => {
    if (!reply.raw.headersSent) reply.raw.writeContinue();
  });
}

/** Listens; `describe` turns the system's error (EADDRINUSE, …) into the caller's. Returns where it listens. */
export async function listen(
  app: { listen: FastifyInstance['listen']; server: Server },
  host: string,
  port: number,
  describe: (err: NodeJS.ErrnoException) => Error,
): Promise<{ host: string; port: number }> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw describe(err as NodeJS.ErrnoException);
  }
  const bound = app.server.address() as AddressInfo;
  return { host: bound.address, port: bound.port };
}
