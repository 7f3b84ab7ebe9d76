// The rotator config file: L5-style `secrets:` entries with `provider:` blocks and `secret://name/key` references.
// Provider, target and consumer blocks are the plugins' own schemas (activities/stores, targets, consumers).
import { TriggersSchema } from './trigger';
import { z } from 'zod';
import { CONSUMERS, type ConsumerSchema as ConsumerPluginSchema } from '../../activities/consumers';
import type { AnyStorePlugin } from '../../activities/plugin';
import { STORES, storePlugin, type StoreSchema as StorePluginSchema } from '../../activities/stores';
import { TARGETS, targetPlugin, type TargetSchema as TargetPluginSchema } from '../../activities/targets';
import { MIN_ALPHABET, passwordClasses } from '../kernel/password';
import { duration, name, SECRET_REF, STRATEGIES } from './fields';
import { AuditSchema, L5_SECRET_FIELDS, ON_ROTATION_ACTIONS } from './l5';
import { KeepersSchema, LeaseSchema, PublishSchema, ScheduleSchema, SweepSchema } from './lifecycle';
import { keyIssues, KeySchema, RewrapSchema } from './keys';
import { LabelsSchema, MassRotationSchema } from './mass';

export { parseDuration, SECRET_REF } from './fields';

/** A union over a plugin map's schemas, discriminated by `type`. */
function unionOf<S extends z.ZodObject>(plugins: Record<string, { schema: unknown }>): z.ZodDiscriminatedUnion<[S, ...S[]]> {
  return z.discriminatedUnion('type', Object.values(plugins).map((p) => p.schema) as unknown as [S, ...S[]]);
}

export const ProviderSchema = unionOf<StorePluginSchema>(STORES);
export const TargetSchema = unionOf<TargetPluginSchema>(TARGETS);
export const ConsumerSchema = unionOf<ConsumerPluginSchema>(CONSUMERS);

export const PasswordPolicySchema = z
  .object({
    length: z.number().int().min(16).max(256).default(32),
    /** Symbols are off by default: they break naive connection URIs more often than they add strength. */
    symbols: z.boolean().default(false),
    exclude: z.string().default(''),
  })
  .strict()
  .superRefine((policy, ctx) => {
    const left = passwordClasses(policy).join('').length;
    if (left < MIN_ALPHABET) {
      ctx.addIssue({
        code: 'custom',
        path: ['exclude'],
        message: `leaves ${left} characters to draw passwords from; at least ${MIN_ALPHABET} must remain`,
      });
    }
  });

/** The L5 spec's `rotation.on_rotation.action` → the consumer each means (declared by the consumer plugins). */
export { ON_ROTATION_ACTIONS };

/**
 * `rotation.on_rotation: { action, grace_period, …the consumer's fields }` written as the L5 spec does: becomes the
 * last entry of `consumers:`, and its grace_period the rotation's (both at once is an error, checked below).
 */
function onRotationAsConsumer(input: unknown): unknown {
  const secret = input as { rotation?: Record<string, unknown>; consumers?: unknown } | null;
  const on = secret?.rotation?.on_rotation as Record<string, unknown> | undefined;
  if (!secret || typeof on !== 'object' || on === null || Array.isArray(on)) return input;
  const { action, grace_period, ...fields } = on;
  const type = typeof action === 'string' && Object.hasOwn(ON_ROTATION_ACTIONS, action) ? ON_ROTATION_ACTIONS[action] : undefined;
  if (!type) return input; // left for the schema to refuse, naming the field
  const { on_rotation: _, ...rotation } = secret.rotation!;
  if (grace_period !== undefined) {
    if (rotation.grace_period !== undefined) return input;
    rotation.grace_period = grace_period;
  }
  const consumers = Array.isArray(secret.consumers) ? secret.consumers : [];
  return { ...secret, rotation, consumers: [...consumers, { ...fields, type }] };
}

const OnRotationRefusal = z
  .object({
    action: z.enum(Object.keys(ON_ROTATION_ACTIONS) as [string, ...string[]], {
      message: `expected one of ${Object.keys(ON_ROTATION_ACTIONS).join(', ')}`,
    }),
  })
  .passthrough()
  .superRefine((on, ctx) => {
    // Only left in place (not turned into a consumer) for a bad action, or a grace period given twice.
    if (on.action in ON_ROTATION_ACTIONS)
      ctx.addIssue({ code: 'custom', path: ['grace_period'], message: 'set grace_period here or on rotation:, not both' });
  });

