// The three push sources `rotator listen` serves over HTTP: how each authenticates a delivery, and how an
// authenticated body is parsed (zod, the provider's documented shape) into TriggerEvents. No I/O here: src/listener/http.ts
// calls these in a fixed order (fastify reads the body only after checkRequest, its parser calls checkBody before
// JSON.parse, and the route validates with `schema`), so nothing below looks at a body that has not been authenticated.
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { signature, signatureMatches } from '../../activities/consumers/webhook/public';
import type { TriggerSource } from '../config/trigger';
import { assertNever } from '../kernel/errors';
import { header, sameSecret } from '../kernel/http-server';
import { printableText } from '../kernel/printable-text';
import { latestMoment, type DispatchOutcome, type TriggerEvent } from './events';

export type HttpSource = Extract<TriggerSource, { type: 'webhook' | 'gcp-pubsub' | 'azure-event-grid' }>;

export function isHttpSource(source: TriggerSource): source is HttpSource {
  return source.type === 'webhook' || source.type === 'gcp-pubsub' || source.type === 'azure-event-grid';
}

/** What of a request a source may look at before its body is read. */
export interface RequestParts {
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
}

/**
 * Why a request was refused. `reason` is for the log line only; the answer to every authentication failure is the
 * same, so a sender cannot tell a forged signature from a missing one, or a stale request from a forged one.
 */
export interface Refusal {
  status: 400 | 401;
  reason: string;
  message: string;
}

export type Parsed =
  | { kind: 'events'; events: TriggerEvent[] }
  /** Event Grid's subscription validation: answered with the code, nothing dispatched. */
  | { kind: 'handshake'; validationResponse: string }
  | { kind: 'invalid'; refusal: Refusal };

export interface Answer {
  status: number;
  body: { status: string; message?: string };
}

export interface HttpSourceHandler {
  /** Before the body is read: what the URL and the headers prove (a URL token), or that they cannot prove anything. */
  checkRequest(request: RequestParts): Refusal | null;
  /** After the body is read, before it is parsed: what needs the raw bytes (an HMAC, its timestamp). */
  checkBody(request: RequestParts, body: Buffer, now: number): Refusal | null;
  /** The body's shape, when one schema fits every delivery: the route validates the parsed JSON with it. */
  schema?: z.ZodType;
  /** Only for an authenticated delivery: the JSON, validated by `schema` when there is one. */
  parse(request: RequestParts, body: unknown): Parsed;
  /** What the sender is told once every event of the delivery was dispatched. */
  answer(outcomes: DispatchOutcome[]): Answer;
}

/** One answer for every authentication failure, whatever the reason. */
export const UNAUTHORIZED_MESSAGE = 'missing or invalid credentials';
const unauthorized = (reason: string): Refusal => ({ status: 401, reason, message: UNAUTHORIZED_MESSAGE });
const invalid = (message: string): Refusal => ({ status: 400, reason: 'invalid body', message });

/** The one value of a query parameter; a repeated one counts as none (which of them would be meant?). */
function single(query: URLSearchParams, key: string): string | null {
  const values = query.getAll(key);
  return values.length === 1 ? values[0] : null;
}

// Names and ids go into history and logs: every one is a printableText (no control, bidi or line-separator characters).

/** The schema, for a source whose deliveries have several shapes. zod's messages name the field, never the value. */
function validate<T extends z.ZodType>(
  json: unknown,
  schema: T,
): { ok: true; value: z.output<T> } | { ok: false; refusal: Refusal } {
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  return { ok: false, refusal: invalid(`${pathText(issue.path) || 'body'}: ${issue.message}`) };
}

/** `message.attributes.secretId`, `[0].data.Id`: the schemas declare no records, so every key here is one of ours. */
function pathText(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** RFC 3339, as every one of these senders writes it (Pub/Sub with up to nine fractional digits, Event Grid seven). */
const timestamp = z
  .string()
  .max(64)
  .refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && Number.isFinite(Date.parse(s)), { message: 'expected an RFC 3339 time' });

// ---------------------------------------------------------------------------------------------------------------------
// The generic webhook: rotator's own signature format (activities/consumers/webhook/index.ts documents it).

const TIMESTAMP_HEADER = 'x-rotator-timestamp';
const SIGNATURE_HEADER = 'x-rotator-signature';
const EVENT_ID_HEADER = 'x-rotator-event-id';

/** Other fields (rotator's own consumer sends `version`, `login`, `rotation_id`) are dropped unread. */
const WebhookBody = z.object({
  id: printableText(256),
  type: printableText(256),
  /** A secret's name or the provider's id of it: whatever the rules' `resource` patterns match. */
  secret: printableText(2048),
  time: timestamp.optional(),
});

