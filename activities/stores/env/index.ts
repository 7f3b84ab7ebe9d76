// The `env` store plugin: read-only, for `secret://` references such as an admin credential in the environment.
import { z } from 'zod';
import type { StorePlugin } from '../../plugin';
import type { StoreCapabilities } from '../../types';

export const schema = z.object({ type: z.literal('env') }).strict();

export const CAPABILITIES: StoreCapabilities = { writable: false, versions: false, checkAndSet: false };

export const env = {
  schema,
  capabilities: CAPABILITIES,
  builtIn: { type: 'env' },
  async create() {
    const { EnvStore } = await import('./store');
    return new EnvStore(process.env);
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
