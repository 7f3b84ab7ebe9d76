// The `webhook` consumer plugin: a signed JSON POST per published version; a receiver that never accepts it fails the rotation.
//
// The request (the `alert` consumer sends the same, with type rotator.credential.alert):
//
//   POST <url>
//   Content-Type: application/json
//   X-Rotator-Event-Id: <id>                     the body's id: the same for every retry of one (rotation, version)
//   X-Rotator-Timestamp: <unix seconds>          when this attempt was signed
//   X-Rotator-Signature: v1=<hex HMAC-SHA256(signing key, "<X-Rotator-Timestamp>.<raw body>")>
//
//   {"id":"evt_…","type":"rotator.credential.rotated","secret":"orders_db","version":"7","login":"orders_app_b",
//    "rotation_id":"…","time":"2025-01-01T03:00:00.000Z"}
//
// References only: the secret's name, the version to read and the login, never a password or any store value. A
// receiver recomputes the HMAC over the raw bytes it got (before parsing JSON), compares in constant time, refuses
// timestamps far from its clock (replays), and drops ids it has seen (retries). The signing key is read from its store
// each time an event is sent, so a rotated key is used from the next event on; the plan holds only where it is.
import { z } from 'zod';
import { DURATION, parseDuration } from '../../../src/kernel/duration';
import { name, SECRET_REF } from '../../../src/config/fields';
import {
  CONSUMER_BUDGET_MS,
  type ConsumerContext,
  type ConsumerPlugin,
  type PreflightCheck,
  type ResolveReference,
} from '../../plugin';
import type { Consumer } from '../../types';

const DURATION_HINT = 'expected a duration like 500ms, 5s';
/**
 * Kept as written (`5s`), not as milliseconds: the block travels in the rotation plan and is checked there again with
 * this same schema.
 */
const durationText = z.string({ error: DURATION_HINT }).regex(DURATION, { message: DURATION_HINT });

/** Where the signing key is once the plan is made: a store location and the field, as `resolveReference` gives it. */
const KeyLocation = z
  .object({ provider: name, path: z.string().min(1), key: z.string().min(1, { message: 'expected the field holding the key' }) })
  .strict();

const KEY_HINT = 'expected a reference to the field holding the signing key, like secret://webhook_keys/orders';
const signingKey = z.union(
  [
    z
      .string()
      .regex(SECRET_REF, { message: KEY_HINT })
      .refine((ref) => !!SECRET_REF.exec(ref)?.[2], {
        message: `${KEY_HINT} (name the field: secret://<name>/<key>)`,
      }),
    KeyLocation,
  ],
  {
    error: (issue) =>
      issue.input === undefined
        ? `missing: the receiver checks every request's signature, so a signing key is required (${KEY_HINT})`
        : KEY_HINT,
  },
);

/** Set by rotator itself: a configured value would break the signature or the framing of the request. */
const RESERVED_HEADER =
  /^(x-rotator-.*|content-type|content-length|content-encoding|transfer-encoding|host|connection|keep-alive|upgrade|te|trailer|expect)$/i;
/** The config goes into the rotation plan, which Temporal keeps in history: no credential may ride along in a header. */
const CREDENTIAL_HEADER = /authorization|cookie|token|passw(or)?d|secret|key|credential/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// The URL itself is never quoted back: some receivers put a token in its path.
const URL_HINT = 'expected an http(s) URL, like https://hooks.example.com/rotator';
const ATTEMPTS_HINT = 'expected a whole number of attempts from 1 to 10';

/** The longest wait between two attempts: the doubling stops here. */
export const MAX_BACKOFF_MS = 5_000;

/** The fields `webhook` and `alert` share (`alert` is the same request whose failure is only logged). */
export const webhookFields = {
  /** Where the event is POSTed. Its origin names it in errors and logs; the rest of it (a path token) never does. */
  url: z
    .string({ error: URL_HINT })
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: URL_HINT, abort: true })
    .refine((u) => !new URL(u).username && !new URL(u).password, {
      message: 'must not carry a user or password: the URL is part of the rotation plan, which Temporal keeps in history',
    }),
  signing_key: signingKey,
  /** One attempt's limit, the answer's headers and the start of its body included. */
  timeout: durationText.default('5s'),
  attempts: z
    .number({ error: ATTEMPTS_HINT })
    .int({ message: ATTEMPTS_HINT })
    .min(1, { message: ATTEMPTS_HINT })
    .max(10, { message: ATTEMPTS_HINT })
    .default(4),
  /** The wait after the first failed attempt; it doubles after each one, up to MAX_BACKOFF_MS. */
  backoff: durationText.default('500ms'),
  headers: z.record(z.string(), z.string()).optional(),
};

