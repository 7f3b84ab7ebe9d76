// The `alert` consumer plugin: the webhook's signed POST (type rotator.credential.alert), for a receiver that only
// informs people: a failure after its retries is logged and the rotation goes on. Request format: ../webhook/index.ts.
import { z } from 'zod';
import type { ConsumerPlugin } from '../../plugin';
import { checkWebhook, createWebhookConsumer, preflightWebhook, resolveSigningKey, webhookFields, worstCaseMs } from '../webhook';

export const schema = z
  .object({ type: z.literal('alert'), ...webhookFields })
  .strict()
  .superRefine(checkWebhook);

export const alert = {
  schema,
  l5Action: 'alert',
  system: 'webhook receiver',
  secretFields: ['signing_key'],
  resolve: resolveSigningKey,
  worstCaseMs,
  // An alert's failure only logs: what would stop a webhook is a ⚠ here.
  preflight: (config, context) => preflightWebhook(config, context, 'warn'),
  create: (config, context) =>
    createWebhookConsumer(config, context, { eventType: 'rotator.credential.alert', onFailure: 'log' }),
} satisfies ConsumerPlugin<z.infer<typeof schema>>;