/** A day: a request raised at the end of one working day can still be answered the next morning. */
export const APPROVAL_TIMEOUT_DEFAULT_MS = 24 * 3_600_000;

export const RotationSchema = z
  .object({
    /** Required for a database target; a target that issues its own credentials rotates by `issued`, written or not. */
    strategy: z.enum(STRATEGIES).optional(),
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
    /** Temporal Schedule that starts this rotation (kept in line with the config by `rotator schedule sync`). */
    schedule: ScheduleSchema.optional(),
    /** The sweep rotates a secret whose current version is older than this. */
    max_age: duration.optional(),
    /** `required`: a rotation waits, before it changes anything, until a person runs `rotator approve` (or reject). */
    approval: z.enum(['required', 'none']).default('none'),
    /** How long a rotation waits for that decision; unanswered, it ends `expired`, having changed nothing. */
    approval_timeout: duration
      .refine((ms) => ms >= 1_000, { message: 'expected at least 1s' })
      .default(APPROVAL_TIMEOUT_DEFAULT_MS),
    /**
     * Readers rotator cannot see: how long the longest of them may keep a value (an OpenBao/Vault Agent template
     * re-renders every 5m by default, AWS's caching client refreshes every 1h). grace_period must outlast it.
     */
    readers: z.object({ max_staleness: duration.optional() }).strict().optional(),
    /** Accept a grace_period shorter than the readers' caches (cache.ttl, refresh_interval, readers): a warning, not an error. */
    allow_short_grace: z.boolean().default(false),
    /**
     * How long a step waits out its store or database being unreachable (a restart, a failover) before the rotation
     * gives up and rolls back. A refusal (bad credential, no permission, a failed verify) fails at once regardless.
     */
    outage_tolerance: duration.refine((ms) => ms >= 5_000, { message: 'expected at least 5s' }).default(60_000),
    /** The L5 form of one consumer (see onRotationAsConsumer); only ever seen here when it is wrong. */
    on_rotation: OnRotationRefusal.optional(),
  })
  .strict();

export const SecretSchema = z.preprocess(
  onRotationAsConsumer,
  z
    .object({
      description: z.string().optional(),
      /** What `rotator rotate --selector` matches (team=payments,env=prod), besides the secret's name. */
      labels: LabelsSchema.optional(),
      provider: name,
      path: z.string().min(1, { message: 'expected the store path of this secret' }),
      target: TargetSchema.optional(),
      rotation: RotationSchema.optional(),
      /** Who picks the new credential up after publish, notified in order. */
      consumers: z.array(ConsumerSchema).default([]),
      /** `dynamic`: the provider's engine issues leased credentials at `path` (`database/creds/<role>`); a keeper renews them. */
      type: z.enum(['static', 'dynamic']).default('static'),
      lease: LeaseSchema.optional(),
      /** Where a dynamic secret's keeper publishes the credential it holds (a writable store). */
      publish: PublishSchema.optional(),
      /** The encryption key whose ciphertexts this secret's store holds (OpenBao transit): rotated, then rewrapped. */
      encryption_key: KeySchema.optional(),
      /** A key rotation's paths, grace period and sample (see src/config/keys.ts). */
      rewrap: RewrapSchema.optional(),
      /** The L5 spec's reader-side fields (keys, cache, on_missing, retry, fallback, refresh, read): see l5.ts. */
      ...L5_SECRET_FIELDS,
    })
    .strict(),
);

/** `<mount>/creds/<role>`, as the database engine spells it. */
export const DYNAMIC_PATH =
  /^([A-Za-z0-9][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.-]*)*)\/creds\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/;

/** TLS to the Temporal frontend; files are read when connecting. `{}` alone means TLS with the system's roots. */
const TemporalTlsSchema = z
  .object({
    /** The CA that signed the server's certificate, if not a public one. */
    ca_file: z.string().min(1).optional(),
    /** The name to expect in the server's certificate, when it differs from the address's host. */
    server_name: z.string().min(1).optional(),
    /** The client certificate and key, for servers that require mTLS. */
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if (!!tls.cert_file !== !!tls.key_file) {
      ctx.addIssue({
        code: 'custom',
        path: [tls.cert_file ? 'key_file' : 'cert_file'],
        message: 'set cert_file and key_file together (the client certificate and its key), or neither',
      });
    }
  });

