// The `http` target plugin: any API key, through a hook the user runs. rotator POSTs signed requests to create,
// verify and revoke a key (and, for `rotator plan`, to ping the hook and list the keys); the key the hook makes comes
// back in create's answer and goes only to the store. The protocol: docs/http-hook.md.
import { z } from 'zod';
import { httpUrl, parseDuration, secretRef, writtenDuration } from '../../../src/config/fields';
import { PRINTABLE } from '../../../src/kernel/printable';
import type { IssuingTargetPlugin } from '../../plugin';
import { STEP_TIMEOUT_MS } from '../../timeouts';
import type { TargetCapabilities } from '../../types';
import { MAX_BACKOFF_MS, worstCaseMs, type HookSettings } from './settings';

const ATTEMPTS_HINT = 'expected a whole number of attempts from 1 to 10';

/** What one step's requests may take together, all attempts and waits included: the step's timeout less 5 s. */
export const STEP_BUDGET_MS = STEP_TIMEOUT_MS - 5_000;

export const schema = z
  .object({
    type: z.literal('http'),
    /** A secret whose value holds `signing_key`: the key rotator signs requests with and the hook signs answers with. */
    connection: secretRef,
    /** Where every request is POSTed. Its origin names it in errors and logs; the rest of it (a path token) never does. */
    url: httpUrl.refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), {
      message: 'must not carry a user or password: the URL is part of the rotation plan, which Temporal keeps in history',
    }),
    /** Sent as `account` in every request, so one hook can serve several keys (an account, a client, a project). */
    account: z.string().min(1).max(200).regex(PRINTABLE, { message: 'expected printable text' }).optional(),
    /** One attempt's limit, the whole answer included. */
    timeout: writtenDuration('100ms').default('5s'),
    attempts: z
      .number({ error: ATTEMPTS_HINT })
      .int({ message: ATTEMPTS_HINT })
      .min(1, { message: ATTEMPTS_HINT })
      .max(10, { message: ATTEMPTS_HINT })
      .default(3),
    /** The wait after the first failed attempt; it doubles after each one, up to 5 s. */
    backoff: writtenDuration().default('500ms'),
    /** Every answer must carry X-Rotator-Signature (docs/http-hook.md); false only for a hook behind TLS that cannot sign. */
    signed_answers: z.boolean().default(true),
  })
  .strict()
  .superRefine((config, ctx) => {
    const worst = worstCaseMs(settingsOf(config));
    if (worst > STEP_BUDGET_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['timeout'],
        message:
          `attempts × timeout plus the waits between them (doubling from backoff, at most ${MAX_BACKOFF_MS / 1000}s) come to ` +
          `${worst / 1000}s, over the ${STEP_BUDGET_MS / 1000}s a step's requests get; lower timeout, attempts or backoff`,
      });
  });

export type HttpTargetConfig = z.infer<typeof schema>;

/** The block's fields as the client takes them. */
export function settingsOf(config: Omit<HttpTargetConfig, 'type' | 'connection'>): HookSettings {
  return {
    url: config.url,
    ...(config.account !== undefined ? { account: config.account } : {}),
    timeoutMs: parseDuration(config.timeout),
    attempts: config.attempts,
    backoffMs: parseDuration(config.backoff),
    signedAnswers: config.signed_answers,
  };
}

/** Neither flag applies: an API key is not a login with passwords or sessions. */
export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: false };

export const http = {
  schema,
  issues: true,
  capabilities: CAPABILITIES,
  strategies: ['issued'],
  defaultVerify: 'the hook’s verify action',
  login: (config) => config.account ?? new URL(config.url).host,
  preflight: async (target, context) => (await import('./preflight')).preflight(target, context.admin),
  async create(target, admin) {
    const { HttpTarget, signingKeyOf } = await import('./target');
    return new HttpTarget(settingsOf(target), signingKeyOf(admin, `${target.connection.provider}:${target.connection.path}`));
  },
} satisfies IssuingTargetPlugin<z.infer<typeof schema>>;
