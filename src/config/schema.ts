// The rotator config file: L5-style `secrets:` entries with `provider:` blocks and `secret://name/key` references.
import { z } from 'zod';

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '30s' → 30000. Durations are written as text in YAML so a reader never guesses the unit. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const duration = z
  .string()
  .regex(DURATION, { message: 'expected a duration like 500ms, 30s, 5m, 1h' })
  .transform(parseDuration);

/** Names end up in workflow ids and store paths, so keep them plain. */
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
  message: 'expected letters, digits, _ . - (at most 63, starting with a letter or digit)',
});

/** A PostgreSQL role name we are willing to derive `<role>_a` / `<role>_b` from. */
const roleName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,60}$/, {
  message: 'expected a role name of letters, digits and _ (at most 61, not starting with a digit)',
});

export const SECRET_REF = /^secret:\/\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})(?:\/([A-Za-z0-9_.-]+))?$/;
const secretRef = z.string().regex(SECRET_REF, { message: 'expected a reference like secret://name or secret://name/key' });

const httpUrl = z.string().url({ message: 'expected an http(s) URL' }).refine((u) => /^https?:\/\//.test(u), {
  message: 'expected an http(s) URL',
});

export const VaultProviderSchema = z
  .object({
    type: z.literal('vault'),
    address: httpUrl,
    token: z.string().min(1, { message: 'expected a token (use ${VAULT_TOKEN})' }),
    namespace: z.string().optional(),
    /** Where pending credentials wait before promotion; kept apart so readers of a secret never see one. */
    pending_prefix: z.string().default('rotator-pending'),
  })
  .strict();

export const EnvProviderSchema = z.object({ type: z.literal('env') }).strict();

export const ProviderSchema = z.discriminatedUnion('type', [VaultProviderSchema, EnvProviderSchema]);

export const PasswordPolicySchema = z
  .object({
    length: z.number().int().min(16).max(256).default(32),
    /** Symbols are off by default: they break naive connection URIs more often than they add strength. */
    symbols: z.boolean().default(false),
    exclude: z.string().default(''),
  })
  .strict();

export const PostgresTargetSchema = z
  .object({
    type: z.literal('postgresql'),
    connection: secretRef,
    role: roleName,
    host: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().optional(),
  })
  .strict();

export const TargetSchema = z.discriminatedUnion('type', [PostgresTargetSchema]);

export const RotationSchema = z
  .object({
    strategy: z.enum(['alternating-users', 'single-user']),
    grace_period: duration.default(0),
    verify: z.object({ query: z.string().min(1).default('select 1') }).strict().default({ query: 'select 1' }),
    password: PasswordPolicySchema.default({ length: 32, symbols: false, exclude: '' }),
    reconnect: z.object({ wait: duration.default(0) }).strict().default({ wait: 0 }),
    drain: z
      .object({ timeout: duration.default(30_000), on_timeout: z.enum(['terminate', 'keep']).default('terminate') })
      .strict()
      .default({ timeout: 30_000, on_timeout: 'terminate' }),
  })
  .strict();

export const SecretSchema = z
  .object({
    description: z.string().optional(),
    provider: name,
    path: z.string().min(1, { message: 'expected the store path of this secret' }),
    target: TargetSchema.optional(),
    rotation: RotationSchema.optional(),
  })
  .strict();

export const TemporalSchema = z
  .object({
    address: z.string().default('127.0.0.1:7233'),
    namespace: z.string().default('default'),
    task_queue: z.string().default('rotator'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    version: z.literal(1).default(1),
    temporal: TemporalSchema.default({ address: '127.0.0.1:7233', namespace: 'default', task_queue: 'rotator' }),
    providers: z.record(name, ProviderSchema).default({}),
    secrets: z.record(name, SecretSchema),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    for (const [secretName, secret] of Object.entries(cfg.secrets)) {
      const at = ['secrets', secretName];
      if (!cfg.providers[secret.provider]) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'provider'],
          message: `unknown provider ${JSON.stringify(secret.provider)}; expected one of ${Object.keys(cfg.providers).join(', ') || '(none defined under providers:)'}`,
        });
      }
      if (secret.rotation && !secret.target) {
        ctx.addIssue({ code: 'custom', path: [...at, 'target'], message: 'a secret with rotation: needs a target:' });
      }
      if (secret.target) {
        const ref = SECRET_REF.exec(secret.target.connection);
        if (ref && !cfg.secrets[ref[1]]) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'target', 'connection'],
            message: `references unknown secret ${JSON.stringify(ref[1])}`,
          });
        }
        if (ref && ref[1] === secretName) {
          ctx.addIssue({ code: 'custom', path: [...at, 'target', 'connection'], message: 'a secret cannot manage itself' });
        }
      }
    }
  });

export type Config = z.infer<typeof ConfigSchema>;
export type ProviderConfig = z.infer<typeof ProviderSchema>;
export type SecretConfig = z.infer<typeof SecretSchema>;
export type TargetConfig = z.infer<typeof TargetSchema>;
export type RotationConfig = z.infer<typeof RotationSchema>;
export type PasswordPolicy = z.infer<typeof PasswordPolicySchema>;
