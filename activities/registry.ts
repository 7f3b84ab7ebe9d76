// One worker's stores, targets and consumers, made from the plugin maps on first use and shared by its activities.
import type { Config, ConsumerConfig, ProviderConfig } from '../src/config/schema';
import { RotatorError } from '../src/kernel/errors';
import { resolveReference, type SecretReference, type TargetPlan } from '../src/config/plan';
import { consumerPlugin } from './consumers';
import type { AnyStorePlugin, ConsumerContext, KubernetesSecretLocation, SharedClients, StoreBuilder } from './plugin';
import { STORES } from './stores';
import { targetPlugin } from './targets';
import {
  isIssuing,
  type AnyTarget,
  type Consumer,
  type DatabaseTarget,
  type IssuingTarget,
  type SecretStore,
  type SecretValue,
} from './types';

/** Caches what `create` makes per key; a failed creation is forgotten, so the next call tries again. */
class Cache<T> {
  private readonly made = new Map<string, Promise<T>>();

  get(key: string, create: () => Promise<T>): Promise<T> {
    let entry = this.made.get(key);
    if (!entry) {
      entry = create();
      entry.catch(() => this.made.delete(key));
      this.made.set(key, entry);
    }
    return entry;
  }

  async drain(): Promise<T[]> {
    const all = await Promise.allSettled(this.made.values());
    this.made.clear();
    return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }
}

/**
 * A store factory over a map of store plugins: the block's type picks the plugin, its schema checks the block (a
 * nested one is not checked by the config schema), and the plugin's factory gets the same builder for its own inner
 * stores. Errors name the field and the type, never a value.
 */
export function storeBuilder(plugins: Readonly<Record<string, AnyStorePlugin>> = STORES): StoreBuilder {
  const builder: StoreBuilder = {
    async build(config, field) {
      const type = config && typeof config === 'object' ? (config as { type?: unknown }).type : undefined;
      const plugin = typeof type === 'string' && Object.hasOwn(plugins, type) ? plugins[type] : undefined;
      if (!plugin)
        throw new RotatorError('CONFIG_INVALID', `expected one of ${Object.keys(plugins).join(', ')}`, `${field}.type`);
      const parsed = plugin.schema.safeParse(config);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(block)'}: ${i.message}`);
        throw new RotatorError('CONFIG_INVALID', `a ${type} store: ${issues.join('; ')}`, field);
      }
      return plugin.create(parsed.data, builder);
    },
  };
  return builder;
}

/** One store instance per configured provider. */
export class ProviderRegistry {
  private readonly stores = new Cache<SecretStore>();
  private readonly builder: StoreBuilder;

  constructor(
    private readonly providers: Readonly<Record<string, ProviderConfig>>,
    private readonly plugins: Readonly<Record<string, AnyStorePlugin>> = STORES,
  ) {
    this.builder = storeBuilder(plugins);
  }

  store(name: string): Promise<SecretStore> {
    const config = this.providers[name];
    if (!config) {
      return Promise.reject(
        new RotatorError(
          'CONFIG_INVALID',
          `this worker has no provider named ${JSON.stringify(name)}; configure it under providers:`,
          'provider',
        ),
      );
    }
    return this.stores.get(name, () => this.plugins[config.type]!.create(config, this.builder));
  }

  /** What provider `name`'s store is, as messages name it, when its plugin declares it (`AWS Secrets Manager`). */
  system(name: string): string | undefined {
    const config = this.providers[name];
    return config ? this.plugins[config.type]?.system : undefined;
  }

  /** The Kubernetes Secret that provider `name` keeps `path` in, or null for a store of another kind. */
  kubernetesSecret(name: string, path: string): KubernetesSecretLocation | null {
    const config = this.providers[name];
    return (config && this.plugins[config.type]?.kubernetesSecret?.(config, path)) ?? null;
  }

  async close(): Promise<void> {
    await Promise.all((await this.stores.drain()).map((s) => s.close()));
  }
}

/**
 * Targets, cached per secret's target block and admin credential version, and the database clients they share,
 * cached per admin connection: 200 secrets on one PostgreSQL server use one pool, not 200 (which would exhaust
 * max_connections).
 */
export class TargetRegistry implements SharedClients {
  private readonly targets = new Cache<AnyTarget>();
  private readonly clients = new Map<string, { client: unknown; close: () => Promise<void> }>();

  /** `adminKey` names the admin credential and its version, so a rotated admin secret gets fresh clients. */
  target(plan: TargetPlan, admin: SecretValue, adminKey: string): Promise<AnyTarget> {
    return this.targets.get(`${adminKey}|${JSON.stringify(plan)}`, () =>
      targetPlugin(plan).create(plan as never, admin, this, adminKey),
    );
  }