export const TemporalSchema = z
  .object({
    address: z
      .string()
      .regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, {
        message: 'expected host:port, like 127.0.0.1:7233 (no scheme)',
      })
      .default('127.0.0.1:7233'),
    namespace: z.string().min(1).default('default'),
    task_queue: z.string().min(1).default('rotator'),
    tls: TemporalTlsSchema.optional(),
    /** An API key (Temporal Cloud), sent as a bearer token; use ${TEMPORAL_API_KEY} or api_key_file. Implies TLS. */
    api_key: z.string().min(1).optional(),
    api_key_file: z.string().min(1).optional(),
    /**
     * Workflows a worker keeps in memory between their tasks (default 500, workers/worker.ts). A worker that keeps
     * thousands of leases needs no more: an evicted keeper replays its one-step history when it next wakes.
     */
    max_cached_workflows: z.number().int().min(0).max(100_000).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.api_key && t.api_key_file)
      ctx.addIssue({ code: 'custom', path: ['api_key_file'], message: 'set api_key or api_key_file, not both' });
  });

/**
 * The strategy a secret's rotation runs: the one written, or `issued` for a target that issues its own credentials
 * (the plugin says so); undefined when a database target's rotation names none.
 */
export function strategyOf(
  plugin: { readonly issues?: boolean },
  rotation: { strategy?: (typeof STRATEGIES)[number] | undefined },
): (typeof STRATEGIES)[number] | undefined {
  return rotation.strategy ?? (plugin.issues ? 'issued' : undefined);
}

/** The targets whose plugins support `strategy`, for an error that says where it would work. */
function targetsSupporting(strategy: (typeof STRATEGIES)[number]): string[] {
  return Object.entries(TARGETS)
    .filter(([, plugin]) => (plugin.strategies as ReadonlyArray<string>).includes(strategy))
    .map(([type]) => type);
}

