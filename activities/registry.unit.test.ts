// A store built over another store from the registry (what transit and SOPS stores will do): the factory gets a
// builder that makes the inner store from a nested provider block, by the same plugin map. No server: the inner
// store is `env`, and the wrapping store below exists only in this test.
import { z } from 'zod';
import { ProviderRegistry, storeBuilder } from './registry';
import type { AnyStorePlugin, StorePlugin } from './plugin';
import { STORES } from './stores';
import type { SecretStore } from './types';

/** A test-only store over another one: reads `<prefix><path>` of its inner store, and marks the value it read. */
const wrapSchema = z
  .object({ type: z.literal('wrap'), prefix: z.string(), inner: z.object({ type: z.string() }).passthrough() })
  .strict();
const wrap = {
  schema: wrapSchema,
  capabilities: { writable: false, versions: false, checkAndSet: false },
  async create(config, stores) {
    const inner = await stores.build(config.inner, 'inner');
    return {
      capabilities: inner.capabilities,
      async readCurrent(path: string) {
        const got = await inner.readCurrent(`${config.prefix}${path}`);
        return got && { ...got, value: { ...got.value, wrapped: `${String(got.value.wrapped ?? '')}+` } };
      },
      close: () => inner.close(),
    } as unknown as SecretStore;
  },
} satisfies StorePlugin<z.infer<typeof wrapSchema>>;

const plugins: Record<string, AnyStorePlugin> = { ...STORES, wrap };
const envBlock = { type: 'env', defaults: { WRAPPED_DB_PASSWORD: 'from-the-inner-env-store' } };

describe('a store built over another store', () => {
  it('builds its inner store from a nested block by the registry, to any depth', async () => {
    const registry = new ProviderRegistry(
      {
        once: { type: 'wrap', prefix: 'WRAPPED_', inner: envBlock },
        twice: { type: 'wrap', prefix: 'WRAPPED_', inner: { type: 'wrap', prefix: '', inner: envBlock } },
      } as never,
      plugins,
    );
    const once = await (await registry.store('once')).readCurrent('DB_PASSWORD');
    expect(once?.value).toEqual({ value: 'from-the-inner-env-store', wrapped: '+' });
    const twice = await (await registry.store('twice')).readCurrent('DB_PASSWORD');
    expect(twice?.value).toEqual({ value: 'from-the-inner-env-store', wrapped: '++' });
    await registry.close();
  });

  it('refuses an inner block of an unknown type, or one its plugin’s schema refuses, naming the field', async () => {
    const builder = storeBuilder(plugins);
    await expect(builder.build({ type: 'wrap', prefix: '', inner: { type: 'nope' } }, 'providers.x')).rejects.toThrow(
      /^inner\.type: expected one of vault, env, .*wrap$/,
    );
    await expect(
      builder.build({ type: 'wrap', prefix: '', inner: { type: 'env', defaults: { '1BAD': 'a-secret-value' } } }, 'providers.x'),
    ).rejects.toThrow(/^inner: a env store: defaults\.1BAD: /);
    await expect(
      builder.build({ type: 'wrap', prefix: '', inner: { type: 'env', defaults: { '1BAD': 'a-secret-value' } } }, 'providers.x'),
    ).rejects.not.toThrow(/a-secret-value/);
  });
});
