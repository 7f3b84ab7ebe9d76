// The HTTP side of `rotator listen`: health endpoints, and one POST endpoint per push source whose requests all go
// through the same checks in the same order, so that nothing from the network is parsed before it is authenticated.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TriggersConfig } from '../config/trigger';
import { RotatorError } from '../kernel/errors';
import {
  announcedTooLarge,
  createHttpApp,
  answerFailures,
  getOnly,
  isCompressed,
  jsonBody,
  listen,
  MAX_CONNECTIONS,
  requestLog,
  sendJson,
  HttpRefusal,
  inviteBodyWhenRead,
  type RequestRecord,
} from '../kernel/http-server';
import type { Logger } from '../kernel/log';
import { shown } from '../kernel/printable';
import type { Dispatch, DispatchOutcome, TriggerEvent } from './events';
import { httpSourceHandler, isHttpSource, type Refusal, type RequestParts } from './http-sources';
import { RECORD } from './records';

export { signWebhook } from './http-sources';

export interface HttpListener {
  address: { host: string; port: number };
  /** Stops accepting connections, closes idle ones, and resolves once the requests in flight were answered. */
  close(): Promise<void>;
}

export interface HttpListenerOptions {
  log: Logger;
  /** `/readyz` answers 200 while this holds (the other sources are up), 503 otherwise. */
  ready: () => boolean;
}

export const HOOKS_PREFIX = '/hooks/';
/** How many of a batch's events one log line lists (Event Grid batches; the count is always there). */
const LOGGED_EVENTS = 10;
const OTHER_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];

/** One log line per request: names and ids only, each bounded and printable. Never a header, the query or the body. */
type LogFields = Record<string, unknown>;

const STATUS_TEXT: Record<number, string> = {
  400: 'invalid',
  401: 'unauthorized',
  404: 'not found',
  405: 'method not allowed',
  413: 'too large',
  415: 'unsupported media type',
};

