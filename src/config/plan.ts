// Plans made from config and checked as a worker receives them (the plan's types are src/kernel/plan.ts's).
import { z } from 'zod';
import { consumerPlugin } from '../../activities/consumers';
import { CONSUMER_BUDGET_MS } from '../../activities/plugin';
import { targetPlugin } from '../../activities/targets';
import { RotatorError } from '../kernel/errors';
import type { RotationPlan, SecretReference } from '../kernel/plan';
import { name, STRATEGIES } from './fields';
import { issuesOf } from './load';
import { readerBound } from './readers';
import {
  ConsumerSchema,
  PasswordPolicySchema,
  TargetSchema,
  SECRET_REF,
  strategyOf,
  type Config,
  type ConsumerConfig,
  type RotationConfig,
  type TargetConfig,
} from './schema';

export type { RotationPlan, SecretReference, StoreLocation, Strategy, TargetPlan, TargetType } from '../kernel/plan';

export function resolveReference(config: Config, ref: string, path: string): SecretReference {
  const m = SECRET_REF.exec(ref);
  const entry = m ? config.secrets[m[1]] : undefined;
  if (!m || !entry) throw new RotatorError('CONFIG_INVALID', `cannot resolve ${JSON.stringify(ref)}`, path);
  return { provider: entry.provider, path: entry.path, ...(m[2] ? { key: m[2] } : {}) };
}

/** The config's entry for `secretName`; NOT_FOUND, worded the same for every command, when there is none. */
export function requireSecret(config: Config, secretName: string): Config['secrets'][string] {
  const secret = config.secrets[secretName];
  if (!secret) {
    throw new RotatorError(
      'NOT_FOUND',
      `no secret named ${JSON.stringify(secretName)}; known: ${Object.keys(config.secrets).join(', ')}`,
      'secret',
    );
  }
  return secret;
}

/** The entry of a secret that can be rotated; the same words from rotate, status and history otherwise. */
type RotatableSecret = Config['secrets'][string] & { target: TargetConfig; rotation: RotationConfig };

export function requireRotatable(config: Config, secretName: string): RotatableSecret {
  const secret = requireSecret(config, secretName);
  if (!secret.target || !secret.rotation) {
    throw new RotatorError(
      'CONFIG_INVALID',
      'this secret has no target: and rotation: blocks, so it cannot be rotated',
      `secrets.${secretName}`,
    );
  }
  return secret as RotatableSecret;
}

export function planRotation(config: Config, secretName: string): RotationPlan {
  const secret = requireRotatable(config, secretName);
  const { target, rotation } = secret;
  const plugin = targetPlugin(target);
  const readers = readerBound(secret);
  return {
    secret: secretName,
    store: { provider: secret.provider, path: secret.path },
    // A target with no system to manage (a generated key) has no connection: there is no admin secret to resolve.
    target:
      'connection' in target
        ? { ...target, connection: resolveReference(config, target.connection, `secrets.${secretName}.target.connection`) }
        : target,
    login: plugin.login(target),
    // Validated already: a database target's rotation names one; an issuing target's is issued.
    strategy: strategyOf(plugin, rotation)!,
    gracePeriodMs: rotation.grace_period,
    reconnectWaitMs: rotation.reconnect.wait,
    verifyQuery: rotation.verify.query ?? plugin.defaultVerify,
    password: rotation.password,
    drain: { timeoutMs: rotation.drain.timeout, onTimeout: rotation.drain.on_timeout },
    consumers: planConsumers(config, secretName, secret.consumers),
    outageToleranceMs: rotation.outage_tolerance,
    ...(rotation.approval === 'required' ? { approval: { timeoutMs: rotation.approval_timeout } } : {}),
    ...(readers ? { readers } : {}),
  };
}

/**
 * The secret's consumers as the plan carries them: `secret://` references (a webhook's signing key) resolved to where
 * the value is kept, never the value; and all of them together within the one notify step's time.
 */
