// One lease engine per configured vault provider, made on first use and closed with the worker.
import type { ProviderConfig } from '../../src/config/schema';
import { RotatorError } from '../../src/kernel/errors';
import type { LeaseEngine } from './types';

export class EngineRegistry {
  private readonly engines = new Map<string, Promise<LeaseEngine>>();

  constructor(private readonly providers: Readonly<Record<string, ProviderConfig>>) {}

  engine(name: string): Promise<LeaseEngine> {
    const config = this.providers[name];
    if (config?.type !== 'vault') {
      return Promise.reject(
        new RotatorError(
          'CONFIG_INVALID',
          `provider ${JSON.stringify(name)} is not a vault provider with a database engine`,
          'provider',
        ),
      );
    }
    let engine = this.engines.get(name);
    if (!engine) {
      engine = import('./vault-database').then(
        ({ VaultDatabaseEngine }) =>
          new VaultDatabaseEngine({
            address: config.address,
            token: config.token,
            ...(config.namespace ? { namespace: config.namespace } : {}),
          }),
      );
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