function webhookHandler(sourceName: string, source: Extract<HttpSource, { type: 'webhook' }>): HttpSourceHandler {
  return {
    checkRequest({ headers }) {
      const ts = header(headers, TIMESTAMP_HEADER);
      const sig = header(headers, SIGNATURE_HEADER);
      if (ts === undefined || sig === undefined) return unauthorized('unsigned');
      if (!/^\d{1,12}$/.test(ts)) return unauthorized('malformed timestamp');
      return null;
    },
    checkBody({ headers }, body, now) {
      const ts = header(headers, TIMESTAMP_HEADER) ?? '';
      if (!signatureMatches(source.signing_key, ts, body, header(headers, SIGNATURE_HEADER) ?? '')) {
        return unauthorized('bad signature');
      }
      // Only a genuine signature gets here, so "stale" in the log means a replay or a skewed clock, never a forgery.
      if (Math.abs(now - Number(ts) * 1000) > source.tolerance) return unauthorized('stale timestamp');
      return null;
    },
    schema: WebhookBody,
    parse({ headers }, body) {
      const event = body as z.output<typeof WebhookBody>;
      const headerId = header(headers, EVENT_ID_HEADER);
      if (headerId === undefined) return { kind: 'invalid', refusal: invalid('the X-Rotator-Event-Id header is missing') };
      // The id header is not signed; the body is. Equal, the header may name the event (in proxies' logs, say).
      if (headerId !== event.id) return { kind: 'invalid', refusal: invalid('id: does not match X-Rotator-Event-Id') };
      const ts = Number(header(headers, TIMESTAMP_HEADER));
      // The body's own time decides which rotation answers the event: it may not stray from the signed timestamp.
      const time = event.time === undefined ? latestMoment(ts) : latestMoment(event.time);
      if (Math.abs(time - ts * 1000) > source.tolerance) {
        return { kind: 'invalid', refusal: invalid('time: further from X-Rotator-Timestamp than the tolerance') };
      }
      return {
        kind: 'events',
        events: [
          {
            source: sourceName,
            id: event.id,
            type: event.type,
            resource: event.secret,
            time,
          },
        ],
      };
    },
    answer([outcome]) {
      switch (outcome.status) {
        case 'started':
          return { status: 202, body: { status: 'started' } };
        // The dispatcher's dedupe (one workflow id per event id, kept after the listener restarts) is the replay check.
        case 'duplicate':
          return { status: 409, body: { status: 'duplicate', message: 'this event id was delivered before' } };
        case 'unmapped':
          return { status: 200, body: { status: 'unmapped', message: 'no rule maps this event; dropped' } };
        default:
          return assertNever(outcome);
      }
    },
  };
}

/**
 * The headers a sender adds to a POST of `body` to a `webhook` source (or to any receiver of rotator's webhook
 * consumer): the same signature the consumer makes. The event id header is the body's `id`.
 */
export function signWebhook(key: string, body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Rotator-Timestamp': String(timestamp),
    'X-Rotator-Signature': signature(key, timestamp, body),
  };
  try {
    const id = (JSON.parse(body) as { id?: unknown } | null)?.id;
    if (typeof id === 'string') headers['X-Rotator-Event-Id'] = id;
  } catch {
    // Not JSON: the caller sends what it wants; the listener will refuse it after checking the signature.
  }
  return headers;
}

// ---------------------------------------------------------------------------------------------------------------------
// GCP: a Pub/Sub push delivery of a Secret Manager event notification.

/**
 * The push request's wrapped form (the default; "payload unwrapping" sends no attributes in the body and is not
 * supported). `data` is the Secret resource, base64: not declared here, so zod drops it unread and undecoded.
 */
const PubSubPush = z.object({
  message: z.object({
    attributes: z.object({
      /** SECRET_ROTATE, SECRET_VERSION_ADD, SECRET_UPDATE, … */
      eventType: printableText(256),
      /** `projects/<project number>/secrets/<name>` */
      secretId: printableText(2048),
    }),
    messageId: printableText(256),
    publishTime: timestamp,
  }),
  subscription: printableText(2048),
});