export const ConfigSchema = z
  .object({
    version: z.literal(1).default(1),
    temporal: TemporalSchema.default({ address: '127.0.0.1:7233', namespace: 'default', task_queue: 'rotator' }),
    providers: z.record(name, ProviderSchema).default({}),
    secrets: z.record(name, SecretSchema),
    /** The scheduled sweep over every secret (`rotator schedule sync` creates its schedule). */
    sweep: SweepSchema.optional(),
    /** How fast lease keepers start: a first start of many dynamic secrets is an issue storm otherwise. */
    keepers: KeepersSchema.optional(),
    /** Provider events and signed webhooks that start rotations (`rotator listen`). */
    triggers: TriggersSchema.optional(),
    /** `rotator rotate --all | --selector`: write budgets per provider, rotations in flight. */
    mass_rotation: MassRotationSchema.optional(),
    /** The L5 spec's `secrets._config.audit`, kept for the resolver; unused by rotator. */
    audit: AuditSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    cfg.triggers?.rules.forEach((rule, i) => {
      const secret = cfg.secrets[rule.secret];
      const why = !secret
        ? `no secret named ${JSON.stringify(rule.secret)}`
        : rule.action !== 'alert' && !(secret.target && secret.rotation)
          ? `${rule.secret} has no target: and rotation:, so an event cannot rotate it (use action: alert)`
          : null;
      if (why) ctx.addIssue({ code: 'custom', path: ['triggers', 'rules', i, 'secret'], message: why });
    });
    if (cfg.sweep && cfg.sweep.rate.per > cfg.sweep.every)
      ctx.addIssue({
        code: 'custom',
        path: ['sweep', 'rate', 'per'],
        message: 'must not be longer than the sweep interval (every:), or the cap would not hold from one sweep to the next',
      });
    for (const provider of Object.keys(cfg.mass_rotation?.write_budgets ?? {}))
      if (!cfg.providers[provider])
        ctx.addIssue({
          code: 'custom',
          path: ['mass_rotation', 'write_budgets', provider],
          message: `no provider named ${JSON.stringify(provider)} under providers:`,
        });
    if (cfg.secrets.sweep)
      ctx.addIssue({
        code: 'custom',
        path: ['secrets', 'sweep'],
        message: "the name sweep is kept for the sweep's own Schedule",
      });
    // Two writers on one store path (two keepers, or a keeper and a rotation) would conflict forever.
    const writers = new Map<string, string>();
    for (const [secretName, secret] of Object.entries(cfg.secrets)) {
      const where = secret.type === 'dynamic' ? secret.publish : secret.rotation || secret.encryption_key ? secret : undefined;
      if (!where) continue;
      const key = `${where.provider}\u0000${where.path}`;
      const other = writers.get(key);
      if (other)
        ctx.addIssue({
          code: 'custom',
          path: ['secrets', secretName, secret.type === 'dynamic' ? 'publish' : 'path'],
          message: `${where.provider}:${where.path} is already written by ${other}; give each secret its own path`,
        });
      else writers.set(key, secretName);
    }
    const unknownProvider = (providerName: string) =>
      `unknown provider ${JSON.stringify(providerName)}; expected one of ${Object.keys(cfg.providers).join(', ') || '(none defined under providers:)'}`;
    for (const [secretName, secret] of Object.entries(cfg.secrets)) {
      const at = ['secrets', secretName];
      const provider = cfg.providers[secret.provider];
      if (!provider) {
        ctx.addIssue({ code: 'custom', path: [...at, 'provider'], message: unknownProvider(secret.provider) });
      }
      if (secret.fallback && !cfg.providers[secret.fallback.provider])
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'fallback', 'provider'],
          message: unknownProvider(secret.fallback.provider),
        });
      if (secret.type === 'dynamic') {
        for (const issue of dynamicIssues(secret, provider))
          ctx.addIssue({ code: 'custom', ...issue, path: [...at, ...issue.path] });
        if (secret.publish && !cfg.providers[secret.publish.provider]) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'publish', 'provider'],
            message: unknownProvider(secret.publish.provider),
          });
        }
        const publishTo = secret.publish && cfg.providers[secret.publish.provider];
        const badPublish = publishTo ? storePlugin(publishTo).checkPath?.(secret.publish!.path) : null;
        if (badPublish) ctx.addIssue({ code: 'custom', path: [...at, 'publish', 'path'], message: badPublish });
        if (publishTo && !storePlugin(publishTo).capabilities.writable) {
          ctx.addIssue({ code: 'custom', path: [...at, 'publish', 'provider'], message: `${publishTo.type} is read-only here` });
        }
      } else {
        for (const field of ['lease', 'publish'] as const) {
          if (secret[field])
            ctx.addIssue({ code: 'custom', path: [...at, field], message: 'only a secret with type: dynamic has this block' });
        }
      }
      for (const issue of keyIssues(secret, cfg.providers))
        ctx.addIssue({ code: 'custom', ...issue, path: [...at, ...issue.path] });
      if (secret.encryption_key && provider && !storePlugin(provider).capabilities.writable)
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'provider'],
          message: `${provider.type} is read-only here: rewrapping writes`,
        });
      const badPath = provider && secret.type !== 'dynamic' ? storePlugin(provider).checkPath?.(secret.path) : null;
      if (badPath) ctx.addIssue({ code: 'custom', path: [...at, 'path'], message: badPath });
      // A grace period shorter than the readers' caches is refused by validate and plan only (readers.ts
      // refuseShortGrace); every other load warns, so an upgrade never stops a worker over a file it ran before.
      if (secret.rotation && !secret.target) {
        ctx.addIssue({ code: 'custom', path: [...at, 'target'], message: 'a secret with rotation: needs a target:' });
      }
      if (!secret.target) continue;
      const ref = 'connection' in secret.target ? SECRET_REF.exec(secret.target.connection) : null;
      if (ref && !cfg.secrets[ref[1]]) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'target', 'connection'],
          message: `references unknown secret ${JSON.stringify(ref[1])}`,
        });
      }
      if (ref?.[2]) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'target', 'connection'],
          message: `names one field (${ref[2]}) of ${ref[1]}, but the admin connection needs the whole secret: write secret://${ref[1]}`,
        });
      }
      if (ref && ref[1] === secretName) {
        ctx.addIssue({ code: 'custom', path: [...at, 'target', 'connection'], message: 'a secret cannot manage itself' });
      }
      if (!secret.rotation) continue;
      const plugin = targetPlugin(secret.target);
      const strategy = strategyOf(plugin, secret.rotation);
      if (!strategy) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'rotation', 'strategy'],
          message: `expected one of ${STRATEGIES.filter((s) => s !== 'issued').join(', ')} (${secret.target.type} logins get passwords rotator generates)`,
        });
        continue;
      }
      if (plugin.issues && strategy !== 'issued') {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'rotation', 'strategy'],
          message: `${secret.target.type} issues its own credentials, so it rotates by issued; write strategy: issued or leave strategy out`,
        });
        continue;
      }
      if (!plugin.strategies.includes(strategy)) {
        const why =
          strategy === 'dual-password'
            ? `${secret.target.type} logins hold one password`
            : `${secret.target.type} does not support it`;
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'rotation', 'strategy'],
          message: `${why}; ${strategy} works with ${targetsSupporting(strategy).join(', ')}`,
        });
      }
      for (const issue of plugin.check?.(secret.target, strategy) ?? []) {
        ctx.addIssue({ code: 'custom', path: [...at, ...issue.path], message: issue.message });
      }
    }
  });