  /** One client per key, closed with the registry. */
  shared<T>(key: string, create: () => T, close: (client: T) => Promise<void>): T {
    let entry = this.clients.get(key);
    if (!entry) {
      const client = create();
      entry = { client, close: () => close(client) };
      this.clients.set(key, entry);
    }
    return entry.client as T;
  }

  async close(): Promise<void> {
    await Promise.all((await this.targets.drain()).map((t) => t.close()));
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}

/**
 * The target of a plan, made with the admin credential its `connection` names (read from its store now). Targets are
 * pooled per admin credential version, so a rotated admin secret gets a fresh pool.
 */
export async function openAnyTarget(providers: ProviderRegistry, targets: TargetRegistry, plan: TargetPlan): Promise<AnyTarget> {
  const ref = plan.connection;
  // A target with no system to manage (a generated key) has no connection, and so no admin credential.
  if (!ref) return targets.target(plan, {}, 'no connection');
  const admin = await (await providers.store(ref.provider)).readCurrent(ref.path);
  if (!admin)
    throw new RotatorError('NOT_FOUND', `the secret at ${ref.provider}:${ref.path} does not exist`, 'target.connection');
  return targets.target(plan, admin.value, `${ref.provider}:${ref.path}@${admin.version}`);
}

/** The database target of a plan; UNSUPPORTED naming the target when it issues its own credentials instead. */
export async function openTarget(
  providers: ProviderRegistry,
  targets: TargetRegistry,
  plan: TargetPlan,
): Promise<DatabaseTarget> {
  const target = await openAnyTarget(providers, targets, plan);
  if (isIssuing(target))
    throw new RotatorError('UNSUPPORTED', `a ${plan.type} target issues its own credentials; it has no logins to set`, 'target');
  return target;
}

/** The issuing target of a plan; UNSUPPORTED naming the target when it is a database whose logins rotator sets. */
export async function openIssuingTarget(
  providers: ProviderRegistry,
  targets: TargetRegistry,
  plan: TargetPlan,
): Promise<IssuingTarget> {
  const target = await openAnyTarget(providers, targets, plan);
  if (!isIssuing(target))
    throw new RotatorError('UNSUPPORTED', `a ${plan.type} target does not issue credentials; use a password strategy`, 'target');
  return target;
}

export interface ConsumerRegistryDeps {
  /** The stores consumers read from when they notify (a webhook's signing key). */
  providers?: ProviderRegistry;
  /**
   * The worker's secrets, to resolve `secret://` references of consumer blocks that come from its config rather than
   * from a plan (a lease keeper's).
   */
  secrets?: Config['secrets'];
}

/** One consumer per distinct `consumers:` entry, and what they may read from the worker's stores. */
export class ConsumerRegistry implements ConsumerContext {
  private readonly consumers = new Cache<Consumer>();

  constructor(private readonly deps: ConsumerRegistryDeps = {}) {}

  async consumer(config: ConsumerConfig): Promise<Consumer> {
    const plugin = consumerPlugin(config);
    const { secrets } = this.deps;
    const resolved =
      plugin.resolve && secrets
        ? plugin.resolve(config, (uri, field) => resolveReference({ secrets } as Config, uri, field))
        : config;
    return this.consumers.get(JSON.stringify(resolved), () => plugin.create(resolved, this));
  }

  /**
   * Read when a consumer notifies, not cached: a rotated key is used from the next event on, and a notification is
   * rare enough that one store read each costs nothing. Errors name the reference, never the value.
   */
  async readSecret(ref: SecretReference): Promise<string> {
    const where = `${ref.provider}:${ref.path}`;
    if (!this.deps.providers) {
      throw new RotatorError('CONFIG_INVALID', `this worker was given no stores to read ${where} from`);
    }
    if (!ref.key) {
      throw new RotatorError('CONFIG_INVALID', `the reference to ${where} names no field; write secret://<name>/<key>`);
    }
    const current = await (await this.deps.providers.store(ref.provider)).readCurrent(ref.path);
    if (!current) throw new RotatorError('NOT_FOUND', `the secret at ${where} does not exist`);
    const value = current.value[ref.key];
    if (value === undefined || value === '') {
      throw new RotatorError('NOT_FOUND', `the secret at ${where} has no field ${JSON.stringify(ref.key)}`);
    }
    return String(value);
  }

  async close(): Promise<void> {
    await this.consumers.drain();
  }
}
