// The HTTP side of `rotator listen`: health endpoints, and one POST endpoint per push source whose requests all go
// through the same checks in the same order, so that nothing from the network is parsed before it is authenticated.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TriggersConfig } from '../config/trigger';
import { RotatorError } from '../kernel/errors';
import type { Logger } from '../kernel/log';
import { shown } from './dispatch';
import type { Dispatch, DispatchOutcome, TriggerEvent } from './events';
import { httpSourceHandler, isHttpSource, type HttpSourceHandler, type RequestParts } from './http-sources';
import { RECORD } from './records';
import { hasBody, isJson, readBody, send, type Reply } from '../kernel/http-io';

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
/** A whole request, body included, must arrive within this: a slow sender holds a socket no longer. */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
/** How many of a batch's events one log line lists (Event Grid batches; the count is always there). */
const LOGGED_EVENTS = 10;

/** One log line per request: names and ids only, each bounded and printable. Never a header, the query or the body. */
type LogFields = Record<string, unknown>;

export async function startHttpListener(
  triggers: TriggersConfig,
  dispatch: Dispatch,
  options: HttpListenerOptions,
): Promise<HttpListener> {
  const { log, ready } = options;
  const { host, port, max_body: maxBody } = triggers.listen;
  // A Map, not the config object: a source named by the request is looked up among own entries only.
  const handlers = new Map<string, HttpSourceHandler>();
  for (const [name, source] of Object.entries(triggers.sources)) {
    if (isHttpSource(source)) handlers.set(name, httpSourceHandler(name, source));
  }

  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ error: err instanceof Error ? err.name : typeof err }, 'webhook request failed unexpectedly');
      if (!res.headersSent) send(req, res, { status: 500, body: { status: 'error' } }, false);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? '';

    if (path === '/healthz' || path === '/readyz') {
      const reply = health(path, method);
      log.debug({ path, status: reply.status }, 'health request');
      send(req, res, reply, false);
      return;
    }

    const name = path.startsWith(HOOKS_PREFIX) ? path.slice(HOOKS_PREFIX.length) : null;
    const handler = name === null ? undefined : handlers.get(name);
    const fields: LogFields = name === null ? { path: shown(path, 64) } : { source: shown(name, 64) };
    fields.remote = req.socket.remoteAddress;
    let bodyRead = false;
    const finish = (reply: Reply, reason?: string) => {
      const line = { ...fields, method: shown(method, 16), status: reply.status, ...(reason ? { reason } : {}) };
      if (reply.status >= 500) log.error(line, RECORD.webhookRequest);
      else if (reply.status >= 400) log.warn(line, RECORD.webhookRequest);
      else log.info(line, RECORD.webhookRequest);
      send(req, res, reply, !bodyRead && hasBody(req));
    };
    const refuse = (status: number, statusText: string, message: string, headers?: Record<string, string>) =>
      finish({ status, body: { status: statusText, message }, headers }, message);

    // (1) route and method
    if (!handler) return refuse(404, 'not found', 'no such endpoint');
    if (method !== 'POST') return refuse(405, 'method not allowed', 'only POST', { Allow: 'POST' });
    // (2) content type: JSON only. Event Grid's CloudEvents schema (application/cloudevents+json, and the OPTIONS
    // handshake that comes with it) is refused for now: subscribe with the Event Grid event schema.
    if (!isJson(req.headers['content-type'])) return refuse(415, 'unsupported media type', 'expected application/json');
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      return refuse(415, 'unsupported media type', 'compressed bodies are not accepted');
    }
    // (3) size, as announced
    const announced = req.headers['content-length'];
    if (announced !== undefined && Number(announced) > maxBody) return refuse(413, 'too large', `at most ${maxBody} bytes`);
    // (4) authentication: what the URL and headers prove (a URL token), before a byte of the body is read…
    const parts: RequestParts = { headers: req.headers, query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)) };
    const early = handler.checkRequest(parts);
    if (early) return finish({ status: early.status, body: { status: 'unauthorized', message: early.message } }, early.reason);
    // (3) size, as streamed
    const body = await readBody(req, maxBody);
    if (body === 'too large') return refuse(413, 'too large', `at most ${maxBody} bytes`);
    if (body === 'aborted') {
      log.warn({ ...fields, method: shown(method, 16), reason: 'aborted' }, RECORD.webhookRequest);
      return;
    }
    bodyRead = true;
    // (4) …and what needs the raw bytes (an HMAC), still before any JSON.parse
    const late = handler.checkBody(parts, body, Date.now());
    if (late) return finish({ status: late.status, body: { status: 'unauthorized', message: late.message } }, late.reason);
    // (5) parse into the provider's shape
    const parsed = handler.parse(parts, body);
    if (parsed.kind === 'invalid') return refuse(400, 'invalid', parsed.refusal.message);
    if (parsed.kind === 'handshake') {
      fields.handshake = true;
      return finish({ status: 200, body: { validationResponse: parsed.validationResponse } });
    }
    // (6) dispatch, in order; one that cannot be handed on makes the sender retry the delivery (the others dedupe)
    Object.assign(fields, eventFields(parsed.events));
    const outcomes: DispatchOutcome[] = [];
    for (const event of parsed.events) {
      try {
        outcomes.push(await dispatch(event));
      } catch (err) {
        const error = err instanceof Error ? shown(err.message, 200) : 'dispatch failed';
        return finish(
          {
            status: 503,
            body: { status: 'unavailable', message: 'the event could not be handed on; retry later' },
            headers: { 'Retry-After': '30' },
          },
          error,
        );
      }
    }
    fields.outcome = outcomes.length === 1 ? outcomes[0].status : outcomes.map((o) => o.status);
    // (7) respond
    finish(handler.answer(outcomes));
  }

  function health(path: string, method: string): Reply {
    if (method !== 'GET' && method !== 'HEAD')
      return { status: 405, body: 'method not allowed\n', headers: { Allow: 'GET, HEAD' } };
    if (path === '/healthz') return { status: 200, body: 'ok\n' };
    let isReady = false;
    try {
      isReady = ready();
    } catch {
      isReady = false;
    }
    return isReady ? { status: 200, body: 'ready\n' } : { status: 503, body: 'not ready\n' };
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new RotatorError('CONFIG_INVALID', `cannot listen on ${host}:${port} (${err.code ?? err.name})`, 'triggers.listen'));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err: NodeJS.ErrnoException) => log.error({ error: err.code ?? err.name }, 'webhook server error'));
  const bound = server.address() as AddressInfo;

  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function eventFields(events: TriggerEvent[]): LogFields {
  const one = (e: TriggerEvent) => ({ eventId: shown(e.id), type: shown(e.type), resource: shown(e.resource) });
  if (events.length === 1) return one(events[0]);
  return { count: events.length, events: events.slice(0, LOGGED_EVENTS).map(one) };
}