function gcpHandler(sourceName: string, source: Extract<HttpSource, { type: 'gcp-pubsub' }>): HttpSourceHandler {
  return {
    // Google also sends `Authorization: Bearer <OIDC token>` when the subscription is set up for it. Checking it needs
    // Google's signing keys (fetched from Google) and the expected audience and service account; the listener checks
    // nothing online, so the shared token in the push URL is what authenticates. The bearer token is ignored.
    checkRequest({ query }) {
      const token = single(query, 'token');
      if (token === null) return unauthorized('no token');
      return sameSecret(token, source.token) ? null : unauthorized('wrong token');
    },
    checkBody: () => null,
    schema: PubSubPush,
    parse(_request, body) {
      const { message } = body as z.output<typeof PubSubPush>;
      return {
        kind: 'events',
        events: [
          {
            source: sourceName,
            id: message.messageId,
            type: message.attributes.eventType,
            resource: message.attributes.secretId,
            time: latestMoment(message.publishTime),
          },
        ],
      };
    },
    answer([outcome]) {
      switch (outcome.status) {
        case 'started':
          return { status: 202, body: { status: 'started' } };
        // Pub/Sub delivers at least once and redelivers anything but a 2xx: a duplicate is acknowledged, not refused.
        case 'duplicate':
          return { status: 200, body: { status: 'duplicate', message: 'this message was handled before' } };
        case 'unmapped':
          return { status: 200, body: { status: 'unmapped', message: 'no rule maps this event; dropped' } };
        default:
          return assertNever(outcome);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Azure: Event Grid (Event Grid event schema, not CloudEvents) delivering Key Vault events.

export const VALIDATION_EVENT = 'Microsoft.EventGrid.SubscriptionValidationEvent';

const ValidationDelivery = z
  .array(
    z.object({
      eventType: z.literal(VALIDATION_EVENT),
      data: z.object({ validationCode: z.string().regex(/^[\x21-\x7e]{1,256}$/, { message: 'expected a validation code' }) }),
    }),
  )
  .length(1);

/** Key Vault's data is PascalCase on the wire (`Id`, `VaultName`, `ObjectName`, `NBF`, `EXP`); only `Id` is kept. */
const NotificationDelivery = z
  .array(
    z.object({
      id: printableText(256),
      eventType: printableText(256),
      eventTime: timestamp,
      data: z.object({ Id: printableText(2048) }),
    }),
  )
  .min(1);

/** `https://<vault>.vault.azure.net/secrets/<name>/<version>` → without the version, so one rule matches every version. */
export function keyVaultObjectId(id: string): string {
  const match = /^(https:\/\/[^/?#]+\/(?:secrets|keys|certificates)\/[^/?#]+)\/[^/?#]+$/.exec(id);
  return match ? match[1] : id;
}

function azureHandler(sourceName: string, source: Extract<HttpSource, { type: 'azure-event-grid' }>): HttpSourceHandler {
  return {
    // Event Grid delivers to the URL as configured, query included; it signs nothing, and an Entra ID bearer token
    // (if the subscription is set up to send one) would need Microsoft's keys to check, which the listener does not fetch.
    checkRequest({ query }) {
      const code = single(query, 'code');
      if (code === null) return unauthorized('no key');
      return sameSecret(code, source.key) ? null : unauthorized('wrong key');
    },
    checkBody: () => null,
    parse({ headers }, body) {
      const kind = header(headers, 'aeg-event-type');
      if (kind === 'SubscriptionValidation') {
        const parsed = validate(body, ValidationDelivery);
        if (!parsed.ok) return { kind: 'invalid', refusal: parsed.refusal };
        return { kind: 'handshake', validationResponse: parsed.value[0].data.validationCode };
      }
      if (kind !== 'Notification') {
        return { kind: 'invalid', refusal: invalid('aeg-event-type: expected SubscriptionValidation or Notification') };
      }
      const parsed = validate(body, NotificationDelivery);
      if (!parsed.ok) return { kind: 'invalid', refusal: parsed.refusal };
      return {
        kind: 'events',
        events: parsed.value.map((e) => ({
          source: sourceName,
          id: e.id,
          type: e.eventType,
          resource: keyVaultObjectId(e.data.Id),
          time: latestMoment(e.eventTime),
        })),
      };
    },
    // Event Grid retries anything but a 2xx, so every handled event (a duplicate too) is a success.
    answer(outcomes) {
      const count = (s: DispatchOutcome['status']) => outcomes.filter((o) => o.status === s).length;
      return {
        status: 200,
        body: {
          status: 'accepted',
          message: `${outcomes.length} event(s): ${count('started')} started, ${count('duplicate')} seen before, ${count('unmapped')} unmapped`,
        },
      };
    },
  };
}

export function httpSourceHandler(sourceName: string, source: HttpSource): HttpSourceHandler {
  switch (source.type) {
    case 'webhook':
      return webhookHandler(sourceName, source);
    case 'gcp-pubsub':
      return gcpHandler(sourceName, source);
    case 'azure-event-grid':
      return azureHandler(sourceName, source);
    default:
      return assertNever(source);
  }
}