function planConsumers(config: Config, secretName: string, consumers: ConsumerConfig[]): ConsumerConfig[] {
  const at = `secrets.${secretName}.consumers`;
  const planned = consumers.map((consumer, i) => {
    const plugin = consumerPlugin(consumer);
    return plugin.resolve?.(consumer, (uri, field) => resolveReference(config, uri, `${at}.${i}.${field}`)) ?? consumer;
  });
  const worst = planned.reduce((sum, c) => sum + (consumerPlugin(c).worstCaseMs?.(c) ?? 0), 0);
  if (worst > CONSUMER_BUDGET_MS) {
    throw new RotatorError(
      'CONFIG_INVALID',
      `all attempts of these consumers together may take ${worst / 1000}s, over the ${CONSUMER_BUDGET_MS / 1000}s the ` +
        'notify step gives them; lower their timeout, attempts or backoff',
      at,
    );
  }
  return planned;
}

export function rotatableSecrets(config: Config): string[] {
  return Object.entries(config.secrets)
    .filter(([, s]) => s.target && s.rotation)
    .map(([n]) => n);
}

export { workflowIdFor } from '../../workflows/definitions';

const PlanSchema = z
  .object({
    secret: name,
    store: z.object({ provider: name, path: z.string().min(1) }).strict(),
    target: z
      .object({
        connection: z
          .object({ provider: name, path: z.string().min(1), key: z.string().optional() })
          .strict()
          .optional(),
      })
      .passthrough(),
    login: z.string().min(1),
    strategy: z.enum(STRATEGIES),
    gracePeriodMs: z.number().int().min(0),
    reconnectWaitMs: z.number().int().min(0),
    verifyQuery: z.string().min(1),
    password: PasswordPolicySchema,
    drain: z.object({ timeoutMs: z.number().int().min(0), onTimeout: z.enum(['terminate', 'keep']) }).strict(),
    consumers: z.array(ConsumerSchema).optional(),
    outageToleranceMs: z.number().int().min(5_000).optional(),
    approval: z
      .object({ timeoutMs: z.number().int().min(1_000) })
      .strict()
      .optional(),
    readers: z
      .object({ field: z.string().min(1).max(64), ms: z.number().int().min(0) })
      .strict()
      .optional(),
    writeBudget: z
      .object({ key: name, perSecond: z.number().positive().max(100_000) })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Checks a plan as the worker receives it, with the same schemas and plugin checks as the config it came from:
 * workflow input is network input, and a plan started by hand through Temporal must not reach a database unchecked.
 */
export function checkPlan(plan: unknown): RotationPlan {
  const fail = (issues: Array<{ path: string; message: string }>): never => {
    throw new RotatorError(
      'CONFIG_INVALID',
      `the rotation plan is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  };
  const parsed = PlanSchema.safeParse(plan, { reportInput: true });
  if (!parsed.success) return fail(issuesOf(parsed.error, ['plan'], { root: plan }));
  const { target, strategy, login } = parsed.data;
  // The target block is checked as the config's own, its resolved connection standing in as a reference.
  const given = target.connection ? { ...target, connection: 'secret://plan' } : target;
  const block = TargetSchema.safeParse(given, { reportInput: true });
  if (!block.success) return fail(issuesOf(block.error, ['plan', 'target'], { root: given }));
  const plugin = targetPlugin(block.data);
  const issues = [
    ...((strategy === 'issued') === !!plugin.issues
      ? []
      : [
          {
            path: 'plan.strategy',
            message: `${block.data.type} ${plugin.issues ? 'issues its own credentials' : 'does not issue credentials'}`,
          },
        ]),
    ...(plugin.strategies.includes(strategy)
      ? []
      : [{ path: 'plan.strategy', message: `${block.data.type} does not support ${strategy}` }]),
    ...(plugin.check?.(block.data, strategy) ?? []).map((i) => ({ path: ['plan', ...i.path].join('.'), message: i.message })),
    ...(plugin.login(block.data) === login ? [] : [{ path: 'plan.login', message: 'does not match the target block' }]),
  ];
  if (issues.length > 0) fail(issues);
  return plan as RotationPlan;
}
