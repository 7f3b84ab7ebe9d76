// The reconnect signal: rotator's webhook consumer POSTs a signed event when a rotation publishes; this checks it.
//
// Order (src/listener/http-sources.ts does the same for `rotator listen`): the signature headers must be there
// (onRequest, before a byte of the body is read), the body is read (at most MAX_BODY_BYTES, by fastify), the HMAC over
// "<X-Rotator-Timestamp>.<raw body>" must match in constant time and the timestamp must be within the tolerance (the
// body parser, over the raw bytes), and only then is the body parsed and validated (zod, through the type provider).
// Every authentication failure gets the same 401, so a sender cannot tell a forged signature from a stale one.
// A POST that announces no body is verified as the empty body it is (jsonBody's preValidation hook), and a body sent
// with `Expect: 100-continue` is invited only once the signature headers are there.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { signatureMatches } from '../../activities/consumers/webhook/public';
import {
  answerFailures,
  createHttpApp,
  header,
  HttpRefusal,
  inviteBodyWhenRead,
  jsonBody,
  sendJson,
} from '../kernel/http-server';
import { printableText } from '../kernel/printable-text';

export const MAX_BODY_BYTES = 64 * 1024;

/** rotator's event (activities/consumers/webhook/index.ts); other fields (login, rotation_id, time) are dropped. */
const ReconnectBody = z.object({
  id: printableText(256),
  type: printableText(256),
  secret: printableText(256),
  version: printableText(256).optional(),
});
export type ReconnectEvent = z.infer<typeof ReconnectBody>;

const UNAUTHORIZED = 'missing or invalid signature';
const unauthorized = (reason: string) => new HttpRefusal(401, UNAUTHORIZED, reason);

const headerOf = (request: FastifyRequest, name: string) => header(request.headers, name);

/** Where the signing key comes from: held a while, read again only when allowed (see SecretClient.reconnectHandler). */
export interface SigningKeys {
  /** The key held now (read first if none is held or the one held is past its hold time). */
  current(): Promise<string>;
  /**
   * After `current` did not match: the key read again (a rotated key is picked up), or null when it was read too
   * recently for a refused signature to make it read again.
   */
  reread(): Promise<string | null>;
}

export interface ReconnectOptions {
  keys: SigningKeys;
  now: () => number;
  toleranceMs: number;
  log: { warn(fields: object, msg: string): void };
  /** An authenticated event: what to answer (200 with this status), or a throw for 503 (rotator retries). */
  handle(event: ReconnectEvent): Promise<string>;
  maxConnections?: number;
}

/**
 * The reconnect signal's server (fastify; `listen` it, or hand its `routing` requests from another server): any path,
 * POST only. Nothing of the body is looked at before the signature matched.
 */
export function createReconnectApp(options: ReconnectOptions) {
  // With routeExpectContinue the body is invited (100 Continue) only once the signature headers are there.
  const app = createHttpApp({
    bodyLimit: MAX_BODY_BYTES,
    maxConnections: options.maxConnections,
    closeAllConnections: true,
    routeExpectContinue: true,
  });
  const answer = (reply: FastifyReply, status: number, body: Record<string, string>) => sendJson(reply, status, body);
  const refuse = (reply: FastifyReply, status: number, reason: string, message: string) => {
    options.log.warn({ reason, status }, 'reconnect event refused');
    return answer(reply, status, { status: 'refused', message });
  };

  answerFailures(app, {
    tooLarge: (reply) => refuse(reply, 413, 'body too large', `at most ${MAX_BODY_BYTES} bytes`),
    mediaType: (reply) => refuse(reply, 415, 'not JSON', 'expected application/json'),
    invalid: (reply, field, message) => refuse(reply, 400, 'invalid body', `${field || 'body'}: ${message}`),
    refused: (reply, failure) => refuse(reply, failure.status, failure.reason ?? failure.message, failure.message),
    internal: (reply, err) => {
      options.log.warn({ code: (err as { code?: unknown }).code }, 'reconnect event not handled');
      return answer(reply, 503, { status: 'unavailable' });
    },
  });
  // Before a byte of the body is read: the method and the signature headers.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST') return refuse(reply, 405, 'not a POST', 'expected POST');
    const ts = headerOf(request, 'x-rotator-timestamp');
    const sig = headerOf(request, 'x-rotator-signature');
    if (ts === undefined || sig === undefined) return refuse(reply, 401, 'unsigned', UNAUTHORIZED);
    if (!/^\d{1,12}$/.test(ts)) return refuse(reply, 401, 'malformed timestamp', UNAUTHORIZED);
    inviteBodyWhenRead(request, reply);
  });
  // The signature over the raw bytes, whatever their declared type (rotator's consumer sends application/json).
  jsonBody(
    app,
    'the body is not valid JSON',
    async (request, raw) => {
      const ts = headerOf(request, 'x-rotator-timestamp') ?? '';
      const sig = headerOf(request, 'x-rotator-signature') ?? '';
      const held = await options.keys.current();
      if (!signatureMatches(held, ts, raw, sig)) {
        const again = await options.keys.reread();
        if (again === null || again === held || !signatureMatches(again, ts, raw, sig)) throw unauthorized('bad signature');
      }
      if (Math.abs(options.now() - Number(ts) * 1000) > options.toleranceMs) throw unauthorized('stale timestamp');
    },
    { anyContentType: true },
  );
  app.route({
    // Other methods find no route; the onRequest hook refuses them first.
    method: 'POST',
    url: '/*',
    schema: { body: ReconnectBody },
    handler: async (request, reply) => {
      const event = request.body;
      const id = headerOf(request, 'x-rotator-event-id');
      if (id !== undefined && id !== event.id) return refuse(reply, 400, 'invalid body', 'id: does not match X-Rotator-Event-Id');
      return answer(reply, 200, { status: await options.handle(event) });
    },
  });
  return app;
}