/**
 * A dynamic secret without `publish:` (the L5 spec's own form): each reader leases its credential itself through the
 * reader library (src/reader/lease.ts); rotator's worker keeps no lease for it.
 */
export const READER_LEASED =
  "each reader's library (createSecretClient) issues, renews and revokes its own lease; rotator's worker does not keep it";
/** What `validate` notes of such a secret. */
export const READER_LEASED_NOTE = `type: dynamic without publish: is leased by its readers: ${READER_LEASED}`;

export function readerLeased(secret: { type?: unknown; publish?: unknown }): boolean {
  return secret.type === 'dynamic' && secret.publish === undefined;
}

/** The dynamic secrets rotator's worker keeps: those it publishes (a secret without publish: is leased by its readers). */
export function dynamicSecrets(config: Pick<Config, 'secrets'>): string[] {
  return Object.entries(config.secrets)
    .filter(([, s]) => s.type === 'dynamic' && !readerLeased(s))
    .map(([name]) => name);
}

/** The stores whose providers may back a dynamic secret. */
const LEASING_STORES = Object.entries(STORES as Record<string, AnyStorePlugin>).flatMap(([t, p]) => (p.leaseEngine ? [t] : []));

/** What a dynamic secret needs: an engine that issues leases, a path naming a role; with publish:, somewhere to write. */
function dynamicIssues(
  secret: z.infer<typeof SecretSchema>,
  provider: ProviderConfig | undefined,
): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (provider && !(storePlugin(provider) as AnyStorePlugin).leaseEngine)
    issues.push({
      path: ['provider'],
      message: `dynamic credentials come from a provider whose store issues leases (${LEASING_STORES.join(', ')}), not ${provider.type}`,
    });
  if (!DYNAMIC_PATH.test(secret.path) || secret.path.split('/').some((seg) => seg === '..' || seg === '.'))
    issues.push({ path: ['path'], message: 'expected <mount>/creds/<role>, like database/creds/app-readonly' });
  // Without publish: its readers lease their own credentials (the reader library); nobody is notified, nothing verified.
  if (!secret.publish && secret.consumers.length > 0)
    issues.push({
      path: ['consumers'],
      message:
        'a dynamic secret without publish: is leased by each reader itself, so there is nothing to notify; add publish: { provider, path } for rotator to keep it',
    });
  if (!secret.publish && secret.lease?.verify)
    issues.push({
      path: ['lease', 'verify'],
      message:
        "is the keeper's check before it publishes; a dynamic secret without publish: is leased by its readers, whose own queries are the check",
    });
  if (secret.rotation)
    issues.push({ path: ['rotation'], message: 'a dynamic secret is renewed and re-issued by its lease: block, not rotated' });
  return issues;
}

export type Config = z.infer<typeof ConfigSchema>;
export type ProviderConfig = z.infer<typeof ProviderSchema>;
export type SecretConfig = z.infer<typeof SecretSchema>;
export type TargetConfig = z.infer<typeof TargetSchema>;
export type ConsumerConfig = z.infer<typeof ConsumerSchema>;
export type RotationConfig = z.infer<typeof RotationSchema>;
export type PasswordPolicy = z.infer<typeof PasswordPolicySchema>;
