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

const duration = z.string().regex(DURATION, { message: 'expected a duration like 500ms, 30s, 5m, 1h' }).transform(parseDuration);

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

const httpUrl = z
  .string()
  .url({ message: 'expected an http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u), {
    message: 'expected an http(s) URL',
  });

/**
 * A pending value left by another rotation (one that died, or another deployment's): stop the rotation (fail), or
 * drop it with a log line and go on (replace). Every writable store takes it, so it means the same everywhere.
 */
const stalePending = z.enum(['fail', 'replace']).default('fail');

export const VaultProviderSchema = z
  .object({
    type: z.literal('vault'),
    address: httpUrl,
    token: z.string().min(1, { message: 'expected a token (use ${VAULT_TOKEN})' }),
    namespace: z.string().optional(),
    /** Where pending credentials wait before promotion; kept apart so readers of a secret never see one. */
    pending_prefix: z.string().default('rotator-pending'),
    stale_pending: stalePending,
  })
  .strict();

export const EnvProviderSchema = z.object({ type: z.literal('env') }).strict();

/** Checked here so a typo fails at load time, not as a DNS error in the middle of a rotation. */
const awsRegion = z
  .string()
  .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, { message: 'expected an AWS region like eu-west-1 or us-gov-west-1' });

/** Static keys are optional: without them the SDK's default chain (environment, profile, SSO, instance role) applies. */
const awsConnection = {
  region: awsRegion,
  endpoint: httpUrl.optional(),
  access_key_id: z.string().min(1).optional(),
  secret_access_key: z.string().min(1).optional(),
};

function bothKeysOrNeither(p: { access_key_id?: string; secret_access_key?: string }, ctx: z.RefinementCtx): void {
  if (!!p.access_key_id !== !!p.secret_access_key) {
    ctx.addIssue({
      code: 'custom',
      path: [p.access_key_id ? 'secret_access_key' : 'access_key_id'],
      message: 'set access_key_id and secret_access_key together, or neither to use the AWS credential chain',
    });
  }
}

export const AwsSecretsManagerProviderSchema = z
  .object({
    type: z.literal('aws-secrets-manager'),
    ...awsConnection,
    /** For Secrets Manager, "pending" is an AWSPENDING version that is not ours; replace takes the label off it. */
    stale_pending: stalePending,
  })
  .strict()
  .superRefine(bothKeysOrNeither);

export const AwsParameterStoreProviderSchema = z
  .object({
    type: z.literal('aws-parameter-store'),
    ...awsConnection,
    kms_key_id: z.string().min(1).optional(),
    stale_pending: stalePending,
  })
  .strict()
  .superRefine(bothKeysOrNeither);

export const FileProviderSchema = z
  .object({
    type: z.literal('file'),
    dir: z.string().min(1, { message: 'expected the directory that holds the store' }),
    stale_pending: stalePending,
  })
  .strict();

export const ProviderSchema = z.discriminatedUnion('type', [
  VaultProviderSchema,
  EnvProviderSchema,
  AwsSecretsManagerProviderSchema,
  AwsParameterStoreProviderSchema,
  FileProviderSchema,
]);

export const PasswordPolicySchema = z
  .object({
    length: z.number().int().min(16).max(256).default(32),
    /** Symbols are off by default: they break naive connection URIs more often than they add strength. */
    symbols: z.boolean().default(false),
    exclude: z.string().default(''),
  })
  .strict();

/** Where the target is and which secret holds the admin credential that manages its logins. */
const targetConnection = {
  connection: secretRef,
  host: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
};

export const PostgresTargetSchema = z
  .object({
    type: z.literal('postgresql'),
    ...targetConnection,
    /** The group role; alternating-users logs in as `<role>_a` / `<role>_b`, which inherit its rights. */
    role: roleName,
    database: z.string().optional(),
  })
  .strict();

const redisUser = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,60}$/, {
  message: 'expected a user name of letters, digits and _ . : - (at most 61)',
});

/** Rules may grant commands, keys and channels; setting passwords or switching the login is rotator's job. */
export const REDIS_GRANT_RULE = /^(?![<>#!])(?!(?:on|off|nopass|resetpass|reset)$)[^\s\0]+$/i;

export const RedisTargetSchema = z
  .object({
    type: z.literal('redis'),
    ...targetConnection,
    user: redisUser,
    /** ACL rules both alternating logins get, e.g. ["~orders:*", "+@read", "+@write"]. */
    acl: z
      .array(
        z.string().regex(REDIS_GRANT_RULE, {
          message:
            'expected one ACL rule granting commands, keys or channels (no spaces; no password rules, on/off, nopass, reset)',
        }),
      )
      .optional(),
  })
  .strict();

export const MongoTargetSchema = z
  .object({
    type: z.literal('mongodb'),
    ...targetConnection,
    user: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,60}$/, { message: 'expected a user name of letters, digits and _ . -' }),
    /** The database users are created in and authenticate against. */
    database: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,63}$/, { message: 'expected a database name' })
      .default('admin'),
    roles: z.array(z.object({ role: z.string().min(1), db: z.string().min(1) }).strict()).default([]),
  })
  .strict();

export const TargetSchema = z.discriminatedUnion('type', [PostgresTargetSchema, RedisTargetSchema, MongoTargetSchema]);

/** Targets whose logins can hold two passwords at once; the target modules declare the same in their capabilities. */
export const DUAL_PASSWORD_TARGETS: ReadonlyArray<z.infer<typeof TargetSchema>['type']> = ['redis'];

export const RotationSchema = z
  .object({
    strategy: z.enum(['alternating-users', 'single-user', 'dual-password']),
    grace_period: duration.default(0),
    /** SQL for postgresql, a command for redis ("PING"), a JSON command document for mongodb ('{"ping":1}'). */
    verify: z
      .object({ query: z.string().min(1).optional() })
      .strict()
      .default({}),
    password: PasswordPolicySchema.default({ length: 32, symbols: false, exclude: '' }),
    reconnect: z
      .object({ wait: duration.default(0) })
      .strict()
      .default({ wait: 0 }),
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
        const strategy = secret.rotation?.strategy;
        if (strategy === 'dual-password' && !DUAL_PASSWORD_TARGETS.includes(secret.target.type)) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'rotation', 'strategy'],
            message: `${secret.target.type} logins hold one password; dual-password works with ${DUAL_PASSWORD_TARGETS.join(', ')}`,
          });
        }
        if (strategy === 'alternating-users' && secret.target.type === 'redis' && !secret.target.acl) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'target', 'acl'],
            message: 'alternating-users on redis needs the ACL rules both logins share',
          });
        }
        if (strategy === 'alternating-users' && secret.target.type === 'mongodb' && secret.target.roles.length === 0) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'target', 'roles'],
            message: 'alternating-users on mongodb needs the roles both users share',
          });
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
