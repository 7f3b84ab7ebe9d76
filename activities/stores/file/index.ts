// The `file` store plugin: the embedded local store, a folder per secret with versioned JSON files.
import { z } from 'zod';
import { stalePending } from '../../../src/config/fields';
import type { StorePlugin } from '../../plugin';
import type { StoreCapabilities } from '../../types';

export const schema = z
  .object({
    type: z.literal('file'),
    dir: z.string().min(1, { message: 'expected the directory that holds the store' }),
    stale_pending: stalePending,
  })
  .strict();

export const CAPABILITIES: StoreCapabilities = { writable: true, versions: true, checkAndSet: true };

export const file = {
  schema,
  capabilities: CAPABILITIES,
  checkVersion: (version) => (/^[1-9]\d{0,8}$/.test(version) ? null : 'expected a positive whole number (versions count from 1)'),
  builtIn: { type: 'file', dir: '${ROTATOR_FILE_STORE:-.rotator/store}' },
  preflight: async (config, path) => (await import('./preflight')).preflight(config, path),
  async create(config) {
    const { FileStore } = await import('./store');
    return new FileStore({ dir: config.dir, stalePending: config.stale_pending });
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
