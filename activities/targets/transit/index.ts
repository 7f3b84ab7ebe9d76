// The `transit` key plugin: a key of OpenBao's (or Vault's) transit engine. rotator rotates it, rewraps the
// ciphertexts a store holds onto the new version, and raises min_decryption_version once none is left behind. The
// key is reached through a vault provider's address and login; its material never leaves OpenBao.
import { z } from 'zod';
import { name } from '../../../src/config/fields';
import type { KeyTargetPlugin } from '../../key-rotation';
import type { ConfigIssue } from '../../plugin';

const segment = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.-]*)*$/, {
  message: 'expected a path of letters, digits and _ . - segments (no leading or trailing /)',
});

export const schema = z
  .object({
    type: z.literal('transit'),
    /** A provider of type vault under `providers:`: the OpenBao (address, token or login) the key lives in. */
    provider: name,
    /** Where the transit engine is mounted. */
    mount: segment.default('transit'),
    /** The key's name in the engine. */
    name: segment,
  })
  .strict();

export type TransitConfig = z.infer<typeof schema>;

/** The vault provider type whose block reaches OpenBao (the only one this plugin can use). */
const VAULT = 'vault';

export const transit: KeyTargetPlugin<TransitConfig> = {
  schema,
  check(config, providers): ConfigIssue[] {
    const p = providers[config.provider];
    if (!p)
      return [
        {
          path: ['encryption_key', 'provider'],
          message: `unknown provider ${JSON.stringify(config.provider)}; declare it under providers:`,
        },
      ];
    if (p.type !== VAULT)
      return [
        {
          path: ['encryption_key', 'provider'],
          message: `the transit engine is reached through a provider of type ${VAULT}, not ${p.type}`,
        },
      ];
    return [];
  },
  preflight: async (config, providers) => (await import('./key')).preflight(config, providers),
  create: async (config, providers) => (await import('./key')).openTransitKey(config, providers),
};
