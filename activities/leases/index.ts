// One lease engine per configured vault provider, made on first use and closed with the worker.
import type { ProviderConfig } from '../../src/config/schema';
import { RotatorError } from '../../src/kernel/errors';
import type { LeaseEngine } from './types';

export class EngineRegistry {
  private readonly engines = new Map<string, Promise<LeaseEngine>>();
  private readonly sessions: Array<{ release(): void }> = [];

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
      engine = (async () => {
        const { VaultDatabaseEngine } = await import('./vault-database');
        const { vaultSession } = await import('../stores/vault/public');
        // The provider's token, or its login shared with its store and the worker's renewer.
        const session = vaultSession(config);
        try {
          await session.ready();
        } catch (err) {
          session.release();
          throw err;
        }
        this.sessions.push(session);
        return new VaultDatabaseEngine({
          address: config.address,
          token: session,
          ...(config.namespace ? { namespace: config.namespace } : {}),
        });
      })();
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
    for (const session of this.sessions.splice(0)) session.release();
  }
}
