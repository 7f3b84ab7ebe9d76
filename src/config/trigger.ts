// The `triggers:` block: where rotation events come from (SQS, signed webhooks, cloud push endpoints) and the rules
// that map each event to one configured secret and an action. Read by `rotator listen` only.
import { z } from 'zod';
import { awsConnection, bothKeysOrNeither } from '../../activities/stores/aws-config';
import { duration, httpUrl, name } from './fields';

export const TRIGGER_ACTIONS = ['rotate', 'rotate-if-due', 'alert', 'reconcile'] as const;
export type TriggerAction = (typeof TRIGGER_ACTIONS)[number];

/** A shared secret a sender proves it holds; from the environment (`${VAR}`), never written inline in production. */
const sharedSecret = (what: string) =>
  z.string().min(16, { message: `expected ${what} of at least 16 characters (use \${VAR})` });

const SqsSourceSchema = z
  .object({
    type: z.literal('sqs'),
    /** The queue an EventBridge rule delivers to. */
    queue_url: httpUrl,
    ...awsConnection,
    /** Long-poll wait per receive (SQS allows 0–20 s). */
    wait: duration.pipe(z.number().max(20_000, { message: 'expected at most 20s (the SQS maximum)' })).default(20_000),
    /** How long a received message stays invisible to other listeners while it is handled. */
    visibility_timeout: duration.pipe(z.number().min(1_000).max(43_200_000)).default(60_000),
    /** After this many deliveries a message that still fails goes to the dead-letter queue. */
    max_receives: z.number().int().min(1).max(1000).default(5),
    /** Where such messages go (and messages that can never be read, at once); without one they are logged and dropped. */
    dead_letter_queue_url: httpUrl.optional(),
  })
  .strict()
  .superRefine(bothKeysOrNeither);

const WebhookSourceSchema = z
  .object({
    type: z.literal('webhook'),
    /** HMAC-SHA256 key: `X-Rotator-Signature: v1=<hex HMAC over "<X-Rotator-Timestamp>.<raw body>">`. */
    signing_key: sharedSecret('a signing key'),
    /** How far a request's timestamp may be from the listener's clock. */
    tolerance: duration.pipe(z.number().min(1_000).max(3_600_000)).default(300_000),
  })
  .strict();

const GcpSourceSchema = z
  .object({
    type: z.literal('gcp-pubsub'),
    /**
     * Pub/Sub push requests carry a Google-signed OIDC token that cannot be checked without reaching Google, so the
     * push endpoint's URL carries this shared token too (`?token=…`), compared in constant time.
     */
    token: sharedSecret('a token'),
  })
  .strict();

const AzureSourceSchema = z
  .object({
    type: z.literal('azure-event-grid'),
    /** Event Grid delivers to the URL as configured, query included: `?code=…` must carry this key. */
    key: sharedSecret('a key'),
  })
  .strict();

export const TriggerSourceSchema = z.discriminatedUnion('type', [
  SqsSourceSchema,
  WebhookSourceSchema,
  GcpSourceSchema,
  AzureSourceSchema,
]);

export const TriggerRuleSchema = z
  .object({
    source: name,
    /** The event's type as its sender names it (`RotateSecret`, `SECRET_ROTATE`, …); default: any. */
    event: z.string().min(1).optional(),
    /** The provider's id of the secret (an ARN, `projects/p/secrets/s`, a Key Vault secret id); `*` matches any run of characters. */
    resource: z.string().min(1).optional(),
    secret: name,
    action: z.enum(TRIGGER_ACTIONS, { message: `expected one of ${TRIGGER_ACTIONS.join(', ')}` }),
  })
  .strict();

export const TriggersSchema = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8088),
        /** Larger request bodies are refused (413) before they are read to the end. */
        max_body: z
          .number()
          .int()
          .min(256)
          .max(10 * 1024 * 1024)
          .default(64 * 1024),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8088, max_body: 64 * 1024 }),
    sources: z.record(name, TriggerSourceSchema),
    rules: z.array(TriggerRuleSchema).min(1, { message: 'expected at least one rule' }),
  })
  .strict()
  .superRefine((t, ctx) => {
    t.rules.forEach((rule, i) => {
      if (!t.sources[rule.source]) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'source'],
          message: `no source named ${JSON.stringify(rule.source)}; known: ${Object.keys(t.sources).join(', ') || '(none)'}`,
        });
      }
    });
  });

export type TriggersConfig = z.infer<typeof TriggersSchema>;
export type TriggerSource = z.infer<typeof TriggerSourceSchema>;
export type TriggerRule = z.infer<typeof TriggerRuleSchema>;
