// The `vault` store plugin: Vault or OpenBao KV v2 (versions are history, check-and-set writes, custom metadata).
import { z } from 'zod';
import { duration, httpUrl, stalePending } from '../../../src/config/fields';
import { RotatorError } from '../../../src/kernel/errors';
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
    /** The L5 `renewal:` block for rotator's own token: the worker renews it at 2/3 of its TTL by `increment`. */
    renewal: z
      .object({ enabled: z.boolean().default(true), increment: duration.default(3_600_000) })
      .strict()
      .optional(),
  })
  .strict();

export interface KvPath {
  data: string;
  metadata: string;
  pendingData: string;
  pendingMetadata: string;
}

/** Accepts `secret/data/app/db` (as the HTTP API spells it) or `secret/app/db`. */
export function parseKvPath(path: string, pendingPrefix: string): KvPath {
  const parts = path.replace(/^\/+|\/+$/g, '').split('/');
  const mount = parts[0];
  const segments = parts[1] === 'data' ? parts.slice(2) : parts.slice(1);
  const rest = segments.join('/');
  if (!mount || !rest)
    throw new RotatorError('CONFIG_INVALID', `expected <mount>/data/<path>, got ${JSON.stringify(path)}`, 'path');
  // Vault resolves `..`, so such a path would read and write outside the secret it names.
  if ([mount, ...segments].some((seg) => seg === '' || seg === '.' || seg === '..'))
    throw new RotatorError(
      'CONFIG_INVALID',
      `expected plain path segments (no empty, . or ..), got ${JSON.stringify(path)}`,
      'path',
    );
  return {
    data: `${mount}/data/${rest}`,
    metadata: `${mount}/metadata/${rest}`,
    pendingData: `${mount}/data/${pendingPrefix}/${rest}`,
    pendingMetadata: `${mount}/metadata/${pendingPrefix}/${rest}`,
  };
}

export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export const vault = {
  schema,
  capabilities: CAPABILITIES,
  builtIn: { type: 'vault', address: '${VAULT_ADDR:-http://127.0.0.1:8200}', token: '${VAULT_TOKEN}' },
  checkPath(path) {
    try {
      parseKvPath(path, 'rotator-pending');
      return null;
    } catch (err) {
      return (err as Error).message.replace(/^path: /, '');
    }
  },
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