const webhookObject = z.object({ type: z.literal('webhook'), ...webhookFields }).strict();
export type WebhookFields = Omit<z.infer<typeof webhookObject>, 'type'>;
/** A webhook or alert block as the implementation gets it: its signing key resolved (a plan's) or not yet (a config's). */
export type WebhookConfig = WebhookFields & { type: string };

/** The waits between attempts: backoff, doubled each time, at most MAX_BACKOFF_MS. */
export function backoffDelays(config: Pick<WebhookFields, 'attempts' | 'backoff'>): number[] {
  const first = parseDuration(config.backoff);
  return Array.from({ length: config.attempts - 1 }, (_, i) => Math.min(first * 2 ** i, MAX_BACKOFF_MS));
}

/** Every attempt running into its timeout, with every wait between them. */
export function worstCaseMs(config: WebhookConfig): number {
  return config.attempts * parseDuration(config.timeout) + backoffDelays(config).reduce((a, b) => a + b, 0);
}

/** 23500 → '23.5s', for a message a person reads. */
const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))}s`;

/** The checks a single field cannot make: reserved headers, and all attempts fitting in the consumer budget. */
export function checkWebhook(config: WebhookConfig, ctx: z.RefinementCtx): void {
  for (const [header, value] of Object.entries(config.headers ?? {})) {
    const why = !HEADER_NAME.test(header)
      ? 'is not a valid header name'
      : RESERVED_HEADER.test(header)
        ? 'is set by rotator (the signature covers the request as rotator builds it); choose another header'
        : CREDENTIAL_HEADER.test(header)
          ? 'looks like it carries a credential, which would be kept in Temporal history with the plan; the receiver ' +
            'authenticates rotator by X-Rotator-Signature instead'
          : /[\r\n\0]/.test(value)
            ? 'must be one line'
            : null;
    if (why) ctx.addIssue({ code: 'custom', path: ['headers', header], message: why });
  }
  if (parseDuration(config.timeout) === 0)
    ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be longer than 0ms' });
  const worst = worstCaseMs(config);
  if (worst > CONSUMER_BUDGET_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['timeout'],
      message:
        `attempts × timeout plus the waits between them come to ${seconds(worst)}, over the ` +
        `${seconds(CONSUMER_BUDGET_MS)} a secret's consumers get (the notify step's timeout less 5s for reading ` +
        'the key); lower timeout, attempts or backoff',
    });
  }
}

/** `secret://name/key` → where the key is kept; a location (from a plan) stays as it is. */
export function resolveSigningKey<C extends WebhookConfig>(config: C, ref: ResolveReference): C {
  const key = config.signing_key;
  return typeof key === 'string' ? { ...config, signing_key: ref(key, 'signing_key') } : config;
}

export const schema = webhookObject.superRefine(checkWebhook);

/** The shared implementation, with the event type and what a final failure does fixed per plugin. */
export async function createWebhookConsumer(
  config: WebhookConfig,
  context: ConsumerContext,
  behaviour: { eventType: string; onFailure: 'throw' | 'log' },
): Promise<Consumer> {
  const { WebhookConsumer } = await import('./webhook');
  return new WebhookConsumer(config, context, behaviour);
}

/**
 * `rotator plan` for a webhook-shaped consumer (./preflight.ts, loaded on first use): `failIs: 'warn'` for one whose
 * failure only logs (alert). Other plugins call this, never ./preflight itself.
 */
export async function preflightWebhook(
  config: WebhookConfig,
  context: ConsumerContext,
  failIs: 'fail' | 'warn' = 'fail',
): Promise<PreflightCheck[]> {
  return (await import('./preflight')).preflight(config, context, failIs);
}

export const webhook = {
  schema,
  l5Action: 'reconnect',
  system: 'webhook receiver',
  secretFields: ['signing_key'],
  resolve: resolveSigningKey,
  worstCaseMs,
  preflight: (config, context) => preflightWebhook(config, context),
  create: (config, context) =>
    createWebhookConsumer(config, context, { eventType: 'rotator.credential.rotated', onFailure: 'throw' }),
} satisfies ConsumerPlugin<z.infer<typeof schema>>;
