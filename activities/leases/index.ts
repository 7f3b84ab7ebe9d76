// One lease engine per provider whose store issues leases (its plugin's leaseEngine), made on first use and closed
// with the worker.
import type { AnyStorePlugin } from '../plugin';
import { storePlugin } from '../stores';
import type { ProviderConfig } from '../../src/config/schema';
import { RotatorError } from '../../src/kernel/errors';
import type { LeaseEngine } from './types';

export class EngineRegistry {
  private readonly engines = new Map<string, Promise<LeaseEngine>>();

  constructor(private readonly providers: Readonly<Record<string, ProviderConfig>>) {}

  engine(name: string): Promise<LeaseEngine> {
    const config = this.providers[name];
    const plugin = config ? (storePlugin(config) as AnyStorePlugin | undefined) : undefined;
    if (!config || !plugin?.leaseEngine) {
      return Promise.reject(
        new RotatorError(
          'CONFIG_INVALID',
          `provider ${JSON.stringify(name)} is not a provider whose store issues leases (a database engine)`,
          'provider',
        ),
      );
    }
    let engine = this.engines.get(name);
    if (!engine) {
      engine = plugin.leaseEngine(config);
      // A failed login is not kept: the next call logs in again.
      engine.catch(() => this.engines.delete(name));
      this.engines.set(name, engine);
    }
    return engine;
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.engines.values());
    this.engines.clear();
    await Promise.all(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.close()] : [])));
  }
}
