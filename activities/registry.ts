// Maps the config's provider names to store instances; adding a provider type touches this file and nothing else.
import { assertNever, RotatorError } from '../src/errors';
import type { ProviderConfig } from '../src/config/schema';
import type { AwsConnectionOptions } from './aws-common';
import { AwsParameterStore } from './aws-parameter-store';
import { AwsSecretsManagerStore } from './aws-secrets-manager';
import { EnvStore } from './env-store';
import { FileStore } from './file-store';
import type { DatabaseTarget, SecretStore } from './types';
import { VaultKvStore } from './vault-kv';

function awsConnectionOf(config: {
  region: string;
  endpoint?: string;
  access_key_id?: string;
  secret_access_key?: string;
}): AwsConnectionOptions {
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.access_key_id ? { accessKeyId: config.access_key_id } : {}),
    ...(config.secret_access_key ? { secretAccessKey: config.secret_access_key } : {}),
  };
}

export function createStore(config: ProviderConfig): SecretStore {
  switch (config.type) {
    case 'vault':
      return new VaultKvStore({
        address: config.address,
        token: config.token,
        pendingPrefix: config.pending_prefix,
        stalePending: config.stale_pending,
        ...(config.namespace ? { namespace: config.namespace } : {}),
      });
    case 'env':
      return new EnvStore(process.env);
    case 'aws-secrets-manager':
      return new AwsSecretsManagerStore({ ...awsConnectionOf(config), stalePending: config.stale_pending });
    case 'aws-parameter-store':
      return new AwsParameterStore({
        ...awsConnectionOf(config),
        stalePending: config.stale_pending,
        ...(config.kms_key_id ? { kmsKeyId: config.kms_key_id } : {}),
      });
    case 'file':
      return new FileStore({ dir: config.dir, stalePending: config.stale_pending });
    default:
      return assertNever(config);
  }
}

/** One store instance per configured provider, made on first use and shared by every activity of the worker. */
export class ProviderRegistry {
  private readonly stores = new Map<string, SecretStore>();

  constructor(private readonly providers: Readonly<Record<string, ProviderConfig>>) {}

  store(name: string): SecretStore {
    let store = this.stores.get(name);
    if (!store) {
      const config = this.providers[name];
      if (!config) {
        throw new RotatorError(
          'CONFIG_INVALID',
          `this worker has no provider named ${JSON.stringify(name)}; configure it under providers:`,
          'provider',
        );
      }
      store = createStore(config);
      this.stores.set(name, store);
    }
    return store;
  }

  async close(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.close()));
    this.stores.clear();
  }
}

/**
 * Targets, cached per secret's target block, and the database clients they share, cached per admin connection: 200
 * secrets on one PostgreSQL server use one pool, not 200 (which would exhaust max_connections).
 */
export class TargetRegistry {
  private readonly targets = new Map<string, DatabaseTarget>();
  private readonly clients = new Map<string, { client: unknown; close: () => Promise<void> }>();

  get(key: string, create: () => DatabaseTarget): DatabaseTarget {
    let target = this.targets.get(key);
    if (!target) {
      target = create();
      this.targets.set(key, target);
    }
    return target;
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
    await Promise.all([...this.targets.values()].map((t) => t.close()));
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.targets.clear();
    this.clients.clear();
  }
}