export async function startHttpListener(
  triggers: TriggersConfig,
  dispatch: Dispatch,
  options: HttpListenerOptions,
): Promise<HttpListener> {
  const { log, ready } = options;
  const { host, port, max_body: maxBody } = triggers.listen;
  const app = createHttpApp({
    bodyLimit: maxBody,
    maxConnections: MAX_CONNECTIONS,
    // Without it Node answers 100 Continue itself, before the token or signature headers were looked at.
    routeExpectContinue: true,
    // A path that is not percent-encoding names no source.
    onBadUrl: async (request, reply) => {
      line(request).fields.path = shown(request.url.split('?')[0], 64);
      logWhenSent(request, reply);
      reply.header('Cache-Control', 'no-store').header('Connection', 'close');
      return refuse(reply, 404, 'no such endpoint');
    },
  });
  // What each request's log line says, and why it was refused (the answer to a refusal says less).
  const { of: line, logWhenSent } = requestLog(app, {
    start: (): RequestRecord => ({ fields: {} }),
    line: (request, status, { fields, reason }) => {
      if (fields.health) {
        log.debug({ path: fields.path, status }, 'health request');
        return;
      }
      const entry = { ...fields, method: shown(request.method, 16), status, ...(reason ? { reason } : {}) };
      if (status >= 500) log.error(entry, RECORD.webhookRequest);
      else if (status >= 400) log.warn(entry, RECORD.webhookRequest);
      else log.info(entry, RECORD.webhookRequest);
    },
    aborted: (request, { fields }) =>
      log.warn({ ...fields, method: shown(request.method, 16), reason: 'aborted' }, RECORD.webhookRequest),
  });
  const parts = (request: FastifyRequest): RequestParts => {
    const url = request.url;
    const q = url.indexOf('?');
    return { headers: request.headers, query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)) };
  };
  const refuse = (reply: FastifyReply, status: number, message: string, reason?: string, headers?: Record<string, string>) => {
    line(reply.request).reason = reason ?? message;
    return sendJson(reply, status, { status: STATUS_TEXT[status] ?? 'error', message }, headers);
  };
  const unauthorized = (reply: FastifyReply, refusal: Refusal) => refuse(reply, refusal.status, refusal.message, refusal.reason);

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    const name = path.startsWith(HOOKS_PREFIX) ? path.slice(HOOKS_PREFIX.length) : null;
    const { fields } = line(request);
    if (name === null) fields.path = shown(path, 64);
    else fields.source = shown(name, 64);
    fields.remote = request.socket.remoteAddress;
    if (request.is404) return refuse(reply, 404, 'no such endpoint');
  });
  answerFailures(app, {
    tooLarge: (reply) => refuse(reply, 413, `at most ${maxBody} bytes`),
    // Event Grid's CloudEvents schema (application/cloudevents+json, and the OPTIONS handshake that comes with it)
    // is refused for now: subscribe with the Event Grid event schema.
    mediaType: (reply) => refuse(reply, 415, 'expected application/json'),
    invalid: (reply, field, message) => refuse(reply, 400, `${field || 'body'}: ${message}`, 'invalid body'),
    refused: (reply, failure) => refuse(reply, failure.status, failure.message, failure.reason, failure.headers),
    internal: (reply, err) => {
      log.error({ error: err instanceof Error ? err.name : typeof err }, 'webhook request failed unexpectedly');
      return sendJson(reply, 500, { status: 'error' });
    },
  });

  for (const path of ['/healthz', '/readyz']) {
    app.route({
      method: ['GET', 'HEAD'],
      url: path,
      handler: async (request, reply) => {
        line(request).fields.health = true;
        if (path === '/healthz') return reply.send('ok\n');
        let isReady = false;
        try {
          isReady = ready();
        } catch {
          isReady = false;
        }
        return isReady ? reply.send('ready\n') : reply.code(503).send('not ready\n');
      },
    });
    getOnly(app, path, (request) => {
      line(request).fields.health = true;
    });
  }

  for (const [name, source] of Object.entries(triggers.sources)) {
    if (!isHttpSource(source)) continue;
    const handler = httpSourceHandler(name, source);
    const url = `${HOOKS_PREFIX}${name}`;
    app.route({
      method: OTHER_METHODS,
      url,
      onRequest: async (_request, reply) => refuse(reply, 405, 'only POST', undefined, { Allow: 'POST' }),
      handler: async () => undefined,
    });
    // Each source in its own scope: its body parser checks what needs the raw bytes (an HMAC) before any JSON.parse.
    app.register(async (scope) => {
      jsonBody(scope, 'the body is not valid JSON', (request, raw) => {
        const late = handler.checkBody(parts(request), raw, Date.now());
        if (late) throw new HttpRefusal(late.status, late.message, late.reason);
      });
      scope.route({
        method: 'POST',
        url,
        schema: handler.schema ? { body: handler.schema } : undefined,
        // Before a byte of the body is read: the size as announced, compression, and what the URL and headers prove.
        onRequest: async (request, reply) => {
          if (announcedTooLarge(request, maxBody)) return refuse(reply, 413, `at most ${maxBody} bytes`);
          if (isCompressed(request)) return refuse(reply, 415, 'compressed bodies are not accepted');
          const early = handler.checkRequest(parts(request));
          if (early) return unauthorized(reply, early);
          inviteBodyWhenRead(request, reply);
        },
        handler: async (request, reply) => {
          const { fields } = line(request);
          // Parse into the provider's shape: the schema validated it; what needs the headers too is checked here.
          const parsed = handler.parse(parts(request), request.body);
          if (parsed.kind === 'invalid') return refuse(reply, 400, parsed.refusal.message, parsed.refusal.reason);
          if (parsed.kind === 'handshake') {
            fields.handshake = true;
            return sendJson(reply, 200, { validationResponse: parsed.validationResponse });
          }
          // Dispatch, in order; one that cannot be handed on makes the sender retry the delivery (the others dedupe).
          Object.assign(fields, eventFields(parsed.events));
          const outcomes: DispatchOutcome[] = [];
          for (const event of parsed.events) {
            try {
              outcomes.push(await dispatch(event));
            } catch (err) {
              line(request).reason = err instanceof Error ? shown(err.message, 200) : 'dispatch failed';
              return sendJson(
                reply,
                503,
                { status: 'unavailable', message: 'the event could not be handed on; retry later' },
                { 'Retry-After': '30' },
              );
            }
          }
          fields.outcome = outcomes.length === 1 ? outcomes[0].status : outcomes.map((o) => o.status);
          const answer = handler.answer(outcomes);
          return sendJson(reply, answer.status, answer.body);
        },
      });
    });
  }

  const address = await listen(
    app,
    host,
    port,
    (err) => new RotatorError('CONFIG_INVALID', `cannot listen on ${host}:${port} (${err.code ?? err.name})`, 'triggers.listen'),
  );
  app.server.on('error', (err: NodeJS.ErrnoException) => log.error({ error: err.code ?? err.name }, 'webhook server error'));

  return { address, close: () => app.close() };
}

function eventFields(events: TriggerEvent[]): LogFields {
  const one = (e: TriggerEvent) => ({ eventId: shown(e.id), type: shown(e.type), resource: shown(e.resource) });
  if (events.length === 1) return one(events[0]);
  return { count: events.length, events: events.slice(0, LOGGED_EVENTS).map(one) };
}
