// The `env` store plugin: read-only, for `secret://` references such as an admin credential in the environment.
import { z } from 'zod';
import type { StorePlugin } from '../../plugin';
import { l5 } from './l5';
import type { StoreCapabilities } from '../../types';

/** What an environment variable may be called (POSIX). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `field=VAR,field=VAR`: one variable per field of the value (the L5 spec's `variables:`). */
const FIELD_MAP = /^[A-Za-z0-9_.-]+=[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z0-9_.-]+=[A-Za-z_][A-Za-z0-9_]*)*$/;

export const schema = z
  .object({
    type: z.literal('env'),
    /** The value a variable has when it is unset or empty (the L5 spec's `default:`); kept out of paths and plans. */
    defaults: z
      .record(z.string().regex(ENV_NAME, { message: 'expected the name of an environment variable' }), z.string())
      .optional(),
  })
  .strict();

export const CAPABILITIES: StoreCapabilities = { writable: false, versions: false, checkAndSet: false };

export const env = {
  schema,
  secretFields: ['defaults.*'],
  capabilities: CAPABILITIES,
  l5,
  builtIn: { type: 'env' },
  checkPath(path) {
    if (!path.includes('=')) return null;
    return FIELD_MAP.test(path)
      ? null
      : 'expected field=VARIABLE pairs separated by commas, like username=DB_USER,password=DB_PASS';
  },
  async create(config) {
    const { EnvStore } = await import('./store');
    return new EnvStore(process.env, config.defaults);
  },
} satisfies StorePlugin<z.infer<typeof schema>>;
