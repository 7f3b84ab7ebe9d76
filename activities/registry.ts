// One worker's stores, targets and consumers, made from the plugin maps on first use and shared by its activities.
import type { ConsumerConfig, ProviderConfig } from '../src/config/schema';
import { RotatorError } from '../src/kernel/errors';
import type { TargetPlan } from '../src/kernel/plan';
import { consumerPlugin } from './consumers';
import type { SharedClients } from './plugin';
import { storePlugin } from './stores';
import { targetPlugin } from './targets';
import type { Consumer, DatabaseTarget, SecretStore, SecretValue } from './types';

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

/** One store instance per configured provider. */
export class ProviderRegistry {
  private readonly stores = new Cache<SecretStore>();

  constructor(private readonly providers: Readonly<Record<string, ProviderConfig>>) {}

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
    return this.stores.get(name, () => storePlugin(config).create(config));
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
  private readonly targets = new Cache<DatabaseTarget>();
  private readonly clients = new Map<string, { client: unknown; close: () => Promise<void> }>();

  /** `adminKey` names the admin credential and its version, so a rotated admin secret gets fresh clients. */
  target(plan: TargetPlan, admin: SecretValue, adminKey: string): Promise<DatabaseTarget> {
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
export async function openTarget(
  providers: ProviderRegistry,
  targets: TargetRegistry,
  plan: TargetPlan,
): Promise<DatabaseTarget> {
  const ref = plan.connection;
  const admin = await (await providers.store(ref.provider)).readCurrent(ref.path);
  if (!admin)
    throw new RotatorError('NOT_FOUND', `the secret at ${ref.provider}:${ref.path} does not exist`, 'target.connection');
  return targets.target(plan, admin.value, `${ref.provider}:${ref.path}@${admin.version}`);
}

/** One consumer per distinct `consumers:` entry. */
export class ConsumerRegistry {
  private readonly consumers = new Cache<Consumer>();

  consumer(config: ConsumerConfig): Promise<Consumer> {
    return this.consumers.get(JSON.stringify(config), () => consumerPlugin(config).create(config));
  }

  async close(): Promise<void> {
    await this.consumers.drain();
  }
}
