// The `vault` store plugin: Vault or OpenBao KV v2 (versions are history, check-and-set writes, custom metadata).
import { z } from 'zod';
import { httpUrl, stalePending } from '../../../src/config/fields';
import type { StorePlugin } from '../../plugin';
import type { StoreCapabilities } from '../../types';

export const schema = z
  .object({
    type: z.literal('vault'),
    address: httpUrl,
    token: z.string().min(1, { message: 'expected a token (use ${VAULT_TOKEN})' }),
    namespace: z.string().optional(),
    /** Where pending credentials wait before promotion; kept apart so readers of a secret never see one. */
    pending_prefix: z.string().default('rotator-pending'),
    stale_pending: stalePending,
  })
  .strict();

export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export const vault = {
  schema,
  capabilities: CAPABILITIES,
  builtIn: { type: 'vault', address: '${VAULT_ADDR:-http://127.0.0.1:8200}', token: '${VAULT_TOKEN}' },
  async create(config) {
    const { VaultKvStore } = await import('./store');
    return new VaultKvStore({
      address: config.address,
      token: config.token,
      pendingPrefix: config.pending_prefix,
      stalePending: config.stale_pending,
      ...(config.namespace ? { namespace: config.namespace } : {}),
    });
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
